"""Reports of a cnn result file: CSV, Markdown and a self-contained HTML page with plots.

Everything is computed with pandas from :func:`pybench.results.load` (one row per case x
repetition) and the per-layer breakdown; plots are matplotlib PNGs embedded in the HTML as
base64 ``data:`` URIs (no CDN, no script, opens offline). Tables:

- **summary**: model x backend rows; per device and batch images/s (median), latency ms
  (median time of one call at the smallest batch), speedup over torch eager, % of the
  measured FP32 peak, and the GPU / CPU throughput ratio. A device not measured says so
  ("no CUDA device"); a failed case says FAILED; a CV over 10% is flagged with a dagger.
- **families**: per family, device and backend, the geometric mean over its models and
  batches of the speedup over torch (and per batch).
- **layers**: per model, time per layer type for each backend (which layers dominate, which
  ran as pybench and which as PyTorch), and per distinct conv shape its GFLOP/s, arithmetic
  intensity and distance from the roofline min(peak, intensity x bandwidth).
"""
from __future__ import annotations

import base64
import io
import math
import textwrap
from pathlib import Path
from typing import Any, Mapping

import jinja2
import markupsafe
import numpy as np
import pandas as pd

from pybench import allocator, harness, noise, results
from pybench.results import schema

__all__ = ["Tables", "build", "write", "console_summary", "NO_CUDA"]

NO_CUDA = "no CUDA device"
FAILED = "FAILED"
DAGGER = "†"
DEVICES = ("cpu", "cuda")
_DEVICE_LABEL = {"cpu": "CPU", "cuda": "GPU"}


class Tables:
    """Every table of one result file (numeric frames; formatting happens on output)."""

    def __init__(self, path: str | Path | Mapping[str, Any]):
        self.doc = results.read(path)
        self.extra = self.doc["context"]["pybench"]
        if self.extra.get("suite") != "cnn":
            raise ValueError(f"a {self.extra.get('suite')!r} result: this report is the cnn "
                             f"suite's (pybench.analysis.kernel_report writes the others')")
        self.frame = results.load(self.doc)
        self.cases = results.cases(self.frame)
        self.layers = results.layers(self.doc)
        self.peak = results.peak(self.doc)
        self.roofs = harness.peak_flops(self.peak)
        self.bandwidth = {"cpu": self.peak.get("triad_bytes_per_s")}
        cuda = self.peak.get("cuda")
        if isinstance(cuda, Mapping):
            self.bandwidth["cuda"] = cuda.get("copy_bytes_per_s")
        devices = self.extra.get("devices") or sorted(set(self.frame.device))
        self.devices = list(devices)
        self.batches = sorted(set(self.extra.get("batches") or self.frame.batch.unique()))
        self.backends = list(self.extra.get("backends") or self.frame.backend.unique())
        ok = self.cases[self.cases.status == "ok"]
        self.ok = ok.assign(pct_peak=[
            100 * g * 1e9 / self.roofs[d] if d in self.roofs else np.nan
            for g, d in zip(ok.gflops_per_s, ok.device)])

    # --- tables ---------------------------------------------------------------------------

    def _models(self) -> list[tuple[str, str]]:
        """(family, model) in the registry's order (the run's order), unknown ones last."""
        from pybench import models
        order = {name: i for i, name in enumerate(models.names())}
        seen = dict.fromkeys(zip(self.cases.family, self.cases.model))
        return sorted(seen, key=lambda fm: order.get(fm[1], len(order)))

    def compile_times(self) -> pd.DataFrame:
        """Per model, device and batch: the compile backend's first call (compilation
        included) and torch eager's, in seconds; empty without a compile backend."""
        c = self.cases
        if "first_call_s" not in c or not (c.backend == "compile").any():
            return pd.DataFrame()
        keys = ["model", "device", "batch"]
        comp = c[c.backend == "compile"][keys + ["first_call_s"]].rename(
            columns={"first_call_s": "compile first call s"})
        eager = c[c.backend == harness.BASELINE][keys + ["first_call_s"]].rename(
            columns={"first_call_s": "torch first call s"})
        return comp.merge(eager, on=keys, how="left").reset_index(drop=True)

    def summary(self, ran_only: bool = False) -> pd.DataFrame:
        """Display table (strings): one row per model x backend. The report files keep a
        column for every device, saying why one did not run; ``ran_only`` (the terminal)
        drops those columns, and GPU÷CPU unless both ran."""
        rows = []
        devices = [d for d in DEVICES if d in self.devices] if ran_only else DEVICES
        ratio = not ran_only or {"cpu", "cuda"} <= set(self.devices)
        small, large = min(self.batches), max(self.batches)
        status = {(r.device, r.model, r.batch, r.backend): r
                  for r in self.cases.itertuples(index=False)}
        for family, model in self._models():
            for backend in self.backends:
                row: dict[str, Any] = {"family": family, "model": model, "backend": backend}
                for device in devices:
                    dl = _DEVICE_LABEL[device]
                    measured = device in self.devices

                    def cell(batch, fmt):
                        if not measured:
                            return NO_CUDA if device == "cuda" else "not run"
                        r = status.get((device, model, batch, backend))
                        if r is None:
                            return "-"
                        if r.status != "ok":
                            return FAILED if r.status == "failed" else r.status
                        return fmt(r)

                    for b in self.batches:
                        row[f"{dl} img/s b{b}"] = cell(
                            b, lambda r: f"{r.images_per_s:,.1f}" + (DAGGER if r.cv_flag else ""))
                    row[f"{dl} latency ms b{small}"] = cell(small, lambda r: f"{r.median_s * 1e3:.3f}")
                    for b in self.batches:
                        row[f"{dl} vs torch b{b}"] = cell(
                            b, lambda r: "-" if pd.isna(r.speedup) else f"{r.speedup:.2f}x")
                    row[f"{dl} % peak b{large}"] = cell(
                        large, lambda r: f"{100 * r.gflops_per_s * 1e9 / self.roofs[device]:.1f}"
                        if device in self.roofs else "-")
                for b in self.batches if ratio else ():
                    if "cuda" not in self.devices:
                        row[f"GPU÷CPU b{b}"] = NO_CUDA
                    elif "cpu" not in self.devices:
                        row[f"GPU÷CPU b{b}"] = "no CPU run"
                    else:
                        g, c = status.get(("cuda", model, b, backend)), status.get(("cpu", model, b, backend))
                        ok = g is not None and c is not None and g.status == c.status == "ok"
                        row[f"GPU÷CPU b{b}"] = (f"{g.images_per_s / c.images_per_s:.1f}x" if ok
                                                else "-")
                rows.append(row)
        return pd.DataFrame(rows)

    def families(self) -> pd.DataFrame:
        """Geometric-mean speedup over torch per family x device x backend (numeric)."""
        ok = self.ok[self.ok.speedup.notna() & (self.ok.backend != harness.BASELINE)]
        rows = []
        families = list(dict.fromkeys(f for f, _ in self._models()))
        groups = [(f, ok[ok.family == f]) for f in families if (ok.family == f).any()]
        groups.append(("all", ok))
        for family, sub in groups:
            for (device, backend), g in sub.groupby(["device", "backend"], sort=False):
                row = {"family": family, "device": device, "backend": backend,
                       "models": g.model.nunique(), "cases": len(g),
                       "geomean speedup": _geomean(g.speedup)}
                for b in self.batches:
                    gb = g[g.batch == b]
                    row[f"geomean b{b}"] = _geomean(gb.speedup) if len(gb) else np.nan
                rows.append(row)
        return pd.DataFrame(rows)

    def layer_types(self) -> pd.DataFrame:
        """Per model x device x layer type: ms per backend, share of the model's time, and
        where each ran (pybench kernel or PyTorch)."""
        lay = self.layers
        if lay.empty:
            return pd.DataFrame()
        g = lay.groupby(["model", "batch", "device", "type", "backend"], sort=False).agg(
            time_s=("time_s", "sum"), layers=("layer", "size"),
            runs_as=("runs_as", lambda s: "/".join(sorted(set(s)))))
        wide = g.unstack("backend")
        out = pd.DataFrame(index=wide.index)
        totals = lay.groupby(["model", "batch", "device", "backend"])["time_s"].sum()
        for backend in [b for b in ("torch", "pybench") if b in lay.backend.unique()]:
            t = wide[("time_s", backend)]
            out[f"{backend} ms"] = t * 1e3
            tot = [totals.get((m, b, d, backend), np.nan) for m, b, d, _ in wide.index]
            out[f"{backend} %"] = 100 * t / np.array(tot, dtype=float)
            out[f"{backend} runs as"] = wide[("runs_as", backend)]
            out[f"{backend} layers"] = wide[("layers", backend)].astype("Int64")
        out = out.reset_index()
        key = "torch ms" if "torch ms" in out else out.columns[4]
        return out.sort_values(["model", key], ascending=[True, False], kind="stable",
                               key=lambda s: s.map(self._model_order()) if s.name == "model" else s)

    def _model_order(self) -> dict[str, int]:
        return {m: i for i, (_, m) in enumerate(self._models())}

    def conv_shapes(self) -> pd.DataFrame:
        """Per model x distinct conv geometry x backend: calls, time, GFLOP/s, FLOP/byte,
        the roofline min(peak, intensity x bandwidth) and % of it."""
        lay = self.layers
        if lay.empty:
            return pd.DataFrame()
        conv = lay[lay.conv.notna()]
        if conv.empty:
            return pd.DataFrame()
        g = conv.groupby(["model", "batch", "device", "backend", "conv"], sort=False).agg(
            name=("conv_name", "first"), layer=("layer", "first"), calls=("calls", "sum"),
            time_s=("time_s", "sum"), flops=("flops", "sum"), bytes=("bytes", "sum"),
            runs_as=("runs_as", "first")).reset_index()
        g["name"] = g["name"].fillna("")
        g["GFLOP/s"] = g.flops / g.time_s / 1e9
        g["FLOP/byte"] = g.flops / g.bytes
        roof = [min(self.roofs.get(d, np.nan), ai * (self.bandwidth.get(d) or np.nan))
                for d, ai in zip(g.device, g["FLOP/byte"])]
        g["roof GFLOP/s"] = np.array(roof, dtype=float) / 1e9
        g["% of roof"] = 100 * g["GFLOP/s"] / g["roof GFLOP/s"]
        totals = lay.groupby(["model", "batch", "device", "backend"])["time_s"].sum()
        g["% of model"] = 100 * g.time_s / np.array(
            [totals[(m, b, d, k)] for m, b, d, k in zip(g.model, g.batch, g.device, g.backend)])
        return g.sort_values("time_s", ascending=False, kind="stable").reset_index(drop=True)

    def failures(self) -> pd.DataFrame:
        bad = self.cases[self.cases.status != "ok"]
        return bad[["device", "model", "batch", "backend", "status", "error"]].reset_index(drop=True)

    def flagged(self) -> pd.DataFrame:
        f = self.ok[self.ok.cv_flag]
        return f[["device", "model", "batch", "backend", "cv", "repetitions"]].reset_index(drop=True)

    def headline(self) -> list[str]:
        fp = self.extra.get("fingerprint", {})
        pk = self.peak
        lines = [f"suite cnn, {len(self.extra.get('models', []))} models, batches "
                 f"{', '.join(map(str, self.batches))}, backends {', '.join(self.backends)}, "
                 f"devices {', '.join(self.devices)}",
                 f"CPU {fp.get('cpu_model', '?')}, ISA {fp.get('cpu_isa_in_use', '?')}, "
                 f"{self.extra.get('threads')} threads; torch {fp.get('torch', '?')}, "
                 f"oneDNN {fp.get('onednn') or '-'}; GPU: {fp.get('gpu', NO_CUDA)}"]
        if pk:
            lines.append(f"measured roofline: FP32 FMA {pk.get('fma_flops', 0) / 1e9:.1f} GFLOP/s "
                         f"({pk.get('threads')} threads), STREAM triad "
                         f"{pk.get('triad_bytes_per_s', 0) / 1e9:.1f} GB/s; CUDA: "
                         f"{pk['cuda'] if isinstance(pk.get('cuda'), str) else 'measured'}")
        over = self.ok.pct_peak.max() if not self.ok.empty else np.nan
        if over > 100:
            top = self.ok.loc[self.ok.pct_peak.idxmax()]
            if top.backend == "pybench":
                # Every backend is credited the direct convolution's FLOPs; Winograd
                # F(4x4, 3x3) layers multiply 4x less for them.
                lines.append(f"note: {top.model} (pybench) reached {over:.0f}% of the measured "
                             f"FMA peak in useful FLOPs: its Winograd layers execute fewer "
                             f"multiplications than the direct convolution's count that "
                             f"'% peak' credits every backend")
            else:
                lines.append(f"WARNING: a case reached {over:.0f}% of the measured peak: the "
                             f"peak measurement ran while the machine was busier than during "
                             f"the benchmarks (shared cores); '% peak' and the roofline "
                             f"understate the machine")
        lines.append(f"timing: {self.extra.get('repetitions')} interleaved repetitions, min time "
                     f"{self.extra.get('min_time_s')} s, median reported; validation: relative "
                     f"error <= {self.extra.get('tolerance')} vs float64 / float32 eager")
        if "allocator" in self.extra:  # result files before the --allocator flag have none
            lines.append(allocator.describe(self.extra["allocator"]))
        lines += noise.run_summary(self.extra.get("noise"), self.extra.get("cases"))
        if self.extra.get("interrupted") or not self.extra.get("complete", True):
            done = len(self.extra.get("cases", []))
            lines.append(f"PARTIAL RESULTS: the run was interrupted after {done} of "
                         f"{len(self.extra.get('models', [])) * len(self.devices)} models")
        return lines


def _geomean(values: pd.Series) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    return float(np.exp(np.log(v).mean())) if len(v) else math.nan


def build(path: str | Path | Mapping[str, Any] | Tables) -> Tables:
    """The tables of a result file (a document, or tables, pass through); ValueError naming
    the file for one it cannot read, whatever is wrong inside it."""
    if isinstance(path, Tables):
        return path
    where = "document" if isinstance(path, Mapping) else str(path)
    try:
        return Tables(path)
    except ValueError as exc:
        text = str(exc)
        raise ValueError(text if text.startswith(where) else f"{where}: {text}") from None
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        # A pybench document whose fields have the wrong shape (edited, or truncated by
        # hand): named, not a traceback from deep inside pandas.
        raise ValueError(f"{where}: not a readable cnn result ({type(exc).__name__}: {exc})") \
            from None


# --- formatting --------------------------------------------------------------------------------

def _missing(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):  # list-likes
        return False


def _fmt_frame(df: pd.DataFrame, digits: Mapping[str, int] | None = None) -> pd.DataFrame:
    """Numbers to strings, missing values to "-" (never "nan")."""
    digits = digits or {}
    out = df.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            d = digits.get(col, 2)
            out[col] = [("-" if pd.isna(v) else f"{v:,.{d}f}") for v in out[col]]
        elif pd.api.types.is_bool_dtype(out[col]):
            out[col] = ["yes" if v else "" for v in out[col]]
        else:
            out[col] = ["-" if _missing(v) else v for v in out[col]]
    return out


_DIGITS = {"geomean speedup": 3, "torch ms": 3, "pybench ms": 3, "torch %": 1, "pybench %": 1,
           "GFLOP/s": 1, "FLOP/byte": 1, "roof GFLOP/s": 1, "% of roof": 1, "% of model": 1,
           "time ms": 3, "cv": 3}


def _sections(t: Tables) -> list[tuple[str, str, pd.DataFrame]]:
    """(title, explanation, display frame) for every table, in page order."""
    secs = [("Summary: model × device × backend",
             f"images/s at each batch (median), latency of one call at batch "
             f"{min(t.batches)}, speedup over torch eager (same device, same batch), % of the "
             f"measured FP32 peak at batch {max(t.batches)}, and GPU÷CPU throughput. "
             f"{DAGGER} = CV over {results.CV_FLAG:.0%} across repetitions (noisy).",
             t.summary())]
    fam = t.families()
    if not fam.empty:
        secs.append(("Per-family geometric mean of the speedup over torch eager",
                     "Over the family's models and batches; 'all' is every model.",
                     _fmt_frame(fam, {c: 3 for c in fam.columns if "geomean" in c})))
    lt = t.layer_types()
    if not lt.empty:
        secs.append(("Per-layer breakdown: time per layer type",
                     "At the largest batch, the fastest of a few hooked forward passes; "
                     "'runs as' says which layers ran a pybench kernel and which stayed PyTorch "
                     "(BatchNorm folded into the convolutions disappears from the pybench "
                     "column). '(other)' is time outside every leaf layer.",
                     _fmt_frame(lt.rename(columns={}), _DIGITS)))
    cs = t.conv_shapes()
    if not cs.empty:
        show = cs[["model", "batch", "device", "backend", "name", "conv", "calls", "time_s",
                   "% of model", "GFLOP/s", "FLOP/byte", "roof GFLOP/s", "% of roof",
                   "runs_as"]].copy()
        show.insert(7, "time ms", show.pop("time_s") * 1e3)
        secs.append(("Per distinct conv shape (the 40 slowest) and its roofline position",
                     "name = the shape's line in pybench/shapes/conv.txt (the conv suite's "
                     "list); roof = min(FMA peak, FLOP/byte × STREAM bandwidth); full list in "
                     "conv_shapes.csv.",
                     _fmt_frame(show.head(40), _DIGITS)))
    ct = t.compile_times()
    if not ct.empty:
        secs.append(("torch.compile: compilation",
                     "Seconds of the compile backend's first (validated) call, which "
                     "compiles the model, against eager's first call; not in the timings.",
                     _fmt_frame(ct, {"compile first call s": 2, "torch first call s": 3})))
    fl = t.flagged()
    if not fl.empty:
        secs.append((f"Noisy cases (CV > {results.CV_FLAG:.0%})",
                     "Differences smaller than about the CV are not resolved; rerun these.",
                     _fmt_frame(fl, {"cv": 3})))
    fa = t.failures()
    secs.append(("Failed cases", "Validation or timing failures: these were not timed "
                 "(or only partly) and appear as FAILED above." if not fa.empty else
                 "None: every case passed validation and was timed.",
                 _fmt_frame(fa) if not fa.empty else pd.DataFrame()))
    return secs


def _markdown(t: Tables) -> str:
    out = ["# pybench cnn report", ""]
    out += [f"- {line}" for line in t.headline()] + [""]
    for title, text, frame in _sections(t):
        out += [f"## {title}", "", text, ""]
        if not frame.empty:
            out += [frame.to_markdown(index=False), ""]
    return "\n".join(out) + "\n"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def plots(t: Tables) -> dict[str, str]:
    """Title -> base64 PNG of every plot."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs: dict[str, str] = {}
    ok = t.ok
    order = [m for _, m in t._models()]
    colors = {"torch": "tab:blue", "pybench": "tab:orange", "compile": "tab:green",
              "onnxruntime": "tab:purple", "openvino": "tab:red"}
    for device in t.devices:
        sub = ok[ok.device == device]
        if sub.empty:
            continue
        fig, axes = plt.subplots(1, len(t.batches), figsize=(5.5 * len(t.batches), 0.35 * len(order) + 1.5),
                                 squeeze=False, sharey=True)
        for ax, b in zip(axes[0], t.batches):
            y = np.arange(len(order))
            h = 0.8 / max(len(t.backends), 1)
            for i, backend in enumerate(t.backends):
                s = sub[(sub.batch == b) & (sub.backend == backend)].set_index("model")
                vals = np.array([s.images_per_s.get(m, np.nan) for m in order])
                # The p10-p90 of the repetitions (images/s = images / time: p90 time gives
                # the low end).
                lo = np.array([s.images.get(m, np.nan) / s.p90_s.get(m, np.nan) for m in order])
                hi = np.array([s.images.get(m, np.nan) / s.p10_s.get(m, np.nan) for m in order])
                ax.barh(y + i * h, vals, height=h, label=backend, color=colors.get(backend),
                        xerr=np.nan_to_num([vals - lo, hi - vals]), ecolor="black",
                        error_kw={"lw": 0.7, "capsize": 1.5})
            ax.set_yticks(y + h * (len(t.backends) - 1) / 2, order)
            ax.set_xscale("log")
            ax.set_xlabel("images/s (log)")
            ax.set_title(f"{_DEVICE_LABEL[device]} throughput, batch {b}")
            ax.grid(axis="x", alpha=0.3)
        # Once: the panels share the y axis, and inverting it in each panel undid it (the
        # models ran bottom-up here and top-down in the speedup plot).
        axes[0][0].invert_yaxis()
        # Beside the last panel: inside one it covered the bars of the fastest models.
        axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
        figs[f"{_DEVICE_LABEL[device]} throughput per model"] = _png(fig)

        sp = sub[(sub.backend != harness.BASELINE) & sub.speedup.notna()]
        if not sp.empty:
            fig, ax = plt.subplots(figsize=(8, 0.35 * len(order) + 1.5))
            y = np.arange(len(order))
            keys = [(b, k) for k in t.backends if k != harness.BASELINE for b in t.batches]
            h = 0.8 / max(len(keys), 1)
            # A backend keeps its colour of the throughput plot (it was blue for torch
            # there and for batch 1 here); the batch is the hatch.
            hatches = {b: ("" if j == 0 else "//" if j == 1 else "..")
                       for j, b in enumerate(t.batches)}
            for i, (b, k) in enumerate(keys):
                s = sp[(sp.batch == b) & (sp.backend == k)].set_index("model")
                ax.barh(y + i * h, [s.speedup.get(m, np.nan) for m in order], height=h,
                        label=f"{k}, batch {b}", color=colors.get(k), hatch=hatches[b],
                        edgecolor="white")
            ax.axvline(1.0, color="black", lw=1)
            ax.set_yticks(y + h * (len(keys) - 1) / 2, order)
            ax.invert_yaxis()
            ax.set_xscale("log")
            # Log axis with readable ticks: matplotlib's default left two (1 and 10).
            vals = sp.speedup[sp.speedup > 0]
            lo_v, hi_v = float(vals.min()), float(vals.max())
            ticks = [v for v in (0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4, 6, 8, 12, 16)
                     if lo_v / 1.3 <= v <= hi_v * 1.3] or [1]
            ax.set_xticks(ticks, [f"{v:g}x" for v in ticks])
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.set_xlabel("speedup over torch eager (median time ratio, log; > 1 = faster)")
            ax.set_title(f"{_DEVICE_LABEL[device]}: speedup over torch eager")
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)  # off the bars
            ax.grid(axis="x", alpha=0.3)
            figs[f"{_DEVICE_LABEL[device]} speedup over torch"] = _png(fig)

    cs = t.conv_shapes()
    for device in t.devices:
        peak, bw = t.roofs.get(device), t.bandwidth.get(device)
        pts = cs[cs.device == device] if not cs.empty else cs
        if not peak or not bw or pts.empty:
            continue
        fig, ax = plt.subplots(figsize=(8, 5.5))
        ai = np.logspace(-1, 3.5, 200)
        ax.plot(ai, np.minimum(peak, ai * bw) / 1e9, color="black", lw=2,
                label=f"roofline: {peak / 1e9:.0f} GFLOP/s, {bw / 1e9:.0f} GB/s")
        for backend, g in pts.groupby("backend", sort=False):
            ax.scatter(g["FLOP/byte"], g["GFLOP/s"], s=12 + 60 * g["% of model"] / 100,
                       alpha=0.6, color=colors.get(backend), label=f"{backend} conv layers")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("arithmetic intensity (FLOP/byte, compulsory traffic)")
        ax.set_ylabel("GFLOP/s")
        ax.set_title(f"{_DEVICE_LABEL[device]} roofline: each distinct conv shape "
                     f"(marker size = share of its model's time)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        figs[f"{_DEVICE_LABEL[device]} roofline"] = _png(fig)

    lt = t.layer_types()
    if not lt.empty and "torch ms" in lt:
        for device in t.devices:
            sub = lt[lt.device == device]
            if sub.empty:
                continue
            backends = [b for b in ("torch", "pybench") if f"{b} ms" in sub]
            types = list(sub.groupby("type")[f"{backends[0]} ms"].sum()
                         .sort_values(ascending=False).index)
            labels = [f"{m} / {b}" for m in order if m in set(sub.model) for b in backends]
            fig, ax = plt.subplots(figsize=(9, 0.3 * len(labels) + 1.8))
            left = np.zeros(len(labels))
            # The 8 costliest layer types get distinct colours, the rest one grey "other"
            # (tab20 gave 20 near-identical shades).
            palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                       "#e377c2", "#17becf"]
            if len(types) > len(palette):
                keep = set(types[:len(palette)])
                sub = sub.assign(type=sub.type.where(sub.type.isin(keep), "other"))
                types = types[:len(palette)] + ["other"]
            color_of = {typ: (palette[i] if i < len(palette) else "#bbbbbb")
                        for i, typ in enumerate(types)}
            for i, typ in enumerate(types):
                vals = []
                for lab in labels:
                    m, b = lab.split(" / ")
                    row = sub[(sub.model == m) & (sub.type == typ)]
                    v = row[f"{b} ms"].sum() if not row.empty else 0.0
                    tot = sub[sub.model == m][f"{b} ms"].sum()
                    vals.append(100 * v / tot if tot else 0.0)
                ax.barh(labels, vals, left=left, color=color_of[typ], label=typ)
                left += np.nan_to_num(np.array(vals))
            ax.invert_yaxis()
            ax.set_xlabel("% of the model's time (per-layer breakdown)")
            ax.set_title(f"{_DEVICE_LABEL[device]}: where the time goes, by layer type")
            ax.legend(bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=7)
            figs[f"{_DEVICE_LABEL[device]} time by layer type"] = _png(fig)
    return figs


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:12px;margin-bottom:1.5em}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:right;white-space:nowrap}
th{background:#f0f0f0} td:nth-child(-n+3){text-align:left}
.note{color:#555;max-width:70em} img{max-width:100%;border:1px solid #eee;margin:.5em 0}
.warn{color:#a00;font-weight:bold}
"""


# Autoescaped: model names, error messages and notes reach the page only escaped.
_PAGE = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string("""\
<!DOCTYPE html><html><head><meta charset='utf-8'>
<title>pybench cnn report</title><style>{{ css }}</style></head><body>
<h1>pybench cnn report</h1><ul>
{% for line in headline %}
<li{% if line.startswith(("PARTIAL", "WARNING")) %} class='warn'{% endif %}>{{ line }}</li>
{% endfor %}
</ul>
{% for title, text, table in sections %}
<h2>{{ title }}</h2><p class='note'>{{ text }}</p>
{{ table }}
{% if loop.first %}
<h2>Plots</h2>
{% for name, data in figs.items() %}
<h3>{{ name }}</h3><img alt='{{ name }}' src='data:image/png;base64,{{ data }}'>
{% endfor %}
{% endif %}
{% endfor %}
</body></html>
""")


def _html(t: Tables, figs: Mapping[str, str]) -> str:
    # pandas escapes the cells; Markup keeps jinja2 from escaping its tags a second time.
    sections = [(title, text, markupsafe.Markup(frame.to_html(index=False, escape=True, border=0))
                 if not frame.empty or i == 0 else "")
                for i, (title, text, frame) in enumerate(_sections(t))]
    return _PAGE.render(css=_CSS, headline=t.headline(), sections=sections, figs=figs)


def report_dir(path: str | Path) -> Path:
    """``results/cnn-<stamp>.json`` -> ``results/cnn-<stamp>-report/``."""
    p = Path(path)
    return p.with_name(p.stem + "-report")


def write(path: str | Path, out_dir: str | Path | None = None, *,
          tables: Tables | None = None) -> dict[str, Path]:
    """Write the report of result file ``path`` (``tables``: its :func:`build`, if made
    already); returns the files by kind: ``csv`` (per-case statistics), ``families_csv``,
    ``layers_csv``, ``conv_shapes_csv``, ``tidy_csv`` (the :func:`pybench.results.load`
    frame), ``md``, ``html``, and one ``png:<title>`` per plot. Each file is written
    atomically, so an interrupted report leaves whole files of this one or the last."""
    t = tables if tables is not None else build(path)
    out = Path(out_dir) if out_dir is not None else report_dir(path)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    def csv(name: str, frame: pd.DataFrame, key: str) -> None:
        files[key] = out / name
        text = frame.to_csv(index=False, na_rep="", float_format="%.6g")
        schema.write_bytes(files[key], text.encode())

    csv("summary.csv", t.cases, "csv")
    csv("families.csv", t.families(), "families_csv")
    csv("layers.csv", t.layers, "layers_csv")
    csv("conv_shapes.csv", t.conv_shapes(), "conv_shapes_csv")
    csv("tidy.csv", t.frame, "tidy_csv")
    figs = plots(t)
    for i, (name, data) in enumerate(figs.items()):
        files[f"png:{name}"] = out / f"plot{i}-{name.lower().replace(' ', '_').replace('/', '')}.png"
        schema.write_bytes(files[f"png:{name}"], base64.b64decode(data))
    files["md"] = out / "report.md"
    schema.write_bytes(files["md"], _markdown(t).encode())
    files["html"] = out / "report.html"
    schema.write_bytes(files["html"], _html(t, figs).encode())
    return files


def console_summary(path: str | Path | Mapping[str, Any] | Tables) -> str:
    """The summary and family tables as plain text for the terminal."""
    t = build(path)
    lines = [w for line in t.headline() for w in textwrap.wrap(line, 120) or [""]]
    summary = t.summary(ran_only=True).to_string(index=False, line_width=120)
    lines += ["", summary]
    if DAGGER in summary:
        lines.append(f"{DAGGER} = CV over {results.CV_FLAG:.0%} across repetitions (noisy: "
                     f"rerun on an idle machine, or with more --repetitions)")
    missing = [d for d in DEVICES if d not in t.devices]
    if missing:
        lines.append(f"(not run: {', '.join(missing)}"
                     f"{' -- ' + NO_CUDA if 'cuda' in missing else ''}; the report files keep "
                     f"their columns)")
    fam = t.families()
    if not fam.empty:
        lines += ["", "geomean speedup over torch eager per family:",
                  _fmt_frame(fam, {c: 3 for c in fam.columns if "geomean" in c}).to_string(index=False)]
    fa = t.failures()
    if not fa.empty:
        lines += ["", f"{len(fa)} failed case(s):",
                  fa.assign(error=fa.error.str.split("\n").str[0].str.slice(0, 100)).to_string(index=False)]
    return "\n".join(lines)
