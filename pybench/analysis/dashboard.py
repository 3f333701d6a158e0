"""A static HTML dashboard of a history directory (``pybench dashboard HISTORY -o SITE/``).

The site is self-contained -- inline CSS and JavaScript, one copy of plotly.js written
into it (``plotly.min.js``, from the plotly package, referenced by a relative
``<script src>``), no network, no CDN -- so it opens from disk or any static host:

- ``index.html``: a machine selector, the regressions list, the latest CPU vs GPU summary
  per family, and the suites;
- ``suite-<suite>.html``: per case, an interactive trend chart across commits per machine
  (:func:`_figure`): median time of each implementation with its p10-p90 band (top) and
  its time relative to the PyTorch baseline of the same run (bottom), detected steps
  marked; hover shows commit, date and values, a click opens the commit (``commit_url``).
  Each figure's JSON sits beside its ``<div>``, drawn when its machine is shown.

The charts were PNGs (matplotlib); they are now plotly figures, which cost milliseconds
each to write against matplotlib's ~0.3 s, and zoom, hover and link. ``build(png=True)``
(``pybench dashboard --png``) still draws the PNGs, linked under each chart, for viewers
that run no JavaScript (a CI artifact browser, an e-mail).

Commits are ordered by commit date (then recording time); a commit's value is the median of
its runs' medians. Step detection (:func:`detect_steps`) runs on the time relative to the
PyTorch baseline where there is one -- on a shared, noisy host it moves far less than raw
time -- else on raw time, like asv's regression detection.
"""
from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import jinja2
import markupsafe
import numpy as np
import pandas as pd
import ruptures

from pybench.results import store as history

__all__ = ["detect_steps", "Step", "build"]

BASELINE = "torch"
#: The site's copy of plotly.js, beside the pages.
PLOTLY_JS = "plotly.min.js"


# --- step detection ----------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """A change of level between positions ``index - 1`` and ``index`` of a series."""

    index: int
    before: float   # level (median) of the segment before
    after: float    # level of the segment from ``index`` on

    @property
    def ratio(self) -> float:
        return self.after / self.before


def detect_steps(values: Sequence[float], min_effect: float = 0.05,
                 penalty: float | None = None, min_size: int = 2) -> list[Step]:
    """Steps in a positive series (e.g. per-commit medians), found by optimal partitioning.

    Method: on log values with lone outliers clipped (each value to within
    3 x max(noise, log(1 + min_effect)) of its 5-point running median), choose the
    segmentation minimising the sum over segments of the squared deviation from the segment
    mean plus ``penalty`` per segment -- ruptures' exact PELT search in its C
    implementation (``KernelCPD``, linear kernel): ~2 ms for a 1000-commit series, so
    1000 series of 1000 commits take seconds, where the pure-Python L1 cost took 1.6 s a
    series. The default penalty is 2 x max(noise, log(1 + min_effect))^2 x ln(n), where
    noise is a robust estimate of one point's scatter (1.4826 x MAD of successive
    differences / sqrt 2): a step smaller than the noise or the minimum effect, or held
    for few commits, is not worth a segment. Adjacent segments whose
    levels differ by less than ``min_effect`` are merged; each remaining boundary is a Step.
    A level must hold for ``min_size`` points (commits) to count, so one noisy run -- an
    outlier, or the latest commit alone -- is not a step; the compare gate judges single
    runs.
    Assumes the series is piecewise constant plus noise, as asv does.
    """
    y = np.log(np.asarray(values, float))
    n = len(y)
    if n < 2 or not np.all(np.isfinite(y)):
        return []
    floor = math.log1p(min_effect)
    noise = 1.4826 * float(np.median(np.abs(np.diff(y)))) / math.sqrt(2) if n > 2 else floor
    scale = max(noise, floor)
    if penalty is None:
        penalty = 2 * scale ** 2 * math.log(n)
    if n < 2 * min_size:
        return []
    # Lone outliers clipped toward their neighbourhood: the squared cost would otherwise
    # spend a segment on one noisy run (the L1 cost absorbed them, at 1000x the time).
    pad = np.pad(y, 2, mode="edge")
    running = np.median(np.lib.stride_tricks.sliding_window_view(pad, 5), axis=1)
    clipped = np.clip(y, running - 3 * scale, running + 3 * scale)
    ends = ruptures.KernelCPD(kernel="linear", min_size=min_size, jump=1).fit(
        clipped.reshape(-1, 1)).predict(pen=penalty)
    bounds = list(zip([0, *ends[:-1]], ends))
    levels = [float(np.median(y[i:j])) for i, j in bounds]
    merged = [list(bounds[0])]
    for (i, j), level in zip(bounds[1:], levels[1:]):
        prev = float(np.median(y[merged[-1][0]:merged[-1][1]]))
        if abs(level - prev) < floor:
            merged[-1][1] = j
        else:
            merged.append([i, j])
    steps = []
    for (i0, j0), (i1, j1) in zip(merged, merged[1:]):
        steps.append(Step(int(i1), float(np.exp(np.median(y[i0:j0]))),
                          float(np.exp(np.median(y[i1:j1])))))
    return steps


# --- data ----------------------------------------------------------------------------------

def _frame(runs: list[history.Run]) -> pd.DataFrame:
    """Records of every run plus ``rel``: time relative to the baseline of the same run."""
    df = history.records_frame(runs)
    if df.empty:
        return df.assign(rel=pd.Series(dtype=float), order=pd.Series(dtype=int))
    base = df[df["implementation"] == BASELINE][["run", "suite", "case", "device", "median_s"]]
    base = base.rename(columns={"median_s": "baseline_s"})
    df = df.merge(base, on=["run", "suite", "case", "device"], how="left")
    df["rel"] = df["median_s"] / df["baseline_s"]
    df.loc[df["implementation"] == BASELINE, "rel"] = np.nan
    df["commit_date"] = df["commit_date"].fillna("")
    return df


def _commit_order(df: pd.DataFrame) -> list[str]:
    firsts = df.groupby("commit").agg(date=("commit_date", "min"), rec=("recorded_at", "min"))
    return list(firsts.sort_values(["date", "rec"]).index)


def _slug(text: str) -> str:
    # Names come from result files; no slug may be "." or "..", which would put a chart
    # outside the site directory.
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_.") or "x"


@dataclass
class Series:
    machine: str
    suite: str
    case: str
    name: str
    implementation: str
    device: str
    commits: list[str]
    time_s: list[float]
    lo_s: list[float]          # per commit, the p10 / p90 of the runs' samples: the spread
    hi_s: list[float]
    rel: list[float]           # NaN where there is no baseline
    steps: list[Step]
    on: str                    # "rel" or "time": what the steps were detected on
    dates: list[str] = field(default_factory=list)  # per commit, its commit date (day)


def _series(df: pd.DataFrame, min_effect: float) -> list[Series]:
    out = []
    for (machine, suite), part in df.groupby(["machine", "suite"], sort=True):
        commits = _commit_order(part)
        rank = {c: i for i, c in enumerate(commits)}
        for name, g in part.groupby("name", sort=True):
            per = g.groupby("commit").agg(t=("median_s", "median"), rel=("rel", "median"),
                                          lo=("p10_s", "min"), hi=("p90_s", "max"),
                                          date=("commit_date", "min"))
            per = per.loc[sorted(per.index, key=rank.get)]
            rel = per["rel"].tolist()
            use_rel = bool(np.isfinite(rel).all())
            values = rel if use_rel else per["t"].tolist()
            first = g.iloc[0]
            out.append(Series(machine, suite, first["case"], name, first["implementation"],
                              first["device"], list(per.index), per["t"].tolist(),
                              per["lo"].tolist(), per["hi"].tolist(), rel,
                              detect_steps(values, min_effect), "rel" if use_rel else "time",
                              [str(d)[:10] for d in per["date"]]))
    return out


def _regressions(series: list[Series], min_effect: float) -> list[dict[str, Any]]:
    """asv-style: a series whose latest level is more than min_effect above the best level
    before its last upward step, with the commit range where that step happened."""
    rows = []
    for s in series:
        if not s.steps or s.implementation == BASELINE:  # the reference: its moves are the host's
            continue
        values = s.rel if s.on == "rel" else s.time_s
        latest = s.steps[-1].after
        ups = [st for st in s.steps if st.ratio > 1 + min_effect]
        if not ups:
            continue
        step = ups[-1]
        best = min([st.before for st in s.steps if st.index <= step.index] + [step.before])
        if latest / best <= 1 + min_effect:
            continue
        rows.append({"machine": s.machine, "suite": s.suite, "benchmark": s.name,
                     "from": s.commits[step.index - 1], "to": s.commits[step.index],
                     "ratio": latest / best, "on": s.on, "latest": values[-1]})
    rows.sort(key=lambda r: -r["ratio"])
    return rows


def _family_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Latest run per (machine, suite): geomean GFLOP/s per family, implementation and device,
    and pybench's geomean speedup over the baseline."""
    if df.empty:
        return pd.DataFrame()
    latest = df.sort_values(["commit_date", "recorded_at"]).groupby(
        ["machine", "suite", "device"])["run"].last()
    cur = df[df["run"].isin(set(latest))].copy()
    cur["gflops"] = cur["flops"] / cur["median_s"] / 1e9
    rows = []
    for (machine, family), g in cur.groupby(["machine", "family"], sort=True):
        row: dict[str, Any] = {"machine": machine, "family": family,
                               "suite": ", ".join(sorted(g["suite"].unique())),
                               "cases": g["case"].nunique()}
        for device in ("cpu", "cuda"):
            d = g[g["device"] == device]
            for impl in ("pybench", BASELINE):
                v = d[d["implementation"] == impl]["gflops"].dropna()
                v = v[v > 0]
                row[f"{device} {impl} GFLOP/s"] = float(np.exp(np.log(v).mean())) if len(v) else None
            r = d["rel"].dropna()
            r = r[r > 0]
            row[f"{device} pybench speedup"] = float(np.exp(-np.log(r).mean())) if len(r) else None
        rows.append(row)
    return pd.DataFrame(rows)


# --- charts ----------------------------------------------------------------------------------

#: One colour per implementation, in every chart (matplotlib's tab10 order).
_COLORS = {BASELINE: "#1f77b4", "pybench": "#ff7f0e", "compile": "#2ca02c",
           "onnxruntime": "#d62728", "openvino": "#9467bd", "pybench-op": "#8c564b"}


#: Step marks: slower, faster (the pages' .bad / .good).
_SLOWER, _FASTER = "#bb0000", "#008800"


def _color(implementation: str) -> str:
    return _COLORS.get(implementation, "#7f7f7f")


def _commit_link(commit: str, url: str | None) -> str:
    text = html.escape(commit[:12])
    return f'<a href="{html.escape(url.format(commit))}">{text}</a>' if url else text


def _finite(values: Sequence[float], scale: float = 1.0) -> list[float | None]:
    """JSON-ready values: NaN / inf become null (a gap in the line), never ``NaN``."""
    return [v * scale if v is not None and math.isfinite(v) else None for v in values]


def _rgba(color: str, alpha: float) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _labels(commits: list[str]) -> list[str]:
    """Short commit hashes for the x axis: 7 characters, or 12 where 7 are ambiguous."""
    short = [c[:7] for c in commits]
    return short if len(set(short)) == len(short) else [c[:12] for c in commits]


def _figure(title: str, lines: list[Series], commit_url: str | None) -> dict[str, Any]:
    """One case's trend chart as a plotly.js figure (``{"data": [...], "layout": {...}}``).

    Top: median ms per commit of each implementation, its p10-p90 band (per commit, over
    the runs' samples) a filled area behind it; bottom (when there is a baseline): each
    implementation's time relative to the baseline of the same run. Dashed vertical lines
    mark the detected steps (red slower, green faster), on the series they were detected
    on. Hovering a point shows the commit, its date, the value and the band; clicking it
    opens the commit when ``commit_url`` is given (the page's script reads the URL, the
    last ``customdata`` field). Colours follow the implementation, the same in every chart.
    """
    commits = list(dict.fromkeys(c for s in lines for c in s.commits))
    label = dict(zip(commits, _labels(commits)))
    pos = {c: i for i, c in enumerate(commits)}
    rel_lines = [s for s in lines if s.on == "rel"]
    url = (lambda c: commit_url.format(c)) if commit_url else (lambda c: "")
    click = "<br><i>click: open the commit</i>" if commit_url else ""
    data: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []

    def step_marks(s: Series, axis: str) -> None:
        for st in s.steps:
            # the captions' red and green, darker than any implementation's colour
            color = _SLOWER if st.ratio > 1 else _FASTER
            x = pos[s.commits[st.index]] - 0.5
            shapes.append({"type": "line", "xref": f"x{axis}", "yref": f"y{axis} domain",
                           "x0": x, "x1": x, "y0": 0, "y1": 1,
                           "line": {"color": color, "dash": "dash", "width": 1.5}})
            if axis == "2" or not rel_lines:
                notes.append({"xref": f"x{axis}", "yref": f"y{axis} domain", "x": x, "y": 1,
                              "yanchor": "bottom", "showarrow": False,
                              "text": f"{s.implementation} {(st.ratio - 1) * 100:+.0f}%",
                              "font": {"size": 11, "color": color}})

    for s in lines:
        color = _color(s.implementation)
        name = f"{s.implementation or s.name.split('/')[-1]} ({s.device})"
        xs = [label[c] for c in s.commits]
        lo, hi = _finite(s.lo_s, 1e3), _finite(s.hi_s, 1e3)
        band = [(x, l, h) for x, l, h in zip(xs, lo, hi) if l is not None and h is not None]
        if band:  # a closed polygon: p90 left to right, then p10 back
            data.append({"type": "scatter", "mode": "lines", "name": f"{name} p10-p90",
                         "legendgroup": name, "showlegend": False, "hoverinfo": "skip",
                         "x": [b[0] for b in band] + [b[0] for b in reversed(band)],
                         "y": [b[2] for b in band] + [b[1] for b in reversed(band)],
                         "fill": "toself", "fillcolor": _rgba(color, 0.18),
                         "line": {"width": 0, "color": _rgba(color, 0.18)},
                         "xaxis": "x", "yaxis": "y"})
        data.append({"type": "scatter", "mode": "lines+markers", "name": name,
                     "legendgroup": name, "x": xs, "y": _finite(s.time_s, 1e3),
                     "line": {"color": color, "width": 2}, "marker": {"size": 6},
                     "customdata": [[c[:12], s.dates[i] if i < len(s.dates) else "", l, h, url(c)]
                                    for i, (c, l, h) in enumerate(zip(s.commits, lo, hi))],
                     "hovertemplate": "<b>%{customdata[0]}</b> %{customdata[1]}<br>"
                                      "%{fullData.name}: %{y:.4g} ms<br>"
                                      "p10-p90: %{customdata[2]:.4g} - %{customdata[3]:.4g} ms"
                                      + click + "<extra></extra>",
                     "xaxis": "x", "yaxis": "y"})
        if s.on == "time":
            step_marks(s, "")
    for s in rel_lines:
        name = f"{s.implementation} / {BASELINE} ({s.device})"
        data.append({"type": "scatter", "mode": "lines+markers", "name": name,
                     "x": [label[c] for c in s.commits], "y": _finite(s.rel),
                     "line": {"color": _color(s.implementation), "width": 2, "dash": "dot"},
                     "marker": {"size": 6, "symbol": "diamond"},
                     "customdata": [[c[:12], s.dates[i] if i < len(s.dates) else "", url(c)]
                                    for i, c in enumerate(s.commits)],
                     "hovertemplate": "<b>%{customdata[0]}</b> %{customdata[1]}<br>"
                                      "%{fullData.name}: %{y:.3f}" + click + "<extra></extra>",
                     "xaxis": "x2", "yaxis": "y2"})
        step_marks(s, "2")
    axis = {"type": "category", "categoryorder": "array", "categoryarray": list(label.values()),
            "tickangle": -45, "tickfont": {"size": 11}, "gridcolor": "#e6e6e6",
            "automargin": True}
    layout: dict[str, Any] = {
        "title": {"text": title, "font": {"size": 15}, "x": 0.01, "xanchor": "left",
                  "y": 0.985, "yanchor": "top"},
        "height": 560 if rel_lines else 380, "autosize": True,
        "margin": {"l": 70, "r": 20, "t": 90, "b": 60},
        # Under the title, above the plot, in the figure's own pixels: never over a line.
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "yref": "container",
                   "y": 1 - 34 / (560 if rel_lines else 380), "yanchor": "top",
                   "font": {"size": 12}},
        "hovermode": "closest", "plot_bgcolor": "white", "paper_bgcolor": "white",
        "xaxis": {**axis, "showticklabels": not rel_lines,
                  **({"anchor": "y"} if not rel_lines else {"anchor": "y", "matches": "x2"})},
        "yaxis": {"title": {"text": "median ms (band: p10-p90)"}, "rangemode": "tozero",
                  "gridcolor": "#e6e6e6", "domain": [0.42, 1.0] if rel_lines else [0, 1],
                  "automargin": True},
        "shapes": shapes, "annotations": notes,
    }
    if rel_lines:
        layout["xaxis2"] = {**axis, "anchor": "y2"}
        layout["yaxis2"] = {"title": {"text": f"time / {BASELINE}"}, "domain": [0, 0.32],
                            "gridcolor": "#e6e6e6", "automargin": True}
    return {"data": data, "layout": layout}


def _json_in_html(value: Any) -> str:
    """JSON safe inside a ``<script type="application/json">`` element: no ``<``, ``>``
    or ``&`` that HTML could read (they are JSON ``\\u`` escapes, equal after parsing)."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _png_chart(path: Path, title: str, lines: list[Series]) -> None:
    """The chart as a static PNG (matplotlib), for ``--png``: the same content as
    :func:`_figure`, for viewers that run no JavaScript."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    commits = list(dict.fromkeys(c for s in lines for c in s.commits))
    x = {c: i for i, c in enumerate(commits)}
    rel_lines = [s for s in lines if s.on == "rel"]
    # Sized to be read at 100% on a laptop (was 512 x 288 px, legends unreadable); the
    # legend outside the axes so it never hides a line; the p10-p90 band of each commit's
    # samples shows what a move must exceed to mean anything. Colours follow the
    # implementation, the same in every chart.
    fig, axes = plt.subplots(2 if rel_lines else 1, 1, figsize=(10, 5.6 if rel_lines else 3.4),
                             sharex=True, squeeze=False)
    ax = axes[0][0]
    for s in lines:
        xs = [x[c] for c in s.commits]
        color = _color(s.implementation)
        ax.fill_between(xs, [t * 1e3 for t in s.lo_s], [t * 1e3 for t in s.hi_s], color=color,
                        alpha=0.15, lw=0)
        ax.plot(xs, [t * 1e3 for t in s.time_s], marker="o", ms=3, color=color,
                label=f"{s.implementation or s.name.split('/')[-1]} ({s.device})")
        if s.on == "time":
            for st in s.steps:
                ax.axvline(x[s.commits[st.index]] - 0.5, color="red" if st.ratio > 1 else "green",
                           ls="--", lw=1)
    ax.set_ylabel("median ms (band: p10-p90)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    if rel_lines:
        ax2 = axes[1][0]
        for s in rel_lines:
            ax2.plot([x[c] for c in s.commits], s.rel, marker="o", ms=3,
                     color=_color(s.implementation), label=f"{s.implementation} / {BASELINE}")
            for st in s.steps:
                ax2.axvline(x[s.commits[st.index]] - 0.5,
                            color="red" if st.ratio > 1 else "green", ls="--", lw=1)
                ax2.annotate(f"{(st.ratio - 1) * 100:+.0f}%", (x[s.commits[st.index]] - 0.5,
                             st.after), fontsize=7, color="red" if st.ratio > 1 else "green")
        ax2.set_ylabel(f"time / {BASELINE}")
        ax2.grid(alpha=0.3)
        ax2.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    bottom = axes[-1][0]
    bottom.set_xticks(range(len(commits)))
    bottom.set_xticklabels([c[:7] for c in commits], rotation=45, fontsize=8, ha="right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --- pages -----------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1400px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}h3{font-size:1em}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:3px 7px}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#b00;font-weight:600}.good{color:#080;font-weight:600}.muted{color:#777}
.charts{display:flex;flex-direction:column;gap:14px}
.chart{border:1px solid #ddd;padding:4px;max-width:1300px}.chart img{display:block}
.plot{width:100%}.png{font-size:.85em}nav a{margin-right:1em}
"""

_JS = """
(function(){
  var errors = [];
  window.addEventListener('error', function(e){ errors.push(String(e.message)); });
  function machineFromHash(){
    var m = /(?:^#|&)m=([^&]*)/.exec(location.hash); return m ? decodeURIComponent(m[1]) : null;
  }
  function select(m){
    var sel = document.getElementById('machine');
    if (!sel) return;
    var ok = Array.prototype.some.call(sel.options, function(o){ return o.value === m; });
    if (!ok) m = sel.options.length ? sel.options[0].value : '';
    sel.value = m;
    document.querySelectorAll('[data-machine]').forEach(function(e){
      e.hidden = e.getAttribute('data-machine') !== m; });
    document.querySelectorAll('a.keep').forEach(function(a){
      a.hash = 'm=' + encodeURIComponent(m); });
    document.body.setAttribute('data-selected-machine', m);
  }
  // The charts: plotly.js figures (JSON beside each div), drawn once their machine is
  // shown (a hidden div has no size to lay out in). Clicking a point opens its commit when
  // the site was built with --commit-url (the URL is the point's last customdata field).
  var drawing = [];
  function draw(){
    if (typeof Plotly === 'undefined') return;
    document.querySelectorAll('div.plot').forEach(function(div){
      if (div.hasAttribute('data-rendered') || div.closest('[hidden]') !== null) return;
      div.setAttribute('data-rendered', 'pending');
      var fig = JSON.parse(document.getElementById(div.id + '-data').textContent);
      drawing.push(Plotly.newPlot(div, fig.data, fig.layout,
          {responsive: true, displaylogo: false, modeBarButtonsToRemove: ['lasso2d', 'select2d']}
        ).then(function(){
          div.setAttribute('data-rendered', '1');
          div.on('plotly_click', function(ev){
            var p = ev.points && ev.points[0], cd = p && p.customdata;
            var url = cd && cd[cd.length - 1];
            if (url) window.open(url, '_blank', 'noopener');
          });
        }));
    });
  }
  document.addEventListener('DOMContentLoaded', function(){
    var sel = document.getElementById('machine');
    if (sel) sel.addEventListener('change', function(){
      history.replaceState(null, '', '#m=' + encodeURIComponent(sel.value));
      select(sel.value); draw(); });
    select(machineFromHash());
    draw();
  });
  window.addEventListener('load', function(){
    Promise.all(drawing).catch(function(e){ errors.push(String(e)); }).then(function(){
      var plots = Array.prototype.slice.call(document.querySelectorAll('div.plot'));
      var shown = plots.filter(function(d){ return d.closest('[hidden]') === null; });
      var drawn = shown.filter(function(d){
        return d.getAttribute('data-rendered') === '1' && d.querySelector('svg.main-svg'); });
      document.body.setAttribute('data-charts', String(shown.length));
      document.body.setAttribute('data-charts-loaded', String(drawn.length));
      document.body.setAttribute('data-js-errors', String(errors.length));
      document.body.setAttribute('data-status', 'ready');
    });
  });
})();
"""


# Autoescaped: machine names and titles come from result files.
_PAGE = jinja2.Environment(autoescape=True).from_string(
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>{{ title }}</title><style>{{ css }}</style>"
    "{% if plotly %}<script src=\"{{ plotly }}\"></script>{% endif %}"
    "<script>{{ js }}</script></head>\n<body>\n<h1>{{ title }}</h1>\n"
    "<nav>{{ nav }}</nav>\n<p><label>Machine: <select id=\"machine\">"
    "{% for m in machines %}<option value=\"{{ m }}\">{{ m }}</option>{% endfor %}"
    "</select></label></p>\n{{ body }}\n</body></html>\n")


def _page(title: str, machines: list[str], body: str, nav: str, plotly: str = "") -> str:
    # body and nav are HTML this module built (escaping as it went); CSS and JS are ours.
    # ``plotly``: the relative path of the site's plotly.js bundle, on pages with charts.
    return _PAGE.render(title=title, machines=machines, css=markupsafe.Markup(_CSS),
                        js=markupsafe.Markup(_JS), nav=markupsafe.Markup(nav),
                        body=markupsafe.Markup(body), plotly=plotly)


def _table(frame: pd.DataFrame, fmt: dict[str, Any] | None = None, cls: str = "") -> str:
    fmt = fmt or {}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for _, r in frame.iterrows():
        cells = []
        for c in frame.columns:
            v = r[c]
            if c in fmt:
                text = fmt[c](v)
            elif v is None or (isinstance(v, float) and not math.isfinite(v)):
                text = "-"
            else:
                text = html.escape(str(v))
            num = isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
            cells.append(f"<td{' class=num' if num else ''}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table class=\"{cls}\"><tr>{head}</tr>{''.join(rows)}</table>"


def build(history_dir: str | Path, out_dir: str | Path, *, min_effect: float = 0.05,
          title: str = "pybench dashboard", commit_url: str | None = None,
          png: bool = False) -> Path:
    """Write the site for every run under ``history_dir``; returns the index page.

    ``commit_url``: a template with ``{}`` for the full commit hash (e.g.
    ``https://github.com/ORG/pybench/commit/{}``): commits in the regressions table, under
    the charts and in the charts (click a point) become links. ``png``: also draw every
    chart as a PNG (matplotlib), linked under the interactive one."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from plotly.offline import get_plotlyjs
    # The one copy of the bundle, referenced by every page with charts: the site works
    # offline and from file://, and no page names a CDN.
    (out / PLOTLY_JS).write_text(get_plotlyjs(), encoding="utf-8")
    runs = history.load(history_dir)
    df = _frame(runs)
    machines = sorted(df["machine"].unique()) if len(df) else []
    suites = sorted(df["suite"].unique()) if len(df) else []
    series = _series(df, min_effect) if len(df) else []
    regressions = _regressions(series, min_effect)

    def suite_link(s: str) -> str:
        return f'<a class="keep" href="suite-{_slug(s)}.html">{html.escape(s)}</a>'
    nav = '<a class="keep" href="index.html">overview</a>' + "".join(map(suite_link, suites))

    # one chart per (machine, suite, case): every implementation of the case in it
    charts: dict[tuple[str, str], list[str]] = {}
    by_case: dict[tuple[str, str, str], list[Series]] = {}
    for s in series:
        by_case.setdefault((s.machine, s.suite, s.case), []).append(s)
    for n, ((machine, suite, case), lines) in enumerate(sorted(by_case.items())):
        title_text = f"{suite} / {case}"
        image = ""
        if png:
            rel = Path("charts") / _slug(machine) / _slug(suite) / f"{_slug(case)}.png"
            _png_chart(out / rel, title_text, lines)
            image = f' <a class="png" href="{rel.as_posix()}">PNG</a>'
        marks = [f'<span class="{"bad" if st.ratio > 1 else "good"}">'
                 f"{html.escape(s.implementation)}: {(st.ratio - 1) * 100:+.1f}% at "
                 f"{_commit_link(s.commits[st.index], commit_url)}</span>"
                 for s in lines for st in s.steps]
        caption = html.escape(case) + (" " + "; ".join(marks) if marks else "") + image
        fig = _figure(title_text, lines, commit_url)
        charts.setdefault((machine, suite), []).append(
            f'<div class="chart"><div class="plot" id="chart-{n}" '
            f'style="height:{fig["layout"]["height"]}px" role="img" '
            f'aria-label="trend of {html.escape(title_text)}"></div>'
            f'<script type="application/json" id="chart-{n}-data">{_json_in_html(fig)}</script>'
            f"<div>{caption}</div></div>")

    for suite in suites:
        body = []
        for machine in machines:
            items = charts.get((machine, suite))
            content = (f'<div class="charts">{"".join(items)}</div>' if items else
                       '<p class="muted">no runs of this suite on this machine</p>')
            body.append(f'<section data-machine="{html.escape(machine)}">'
                        f"<h2>{html.escape(suite)} on {html.escape(machine)}</h2>{content}"
                        "</section>")
        (out / f"suite-{_slug(suite)}.html").write_text(
            _page(f"{title}: {suite}", machines, "\n".join(body), nav, plotly=PLOTLY_JS))

    family = _family_summary(df)
    body = []
    for machine in machines:
        fp = next((r.fingerprint for r in reversed(runs) if r.machine == machine
                   and r.fingerprint), {})
        mruns = [r for r in runs if r.machine == machine]
        desc = ", ".join(f"{k}: {fp.get(k)}" for k in ("cpu_model", "cpu_count", "gpu") if fp)
        reg = [r for r in regressions if r["machine"] == machine]
        if reg:
            rframe = pd.DataFrame(reg)[["suite", "benchmark", "from", "to", "ratio", "on"]]
            rframe["on"] = rframe["on"].map({"rel": f"time / {BASELINE}", "time": "time"})
            reg_html = _table(rframe, {"ratio": lambda v: f'<span class="bad">{v:.3f}x</span>',
                                       "from": lambda v: _commit_link(v, commit_url),
                                       "to": lambda v: _commit_link(v, commit_url)},
                              "regressions")
        else:
            reg_html = '<p class="no-regressions">No regressions detected.</p>'
        fam = family[family["machine"] == machine].drop(columns="machine") if len(family) \
            else pd.DataFrame()
        if len(fam):
            if fam[[c for c in fam.columns if c.startswith("cuda")]].isna().all().all():
                fam = fam[[c for c in fam.columns if not c.startswith("cuda")]]
                gpu_note = ('<p class="muted">No GPU results on this machine: the CUDA '
                            "columns are left out, never estimated.</p>")
            else:
                gpu_note = ""
            num = {c: (lambda v: "-" if v is None or not math.isfinite(v) else f"{v:.2f}")
                   for c in fam.columns if "GFLOP/s" in c or "speedup" in c}
            fam_html = _table(fam, num, "families") + gpu_note
        else:
            fam_html = '<p class="muted">no results</p>'
        suites_rows = pd.DataFrame(
            [{"suite": s, "runs": sum(1 for r in mruns if r.suite == s),
              "commits": len({r.commit for r in mruns if r.suite == s})}
             for s in suites if any(r.suite == s for r in mruns)])
        suites_html = _table(suites_rows, {"suite": suite_link}) if len(suites_rows) else ""
        body.append(
            f'<section data-machine="{html.escape(machine)}">'
            f"<p class=\"muted\">{html.escape(desc)}; {len(mruns)} runs, "
            f"{len({r.commit for r in mruns})} commits</p>"
            f'<h2 id="regressions">Regressions</h2>{reg_html}'
            f"<h2>Latest CPU vs GPU, per family</h2>{fam_html}"
            f"<h2>Suites</h2>{suites_html}</section>")
    if not machines:
        body.append("<p>The history is empty.</p>")
    index = out / "index.html"
    index.write_text(_page(title, machines, "\n".join(body), nav))
    (out / "regressions.json").write_text(json.dumps(regressions, indent=1) + "\n")
    return index
