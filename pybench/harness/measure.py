"""validate -> time -> record: :func:`run_benchmarks`, and the :class:`Report` it returns."""
from __future__ import annotations

import math
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd
import torch

from pybench.harness import timer
from pybench.harness.spec import BenchmarkSpec, Failure, Measurement
from pybench.results import schema
from pybench.results import stats as _stats
from pybench.results.schema import API_VERSION, BASELINE, gb_spec_name, sanitize


@dataclass
class Report:
    """Outcome of :func:`run_benchmarks`; ``document`` is what was written to ``path``."""

    measurements: list[Measurement]
    failures: list[Failure]
    document: dict[str, Any]
    path: Path | None
    order: list[BenchmarkSpec] = field(default_factory=list, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """One row per spec, in spec order; numeric columns are NaN for failed specs."""
        medians = {(m.spec.suite, m.spec.case, m.spec.device, m.spec.implementation): m.median
                   for m in self.measurements}
        roofline = self.document.get("context", {}).get("pybench", {}).get("peak")
        roofs = peak_flops(roofline)
        bandwidths = peak_bandwidth(roofline)
        rows: dict[BenchmarkSpec, dict[str, Any]] = {}
        for m in self.measurements:
            s = m.spec
            base = medians.get((s.suite, s.case, s.device, BASELINE))
            rows[s] = {"median ms": m.median * 1e3, "GFLOP/s": m.flops_per_s / 1e9,
                       f"vs {BASELINE}": base / m.median if base else math.nan,
                       "% peak": 100 * m.flops_per_s / roofs[s.device] if s.device in roofs
                       else math.nan,
                       "% HW": 100 * (s.executed_flops or s.flops) / m.median / roofs[s.device]
                       if s.device in roofs and m.median > 0 else math.nan,
                       "CV %": m.cv * 100, "status": "ok",
                       **_roofline_columns(s, m, roofs, bandwidths)}
        for f in self.failures:
            reason = f.error.strip().splitlines()[0] if f.error.strip() else "error"
            rows[f.spec] = {"status": f"FAILED ({f.stage}): {reason[:100]}"}
        order = self.order or list(rows)
        columns = ["case", "impl", "device", "threads", "median ms", "GFLOP/s",
                   f"vs {BASELINE}", "% peak", "% HW", "CV %", "status"]
        columns[-1:-1] = ROOFLINE_COLUMNS  # issue 5: GB/s and the roofline position
        records = [{"case": s.case, "impl": s.implementation, "device": s.device,
                    "threads": s.threads, **rows[s]} for s in order if s in rows]
        return pd.DataFrame.from_records(records, columns=columns)

    def format_table(self) -> str:
        frame = self.to_frame()
        if frame.empty:
            return "(no benchmarks)"

        def fmt(spec: str, failed: str = "-") -> Callable[[float], str]:
            return lambda v: failed if pd.isna(v) else format(v, spec)

        if (frame["status"] == "ok").all():
            frame = frame.drop(columns="status")
        # "% HW" only where some implementation executes more than it is credited with.
        if not any(s.executed_flops and s.executed_flops != s.flops for s in self.order):
            frame = frame.drop(columns="% HW")
        # The table fits 120 columns: one device and one thread count (the usual run) go to
        # a line above it; case labels, which name every size (the conv suite's ran to 87
        # characters), leave out the sizes at their defaults; and where a row is still too
        # wide, each case's label heads its rows instead of filling a column. The result
        # file keeps the full labels.
        head = ""
        frame["case"] = frame["case"].map(_short_case)
        if frame["device"].nunique() == 1 and frame["threads"].nunique() == 1:
            head = f"{frame['device'].iloc[0]}, {frame['threads'].iloc[0]} threads\n"
            frame = frame.drop(columns=["device", "threads"])
        formatters = {
            "median ms": fmt(".3f", "FAILED"), "GFLOP/s": fmt(".1f"),
            f"vs {BASELINE}": lambda v: "-" if pd.isna(v) else f"{v:.2f}x",
            "% peak": fmt(".0f"), "% HW": fmt(".0f"), "CV %": fmt(".1f"), "GB/s": fmt(".1f"),
            "% BW": fmt(".0f"), "% roof": fmt(".0f")}
        text = frame.to_string(index=False, formatters=formatters)
        if max(map(len, text.splitlines())) <= TABLE_WIDTH:
            return head + text
        lines = frame.drop(columns="case").to_string(index=False, formatters=formatters)
        lines = lines.splitlines()
        out, previous = ["  " + lines[0]], None
        for case, line in zip(frame["case"], lines[1:]):
            if case != previous:
                out.append(case)
                previous = case
            out.append("  " + line)
        return head + "\n".join(out)


#: Columns the printed table fits in.
TABLE_WIDTH = 120


def _short_case(label: str) -> str:
    """A case label for the table: sizes at their defaults (stride and dilation 1, no
    padding, one group) left out, equal height / width pairs joined (H:56/W:56 -> HW:56)."""
    label = re.sub(r"/(?:SH|SW|DH|DW|G):1(?=/|$)", "", label)
    label = re.sub(r"/(?:PH|PW):0(?=/|$)", "", label)
    for h, w, both in (("H", "W", "HW"), ("R", "S", "RS"), ("SH", "SW", "st"),
                       ("PH", "PW", "p"), ("DH", "DW", "d")):
        label = re.sub(rf"/{h}:(\d+)/{w}:\1(?=/|$)", rf"/{both}:\1", label)
    return label


def _per_device(roofline: Mapping[str, Any] | None, cpu_key: str,
                cuda_key: str) -> dict[str, float]:
    values: dict[str, float] = {}
    if not roofline:
        return values
    if roofline.get(cpu_key):
        values["cpu"] = roofline[cpu_key]
    cuda = roofline.get("cuda")
    if isinstance(cuda, Mapping) and cuda.get(cuda_key):
        values["cuda"] = cuda[cuda_key]
    return values


def peak_flops(roofline: Mapping[str, Any] | None) -> dict[str, float]:
    """Measured FP32 peak per device from a result's ``peak`` entry (pybench.peak.measure):
    the all-thread FMA peak for "cpu", cuBLAS FP32 GEMM for "cuda"; {} when not measured."""
    return _per_device(roofline, "fma_flops", "fp32_gemm_flops")


#: Columns of the roofline position (issue 5): achieved bytes/s of the spec's compulsory
#: traffic, that as a share of the measured bandwidth, and the achieved FLOP/s as a share of
#: the roofline bound min(peak, arithmetic intensity x bandwidth) -- 100% means the kernel
#: sits on the roof, whichever side of the ridge the case falls.
ROOFLINE_COLUMNS = ["GB/s", "% BW", "% roof"]


def peak_bandwidth(roofline: Mapping[str, Any] | None) -> dict[str, float]:
    """Measured memory bandwidth per device from a result's ``peak`` entry: the STREAM
    triad for "cpu", device-to-device copy for "cuda"; {} when not measured."""
    return _per_device(roofline, "triad_bytes_per_s", "copy_bytes_per_s")


def _roofline_columns(spec: BenchmarkSpec, m: Measurement, roofs: Mapping[str, float],
                      bandwidths: Mapping[str, float]) -> dict[str, float]:
    bytes_per_s = spec.bytes / m.median if spec.bytes else math.nan
    bw = bandwidths.get(spec.device)
    peak = roofs.get(spec.device)
    roof = math.nan
    if bw and peak and spec.bytes:
        roof = min(peak, spec.flops / spec.bytes * bw)
    return {"GB/s": bytes_per_s / 1e9,
            "% BW": 100 * bytes_per_s / bw if bw else math.nan,
            "% roof": 100 * m.flops_per_s / roof if roof == roof and roof > 0 else math.nan}


def validate(spec: BenchmarkSpec) -> tuple[Callable[[], Any], float] | Failure:
    """Set the spec up, call it once and check the output against its reference.

    Returns ``(run, error)`` when the error is finite and within ``spec.tolerance``; a
    :class:`Failure` otherwise, or when setup, the call or the check raises.
    """
    outcome = _validate(spec)
    return outcome if isinstance(outcome, Failure) else outcome[:2]


def _validate(spec: BenchmarkSpec) -> tuple[Callable[[], Any], float, float] | Failure:
    """:func:`validate`, also returning the seconds the validated call took."""
    try:
        run, check = spec.setup()
        start = time.perf_counter()
        out = run()
        if spec.device.startswith("cuda"):
            torch.cuda.synchronize(spec.device)
        call_s = time.perf_counter() - start
        error = float(check(out))
    except Exception as exc:  # noqa: BLE001 -- any error fails the case, not the run
        return Failure(spec, "validation", f"{type(exc).__name__}: {exc}")
    if not error <= spec.tolerance:  # also catches NaN
        return Failure(spec, "validation",
                       f"relative error {error:.3g} exceeds tolerance {spec.tolerance:g}", error)
    return run, error, call_s


def _write(output: str | Path, document: Mapping[str, Any]) -> Path:
    """Write the document; if ``output`` cannot be written (a disk filled or a directory
    removed during the run), save it in a new temporary directory instead and raise an
    OSError naming both, so no measurement is lost."""
    try:
        return schema.write(output, document)
    except OSError as exc:
        rescue = schema.write(Path(tempfile.mkdtemp(prefix="pybench-rescued-")) /
                              Path(output).name, document)
        raise OSError(f"cannot write {output} ({exc.strerror or exc}); the results were "
                      f"saved to {rescue}") from exc


def _drop_skipped_rounds(raw: dict[str, Any]) -> None:
    """Remove the rounds a spec skipped once it had enough (``timer.ENOUGH``) from Google
    Benchmark's output, and make each remaining entry's ``repetitions`` (and each
    aggregate's ``iterations``, the number of repetitions it summarises) the count the spec
    really ran: the file then reads as a run with that many repetitions."""
    kept = [e for e in raw["benchmarks"] if e.get("error_message") != timer.ENOUGH]
    ran: dict[str, int] = {}
    for e in kept:
        if e.get("run_type") == "iteration" and not e.get("error_occurred"):
            ran[e["run_name"]] = ran.get(e["run_name"], 0) + 1
    for e in kept:
        if e["run_name"] in ran:
            e["repetitions"] = ran[e["run_name"]]
            if e.get("run_type") == "aggregate":
                e["iterations"] = ran[e["run_name"]]
    raw["benchmarks"] = kept


def _on_repetition(progress):
    if progress is None:
        return None

    def done(spec: BenchmarkSpec) -> None:
        progress.advance(1)
        progress.show(f"timing {spec.case} {spec.implementation}")
    return done


@dataclass
class TargetCI:
    """Adaptive repetition count (``pybench run --target-ci``), as torch.utils.benchmark's
    ``adaptive_autorange`` and NVBench stop when the estimate is precise enough: a spec is
    repeated until the ``level`` confidence interval of its median
    (:func:`pybench.results.stats.median_ci`, distribution-free) reaches no further than
    ``target`` (relative) from the median, at least ``min_repetitions`` and at most
    ``max_repetitions`` times. Every spec runs in the same interleaved Google Benchmark run
    of ``max_repetitions`` rounds; a spec that has enough skips its later rounds at once.

    Assumes repetitions are independent draws (they are interleaved at random with the
    other specs'); a drifting machine can still meet the target with a biased median.
    """

    target: float
    min_repetitions: int
    max_repetitions: int
    level: float = 0.95
    samples: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, seconds_per_call: float) -> None:
        self.samples.setdefault(name, []).append(seconds_per_call)

    def enough(self, name: str) -> bool:
        got = self.samples.get(name, [])
        if len(got) < self.min_repetitions:
            return False
        return len(got) >= self.max_repetitions or \
            _stats.median_ci_rel(got, self.level) <= self.target

    def describe(self) -> dict[str, Any]:
        return {"target_ci": self.target, "level": self.level,
                "min_repetitions": self.min_repetitions, "max_repetitions": self.max_repetitions}


def run_benchmarks(specs: Sequence[BenchmarkSpec], *, repetitions: int = 5,
                   min_time: float = 0.1, warmup: float = 0.05,
                   output: str | Path | None = None, context: Mapping[str, Any] | None = None,
                   log: Callable[[str], None] = print, console: bool = True,
                   progress: Any = None, target_ci: TargetCI | None = None) -> Report:
    """Validate ``specs``, time the valid ones in one Google Benchmark run, write the JSON.

    Args:
        repetitions: samples per spec (``--benchmark_repetitions``), interleaved at random;
            with ``target_ci``, its ``max_repetitions`` rounds are run instead, and each
            spec keeps the samples it took to reach the target.
        min_time: seconds of calls per repetition (``--benchmark_min_time``); at least 1 call.
        warmup: seconds of untimed calls before a spec's first repetition. A spec whose
            validation call alone took at least this long gets none: that call (first
            touch of its memory, one-time initialisation) was its warm-up, and a model
            taking seconds per call is not warmed any further by a second one.
        output: JSON file to write (directories created); None writes nothing.
        context: extras stored in ``context["pybench"]`` (suite, fingerprint, ...).
        console: show Google Benchmark's own console rows (``pybench run --verbose``).
        progress: a :class:`pybench.progress.ProgressBar` counting one unit per validation
            and per timed (or, with ``target_ci``, skipped) repetition, or None.
        target_ci: repeat each spec until the CI of its median is narrow enough
            (:class:`TargetCI`); stored as ``context.pybench.adaptive`` and, per benchmark,
            ``pybench.median_ci_rel``.
    """
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError("benchmark names are not unique")
    valid: dict[str, tuple[BenchmarkSpec, float]] = {}
    warmups: dict[str, dict[str, float]] = {}
    failures: list[Failure] = []
    if progress is not None:
        progress.show(f"validating {specs[0].suite}" if specs else "")
    for spec in specs:
        outcome = _validate(spec)
        if progress is not None:
            progress.advance(1)
            progress.show(f"validated {spec.case} {spec.implementation}")
        if isinstance(outcome, Failure):
            log(f"FAILED {spec.name}: {outcome.error.splitlines()[0] if outcome.error else ''}")
            failures.append(outcome)
        else:
            run, error, call_s = outcome
            spec_warmup = 0.0 if call_s >= warmup else warmup
            timer.register(spec, run, spec_warmup, _on_repetition(progress), min_time,
                           stop=target_ci)
            valid[spec.name] = (spec, error)
            warmups[spec.name] = {"warmup_s": spec_warmup, "validation_call_s": call_s}

    if valid:
        rounds = target_ci.max_repetitions if target_ci is not None else repetitions
        raw = timer.gb_run([f"--benchmark_repetitions={rounds}",
                       "--benchmark_enable_random_interleaving=true",
                       f"--benchmark_min_time={min_time:.6g}s",
                       "--benchmark_min_warmup_time=0",  # per benchmark, see _register
                       "--benchmark_display_aggregates_only=true"], console=console)
        if progress is not None:
            progress.show("timed", final=True)
    else:
        raw = {"context": timer._bare_context(), "benchmarks": []}

    if target_ci is not None:
        _drop_skipped_rounds(raw)
    samples: dict[str, list[tuple[int, float, int]]] = {name: [] for name in valid}
    errored: dict[str, str] = {}
    for entry in raw["benchmarks"]:
        name = gb_spec_name(entry["run_name"])
        if entry.get("error_occurred"):
            errored.setdefault(name, entry.get("error_message", "error"))
        elif entry.get("run_type") == "iteration":
            scale = timer.TIME_UNIT_S[entry["time_unit"]]
            samples[name].append((entry.get("repetition_index", 0), entry["real_time"] * scale,
                                  entry["iterations"]))
    measurements: dict[str, Measurement] = {}
    for name, (spec, error) in valid.items():
        if name in errored:
            failures.append(Failure(spec, "timing", errored[name], error))
        elif samples[name]:
            reps = sorted(samples[name])
            measurements[name] = Measurement(spec, tuple(s for _, s, _ in reps),
                                             tuple(i for _, _, i in reps), error)

    for entry in raw["benchmarks"]:
        name = gb_spec_name(entry["run_name"])
        spec, error = valid[name]
        extra = {**spec.describe(), "validation_error": error, **warmups[name]}
        if name in measurements:
            m = measurements[name]
            extra |= {"samples_s": list(m.samples), "iterations": list(m.iterations),
                      "stats_s": m.stats()}
            if target_ci is not None:
                extra["median_ci_rel"] = _stats.median_ci_rel(m.samples, target_ci.level)
        entry["pybench"] = extra

    order = {s: i for i, s in enumerate(specs)}
    failures.sort(key=lambda f: order[f.spec])
    document = {
        "context": {**raw["context"], "pybench": {
            "api_version": API_VERSION, **(context or {}),
            "repetitions": repetitions, "min_time_s": min_time, "warmup_s": warmup,
            **({"adaptive": target_ci.describe()} if target_ci is not None else {}),
            "interrupted": timer.interrupted(),
            "failures": [f.describe() for f in failures]}},
        "benchmarks": raw["benchmarks"],
    }
    document = sanitize(document)
    path = _write(output, document) if output is not None else None
    return Report(list(measurements.values()), failures, document, path, list(specs))
