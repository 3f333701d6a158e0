"""Result files as pandas DataFrames: the tidy data every report is built from.

>>> from pybench import results
>>> df = results.load("results/cnn-20261202T031500Z.json")
>>> df[df.status == "ok"].groupby(["model", "batch", "backend"]).time_s.median()

:func:`load` gives one row per case x repetition (a case being one spec: suite / case /
implementation / device); a case that failed -- validation, timing, its worker, or cut short
by an interrupt -- is one row with ``status`` "failed" (or "interrupted"), its ``error`` and
no times. :func:`cases` aggregates the repetitions into per-case statistics
(:mod:`pybench.results.stats`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from pybench.results.schema import BASELINE, INTERRUPTED, gb_spec_name, read
from pybench.results.stats import STATISTICS, summarize

__all__ = ["read", "load", "cases", "layers", "peak", "COLUMNS", "CV_FLAG"]

#: Columns of :func:`load`, in order; ``model`` .. ``source`` are the spec's params (empty
#: for suites that have none of them).
COLUMNS = ["suite", "case", "model", "family", "batch", "size", "backend", "device", "threads",
           "repetition", "time_s", "iterations", "flops", "bytes", "images", "gflops_per_s",
           "images_per_s", "validation_error", "first_call_s", "status", "stage", "error",
           "name"]
#: A case whose repetitions vary by more than this coefficient of variation is flagged.
CV_FLAG = 0.10


def _base(d: Mapping[str, Any]) -> dict[str, Any]:
    params = d.get("params") or {}
    return {"suite": d.get("suite"), "case": d.get("case"),
            "model": params.get("model", ""), "family": params.get("family", ""),
            "batch": params.get("batch", params.get("N", 0)), "size": params.get("size", 0),
            "backend": d.get("implementation"), "device": d.get("device"),
            "threads": d.get("threads"), "flops": d.get("flops", 0), "bytes": d.get("bytes", 0),
            "images": d.get("images", 0) or params.get("batch", 0),
            # The validated first call: torch.compile's compilation for the compile backend.
            "first_call_s": d.get("validation_call_s", np.nan)}


def load(path: str | Path | Mapping[str, Any]) -> pd.DataFrame:
    """The tidy DataFrame of a result file: one row per case x repetition (see module doc).

    ``time_s`` is the mean time of one call within that repetition (Google Benchmark's
    ``real_time``, manual timing); ``gflops_per_s`` and ``images_per_s`` follow from it.
    """
    doc = read(path)
    rows = []
    for entry in doc.get("benchmarks", []):
        extra = entry.get("pybench")
        if entry.get("run_type") != "iteration" or entry.get("error_occurred") or not extra:
            continue
        samples, iterations = extra.get("samples_s"), extra.get("iterations")
        if not samples:
            continue
        rep = entry.get("repetition_index", 0)
        t = samples[rep]
        row = _base(extra)
        row.update({"repetition": rep, "time_s": t, "iterations": iterations[rep],
                    "validation_error": extra.get("validation_error"), "status": "ok",
                    "stage": "", "error": "", "name": gb_spec_name(entry["run_name"])})
        rows.append(row)
    for f in doc["context"]["pybench"].get("failures", []):
        row = _base(f)
        stage = f.get("stage", "")
        row.update({"repetition": -1, "time_s": np.nan, "iterations": 0,
                    "validation_error": f.get("validation_error"),
                    "status": "interrupted" if stage == "interrupted"
                    or f.get("error") == INTERRUPTED else "failed",
                    "stage": stage, "error": f.get("error", ""), "name": f.get("name", "")})
        rows.append(row)
    df = pd.DataFrame.from_records(rows, columns=COLUMNS)
    df["time_s"] = df["time_s"].astype(float)
    df["validation_error"] = df["validation_error"].astype(float)
    for col in ("batch", "size", "threads", "repetition", "iterations", "flops", "bytes",
                "images"):
        df[col] = df[col].fillna(0).astype("int64")
    df["gflops_per_s"] = df["flops"] / df["time_s"] / 1e9
    df["images_per_s"] = df["images"] / df["time_s"]
    return df.sort_values(["suite", "device", "case", "backend", "repetition"],
                          kind="stable").reset_index(drop=True)


def cases(df: pd.DataFrame) -> pd.DataFrame:
    """One row per case: median / mean / stddev / CV / p10 / p90 of ``time_s`` over the
    repetitions (:func:`pybench.results.stats.summarize`), the
    median-based GFLOP/s and images/s, ``speedup`` = the torch backend's median time over
    this one's (same case and device), and ``cv_flag`` when CV > :data:`CV_FLAG`.
    Failed cases keep their row, with ``status`` and ``error`` and no statistics."""
    keys = ["suite", "device", "family", "model", "batch", "size", "case", "backend"]
    ok = df[df.status == "ok"]
    columns = keys + ["repetitions"] + [n if n == "cv" else f"{n}_s" for n in STATISTICS]
    stats = pd.DataFrame.from_records(
        [(*key, len(times), *summarize(times.to_numpy()).values())
         for key, times in ok.groupby(keys, sort=False)["time_s"]], columns=columns)
    first = ok.groupby(keys, sort=False).agg(flops=("flops", "first"), images=("images", "first"),
                                             threads=("threads", "first"),
                                             validation_error=("validation_error", "first"),
                                             first_call_s=("first_call_s", "first"))
    stats = stats.merge(first.reset_index(), on=keys)
    stats["gflops_per_s"] = stats["flops"] / stats["median_s"] / 1e9
    stats["images_per_s"] = stats["images"] / stats["median_s"]
    base = stats[stats.backend == BASELINE].set_index(
        ["suite", "device", "case"])["median_s"]
    idx = pd.MultiIndex.from_frame(stats[["suite", "device", "case"]])
    stats["speedup"] = base.reindex(idx).to_numpy() / stats["median_s"].to_numpy()
    stats["cv_flag"] = stats["cv"] > CV_FLAG
    stats["status"], stats["error"] = "ok", ""
    bad = df[df.status != "ok"][keys + ["flops", "images", "threads", "status", "error",
                                        "validation_error"]]
    out = pd.concat([stats, bad], ignore_index=True) if not bad.empty else stats
    return out.reset_index(drop=True)


def layers(path: str | Path | Mapping[str, Any]) -> pd.DataFrame:
    """The per-layer breakdown: one row per model x batch x device x backend x leaf layer
    (``time_s`` the fastest of the breakdown's passes; ``(other)`` is the time outside every
    leaf layer). Empty when the run had none."""
    rows = read(path)["context"]["pybench"].get("layers", [])
    cols = ["model", "family", "batch", "size", "device", "backend", "layer", "type", "runs_as",
            "calls", "time_s", "flops", "bytes", "conv", "conv_name"]
    return pd.DataFrame.from_records(rows, columns=cols)


def peak(path: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """The measured roofline stored with the results (``pybench peak``'s numbers)."""
    return read(path)["context"]["pybench"].get("peak") or {}
