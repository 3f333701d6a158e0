"""``pybench report`` for the suites timed through the harness (gram, style, conv, separable,
rnn, train, ...): the table ``pybench run`` printed, as CSV, Markdown and an HTML page with
one speedup plot, plus the geomean of every implementation over the baseline.

The cnn suite has its own report (:mod:`pybench.analysis.report`); this one reads what every
harness result holds: per benchmark the spec (``pybench`` entry), the timing samples'
statistics and the validation error, and the run's failures.
"""
from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from pybench import allocator
from pybench.results.schema import BASELINE

__all__ = ["frame", "geomeans", "write", "console_summary"]


def _load(path: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    """The checked document (:func:`pybench.results.schema.read`: ValueError naming the
    file when it is not a pybench result, or a newer one)."""
    from pybench.results import schema
    return schema.read(path)


def frame(doc: str | Path | Mapping[str, Any]) -> pd.DataFrame:
    """One row per (case, implementation, device): median ms, GFLOP/s, speedup over the
    baseline, CV, validation error, status (failed cases keep their reason)."""
    doc = _load(doc)
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for entry in doc.get("benchmarks", []):
        p = entry.get("pybench") or {}
        stats = p.get("stats_s")
        if entry.get("run_type") != "iteration" or not stats:
            continue
        key = (p["case"], p["implementation"], p["device"])
        median = stats["median"]
        rows[key] = {"case": key[0], "impl": key[1], "device": key[2],
                     "threads": p.get("threads"), "median ms": median * 1e3,
                     "GFLOP/s": p.get("flops", 0) / median / 1e9 if median > 0 else math.nan,
                     "CV %": 100 * stats.get("cv", math.nan),
                     "error": p.get("validation_error"), "status": "ok"}
    for f in doc.get("context", {}).get("pybench", {}).get("failures", []):
        key = (f["case"], f["implementation"], f["device"])
        reason = (f.get("error") or "error").strip().splitlines()[0][:100]
        rows[key] = {"case": key[0], "impl": key[1], "device": key[2],
                     "threads": f.get("threads"), "status": f"FAILED ({f.get('stage')}): {reason}"}
    df = pd.DataFrame.from_records(list(rows.values()),
                                   columns=["case", "impl", "device", "threads", "median ms",
                                            "GFLOP/s", "CV %", "error", "status"])
    base = df[df["impl"] == BASELINE].set_index(["case", "device"])["median ms"]
    df[f"vs {BASELINE}"] = [base.get((c, d), math.nan) / m if m and m == m else math.nan
                            for c, d, m in zip(df["case"], df["device"], df["median ms"])]
    return df


def geomeans(df: pd.DataFrame) -> pd.DataFrame:
    """Per (implementation, device): geomean speedup over the baseline, its lowest case and
    the case count; failed cases are counted apart."""
    out = []
    col = f"vs {BASELINE}"
    for (impl, device), g in df.groupby(["impl", "device"], sort=False):
        ok = g[g[col].notna() & (g[col] > 0)]
        worst = ok.loc[ok[col].idxmin()] if len(ok) else None
        out.append({"impl": impl, "device": device,
                    "geomean": math.exp(ok[col].map(math.log).mean()) if len(ok) else math.nan,
                    "min": worst[col] if worst is not None else math.nan,
                    "min case": worst["case"] if worst is not None else "",
                    "cases": len(ok), "failed": int((g["status"] != "ok").sum())})
    return pd.DataFrame(out)


def console_summary(df: pd.DataFrame, suite: str) -> str:
    lines = [f"{suite}: {len(df)} benchmarks"]
    for _, r in geomeans(df).iterrows():
        if r["impl"] == BASELINE:
            continue
        lines.append(f"  {r['impl']} on {r['device']}: geomean {r['geomean']:.2f}x over "
                     f"{BASELINE} (n={r['cases']}, lowest {r['min']:.2f}x at {r['min case']})"
                     + (f", {r['failed']} failed" if r["failed"] else ""))
    return "\n".join(lines)


def _plot(df: pd.DataFrame, suite: str) -> str:
    """The speedup of every non-baseline implementation per case, as a base64 PNG."""
    import base64
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    col = f"vs {BASELINE}"
    data = df[(df["impl"] != BASELINE) & df[col].notna()]
    impls = list(dict.fromkeys(data["impl"]))
    cases = list(dict.fromkeys(data["case"]))
    fig, ax = plt.subplots(figsize=(10, max(3.0, 0.3 * len(cases) * max(1, len(impls)) + 1)))
    height = 0.8 / max(1, len(impls))
    for i, impl in enumerate(impls):
        sub = data[data["impl"] == impl].set_index("case")[col]
        ys = [j + i * height for j in range(len(cases))]
        ax.barh(ys, [sub.get(c, math.nan) for c in cases], height=height, label=impl)
    ax.set_yticks([j + 0.4 - height / 2 for j in range(len(cases))], cases, fontsize=7)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel(f"speedup over {BASELINE} (median time ratio)")
    ax.set_title(f"{suite}: speedup per case")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def write(path: str | Path, out_dir: str | Path | None = None) -> dict[str, Path]:
    """``summary.csv``, ``report.md`` and ``report.html`` into ``out_dir`` (default
    ``<results stem>-report/``)."""
    path = Path(path)
    doc = _load(path)
    suite = doc.get("context", {}).get("pybench", {}).get("suite", "?")
    df = frame(doc)
    if df.empty:
        raise ValueError(f"{path}: a {suite!r} result with no benchmark, timed or failed")
    out = Path(out_dir) if out_dir else path.with_name(path.stem + "-report")
    out.mkdir(parents=True, exist_ok=True)
    geo = geomeans(df)
    files = {"csv": out / "summary.csv", "md": out / "report.md", "html": out / "report.html"}
    df.to_csv(files["csv"], index=False)
    extra = doc.get("context", {}).get("pybench", {})
    fp = extra.get("fingerprint", {})
    machine = f"{fp.get('cpu_model', '?')}, {fp.get('threads', '?')} threads"
    if "allocator" in extra:  # result files before the --allocator flag have none
        machine += f"; {allocator.describe(extra['allocator'])}"
    files["md"].write_text(f"# {suite}\n\n{machine}\n\n{console_summary(df, suite)}\n\n"
                           f"{geo.to_markdown(index=False)}\n\n{df.to_markdown(index=False)}\n")
    png = _plot(df, suite) if len(df) else ""
    files["html"].write_text(
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(suite)}</title>"
        f"<h1>{html.escape(suite)}</h1><p>{html.escape(machine)}</p>"
        + (f"<img alt='speedup per case' src='data:image/png;base64,{png}'>" if png else "")
        + geo.to_html(index=False) + df.to_html(index=False))
    return files
