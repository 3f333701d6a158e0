"""The cnn suite's driver: one worker process per model and device, results written after each.

Each model (all its batches x backends, repetitions interleaved) runs in its own worker
process (:func:`pybench.worker.child`), because Google Benchmark runs once per process and
because a model that crashes or hangs its process must cost that model only. Workers are
forked from a ``multiprocessing`` fork server that has imported torch, torchvision and
pybench once (seconds per model otherwise) and never computes anything itself, so no
OpenMP thread pool is ever forked. After every
model the merged result file is rewritten (to a temporary file, then renamed), so a run that
is interrupted -- Ctrl-C, a killed terminal -- keeps every model that finished; Ctrl-C also
keeps the repetitions the current model had finished (see :mod:`pybench.harness`).
"""
from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TextIO

from pybench import harness, models, noise
from pybench.results import schema
from pybench.progress import ProgressBar
from pybench.suites import cnn

__all__ = ["Plan", "run", "work_items", "ProgressBar"]

#: For the ETA before anything has finished: seconds per model that do not scale with FLOPs
#: (process start, model build, float64 reference), and the FLOP/s a whole model reaches as
#: a fraction of the measured FMA peak.
_OVERHEAD_S = 10.0
_PEAK_FRACTION = 0.3


@dataclass(frozen=True)
class Plan:
    """A cnn run: which models on which devices, measured with ``settings``."""

    models: tuple[str, ...]
    settings: cnn.Settings = cnn.Settings()
    devices: tuple[str, ...] = ("cpu",)
    #: The worker: ``"module:function"`` called as ``function(work_json, output, log,
    #: *worker_args)`` in a forked process; tests substitute one that injects faults.
    worker: str = "pybench.worker:child"
    worker_args: tuple[str, ...] = ()


def work_items(plan: Plan) -> list[cnn.Work]:
    return [cnn.Work(model=m, device=d, settings=plan.settings)
            for d in plan.devices for m in plan.models]


def _units(work: cnn.Work, flops_rate: float) -> float:
    """Predicted seconds of ``work``: the overhead plus every forward pass (validation,
    warm-up, repetitions, layer breakdown) at ``flops_rate``. Only ratios matter: the bar
    rescales by the time the finished models actually took."""
    spec = models.get(work.model)
    size = cnn.input_size(spec, work.settings.size) if spec.min_size else None
    flops = sum(spec.flops(b, size=size) for b in work.settings.batches)
    passes = work.settings.repetitions + 2 + (work.layer_passes if work.settings.layers else 0)
    return _OVERHEAD_S + flops * len(work.settings.backends) * passes / flops_rate


_CONTEXT = None


def _mp_context():
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["pybench.worker"])
    return _CONTEXT


def _target(spec: str) -> Callable[..., None]:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _tail(text: str, lines: int = 12) -> str:
    """The worker's traceback when it printed one, else the last ``lines`` of its output."""
    if "Traceback (most recent call last)" in text:
        text = text[text.rindex("Traceback (most recent call last)"):]
        return "\n".join(line for line in text.strip().splitlines()
                         if not line.startswith(("cnn/", "-----", "Benchmark ")))
    return "\n".join(text.strip().splitlines()[-lines:])


def run(plan: Plan, output: str | Path, *, context: dict[str, Any] | None = None,
        log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
        progress: TextIO | None = None) -> tuple[dict[str, Any], bool]:
    """Run ``plan``, rewriting ``output`` (a JSON path) after every model.

    Returns ``(document, interrupted)``. A KeyboardInterrupt stops the run after saving what
    finished (the worker running then is interrupted too and keeps its finished
    repetitions); it is not re-raised. Workers are ``multiprocessing`` processes: a script
    calling this must guard it with ``if __name__ == "__main__":``.
    """
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    items = work_items(plan)
    peak = (context or {}).get("peak") or {}
    rate = _PEAK_FRACTION * (peak.get("fma_flops") or 50e9)
    units = [_units(w, rate) for w in items]
    st = plan.settings
    extra = {"api_version": schema.API_VERSION, **(context or {}), "suite": "cnn",
             "models": list(plan.models), "batches": list(st.batches),
             "backends": list(st.backends), "devices": list(plan.devices),
             "threads": st.threads, "size": st.size, "repetitions": st.repetitions,
             "min_time_s": st.min_time, "warmup_s": st.warmup, "filter": st.filter,
             "tolerance": cnn.TOLERANCE, "reference_samples": cnn.REFERENCE_SAMPLES,
             "device_settings": {}, "cases": [], "failures": [], "layers": [],
             "layers_errors": {}, "conversion": {}, "onnx_export": {}, "interrupted": False, "complete": False}
    doc: dict[str, Any] = {"context": {**harness._bare_context(), "pybench": extra},
                           "benchmarks": []}
    have_gb_context = False
    schema.write(path, doc)
    bar = ProgressBar(sum(units), len(items), progress)
    target = _target(plan.worker)
    interrupted = False
    with tempfile.TemporaryDirectory(prefix="pybench-run-") as tmp:
        for i, (work, u) in enumerate(zip(items, units)):
            out = Path(tmp) / f"{i}.json"
            logfile = Path(tmp) / f"{i}.log"
            started = time.monotonic()
            clock = noise.snapshot()
            bar.show(f"{work.model} {work.device}")
            proc = _mp_context().Process(
                target=target, args=(work.to_json(), str(out), str(logfile), *plan.worker_args),
                name=f"pybench-{work.model}-{work.device}")
            try:
                proc.start()
                while proc.is_alive():
                    proc.join(0.5)
                    if bar.tty:
                        bar.show(f"{work.model} {work.device}",
                                 running_s=time.monotonic() - started)
            except KeyboardInterrupt:
                interrupted = True
                if proc.pid is not None and proc.is_alive():
                    os.kill(proc.pid, signal.SIGINT)
                proc.join(60)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
            returncode = proc.exitcode
            wall = time.monotonic() - started
            other = noise.other_busy_cpus(clock, noise.snapshot())
            output_text = logfile.read_text(errors="replace") if logfile.is_file() else ""
            case = {"model": work.model, "device": work.device, "returncode": returncode,
                    "wall_s": wall,
                    "other_busy_cpus": None if other is None else round(other, 3),
                    "busy": bool(noise.assess(other))}
            worker_doc = None
            if out.is_file():
                try:
                    worker_doc = schema.read(out)
                except ValueError:  # a worker killed mid-write leaves no valid document
                    worker_doc = None
            if worker_doc is not None:
                wextra = worker_doc["context"]["pybench"]
                if not have_gb_context and worker_doc["benchmarks"]:
                    gb = {k: v for k, v in worker_doc["context"].items() if k != "pybench"}
                    doc["context"] = {**gb, "pybench": extra}
                    have_gb_context = True
                doc["benchmarks"] += worker_doc["benchmarks"]
                extra["failures"] += wextra.get("failures", [])
                extra["layers"] += wextra.get("layers", [])
                extra["conversion"].update(wextra.get("conversion", {}))
                extra["onnx_export"].update(wextra.get("onnx_export", {}))
                extra["device_settings"][work.device] = wextra.get("device_settings", {})
                if wextra.get("layers_error"):
                    extra["layers_errors"][f"{work.model}/{work.device}"] = wextra["layers_error"]
                case["cpu_s"] = wextra.get("cpu_s")
                interrupted = interrupted or bool(wextra.get("interrupted"))
                case["status"] = "interrupted" if wextra.get("interrupted") else "done"
            else:
                stage = "interrupted" if interrupted or returncode == 130 else "worker"
                error = (schema.INTERRUPTED if stage == "interrupted" else
                         f"worker exited with status {returncode}: "
                         f"{_tail(output_text) or '(no output)'}")
                extra["failures"] += [harness.Failure(s, stage, error).describe()
                                      for s in cnn.planned_specs(work)]
                case["status"] = stage
                if stage == "worker":
                    log(f"pybench run: {work.model} on {work.device} failed "
                        f"(exit {returncode}); the run goes on\n{_tail(output_text, 6)}")
            extra["cases"].append(case)
            bar.advance(u)
            extra["interrupted"] = interrupted
            schema.write(path, doc)
            if interrupted:
                break
    extra["complete"] = not interrupted and len(extra["cases"]) == len(items)
    schema.write(path, doc)
    bar.show("interrupted" if interrupted else "done", final=True)
    return doc, interrupted
