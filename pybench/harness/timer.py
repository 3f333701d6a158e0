"""Timing through Google Benchmark: one registered benchmark per valid spec (manual time:
``time.perf_counter`` on the CPU, CUDA events on the GPU), one run per process."""
from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Protocol

import google_benchmark as benchmark
import torch

from pybench.harness.spec import BenchmarkSpec
from pybench.results.schema import INTERRUPTED


#: Google Benchmark time units in seconds.
TIME_UNIT_S = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
#: Seconds a ``rewarm`` CPU spec waits before its untimed call: the spec run before may
#: leave a thread pool spinning, and ONNX Runtime's intra-op pool spins for tens of ms
#: after a call (2 threads, idle machine, MobileNet-v2 through pybench right after ONNX
#: Runtime: 16.6, 15.0, 14.8, 10.7, then 6.9 ms a call; after a 200 ms pause a cold 13.5,
#: then 7.5, 7.0). OpenMP's workers (torch, pybench) spin for about a millisecond.
SETTLE_S = 0.1
#: The error message of a repetition skipped because its benchmark had enough (``Stop``).
ENOUGH = "pybench: enough repetitions (--target-ci reached)"
_ran = False
_interrupted = False


def _timer(device: str) -> Callable[[Callable[[], Any]], float]:
    """Seconds one call takes: perf_counter on the CPU; CUDA events on the device's current
    stream (then synchronize), which excludes Python launch overhead between the events."""
    if not device.startswith("cuda"):
        def time_cpu(fn: Callable[[], Any]) -> float:
            start = time.perf_counter()
            fn()
            return time.perf_counter() - start
        return time_cpu

    dev = torch.device(device)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def time_cuda(fn: Callable[[], Any]) -> float:
        stream = torch.cuda.current_stream(dev)
        start.record(stream)
        fn()
        end.record(stream)
        end.synchronize()
        return start.elapsed_time(end) * 1e-3
    return time_cuda


class Stop(Protocol):
    """When to stop repeating a benchmark (``pybench run --target-ci``)."""

    def add(self, name: str, seconds_per_call: float) -> None:
        """One more repetition of benchmark ``name`` was timed."""

    def enough(self, name: str) -> bool:
        """Whether ``name`` needs no more repetitions."""


def register(spec: BenchmarkSpec, run: Callable[[], Any], warmup: float,
             on_repetition: Callable[[BenchmarkSpec], None] | None = None,
             min_time: float = 0.0, stop: Stop | None = None) -> None:
    """Register ``run`` as ``spec``'s benchmark. ``on_repetition(spec)`` is called after
    each call of the benchmark that reached ``min_time`` of timed calls: Google Benchmark
    also calls it with fewer iterations while it sizes a repetition, and those runs are
    not repetitions. ``stop``: once ``stop.enough(spec.name)``, the remaining repetitions
    end at once as errors saying :data:`ENOUGH` (Google Benchmark's repetition count is
    fixed when it starts; its Python bindings have no other way to skip), which
    run_benchmarks removes from the results."""
    time_call = _timer(spec.device)
    rate = benchmark.Counter.kIsIterationInvariantRate

    def bench(state: benchmark.State) -> None:
        global _interrupted
        # A KeyboardInterrupt must not unwind through Google Benchmark's C++ runner: the
        # benchmark that sees it, and every one after it, ends as an error, the run returns
        # normally and run_benchmarks writes what had finished.
        if _interrupted:
            state.skip_with_error(INTERRUPTED)
            return
        if stop is not None and stop.enough(spec.name):
            state.skip_with_error(ENOUGH)
            if on_repetition is not None:
                on_repetition(spec)
            return
        try:
            if spec.rewarm:
                if not spec.device.startswith("cuda"):
                    time.sleep(SETTLE_S)
                run()
            if spec.device.startswith("cuda"):
                torch.cuda.synchronize(spec.device)
            timed = 0.0
            while state:
                t = time_call(run)
                timed += t
                state.set_iteration_time(t)
        except KeyboardInterrupt:
            _interrupted = True
            state.skip_with_error(INTERRUPTED)
            return
        except Exception as exc:  # noqa: BLE001 -- reported by Google Benchmark as an error
            state.skip_with_error(f"{type(exc).__name__}: {exc}")
            return
        state.counters["FLOP/s"] = benchmark.Counter(spec.flops, rate)
        state.counters["bytes/s"] = benchmark.Counter(spec.bytes, rate)
        if spec.images:
            state.counters["images/s"] = benchmark.Counter(spec.images, rate)
        if timed >= min_time:
            if stop is not None:
                stop.add(spec.name, timed / max(state.iterations, 1))
            if on_repetition is not None:
                on_repetition(spec)

    options = benchmark.option.use_manual_time()(benchmark.option.unit(benchmark.kMillisecond)(bench))
    if warmup > 0:
        options = benchmark.option.min_warmup_time(warmup)(options)
    benchmark.register(options, name=spec.name)


def gb_run(argv: list[str], console: bool = True) -> dict[str, Any]:
    """One Google Benchmark run; its JSON goes to a file and is returned. ``console=False``
    silences its console reporter (the context header and the raw mean / median / stddev /
    cv rows, written by C++ straight to file descriptors 2 and 1): pybench prints its own
    table."""
    global _ran
    if _ran:
        raise RuntimeError("google_benchmark runs once per process; use a subprocess")
    _ran = True
    with tempfile.TemporaryDirectory(prefix="pybench-") as tmp:
        raw = Path(tmp) / "gb.json"
        argv = [sys.argv[0] or "pybench", *argv, f"--benchmark_out={raw}",
                "--benchmark_out_format=json"]
        unparsed = benchmark.initialize(argv)
        if len(unparsed) > 1:
            raise ValueError(f"google_benchmark did not accept {unparsed[1:]}")
        sys.stdout.flush()
        sys.stderr.flush()
        saved = []
        if not console:
            # Its context header goes to stderr, its rows to stdout: both silenced, so a
            # progress bar must write to its own duplicate of stderr (pybench run's does).
            devnull = os.open(os.devnull, os.O_WRONLY)
            for fd in (1, 2):
                saved.append((fd, os.dup(fd)))
                os.dup2(devnull, fd)
            os.close(devnull)
        try:
            benchmark.run_benchmarks()
            sys.stdout.flush()
        finally:
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)
        return json.loads(raw.read_text())  # Google Benchmark may write bare NaN


def interrupted() -> bool:
    """Whether a Ctrl-C cut this process's run short (every benchmark after it errored)."""
    return _interrupted


def _bare_context() -> dict[str, Any]:
    """Context in Google Benchmark's layout, for a run with nothing to time."""
    return {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "host_name": socket.gethostname(), "executable": sys.argv[0],
            "num_cpus": os.cpu_count(), "library_version": benchmark.__version__,
            "json_schema_version": 1}
