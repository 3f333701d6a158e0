"""This machine's roofline: measured FP32 FMA peak and memory bandwidth.

Every "% of peak" pybench prints divides by these measured numbers, never by a data-sheet
figure: a shared or throttled host reaches less than its nominal peak, and the kernels are
judged against what the machine actually delivers.

- CPU FMA peak: pybench's FMA throughput loop (csrc/kernels/peak) of the active CPU ISA,
  on 1 thread and on ``threads`` threads at once; best of several runs, since
  interference only ever slows a run down.
- CPU bandwidth: a STREAM triad ``a = b + s * c`` over three 64 MiB arrays with PyTorch's
  threaded kernels, counted as STREAM does (3 x 4 bytes per element; write-allocate
  traffic not counted).
- GPU (when present): FP32 GEMM throughput of cuBLAS with TF32 off (an achievable roof,
  not the data-sheet one) and device-to-device copy bandwidth (2 x bytes).
"""
from __future__ import annotations

import os
import time
from typing import Any

import torch

from pybench import ops

__all__ = ["measure", "cpu_fma_peak", "cpu_triad_bandwidth"]


def cpu_fma_peak(threads: int, *, seconds: float = 0.05, runs: int = 5) -> float:
    """FP32 FLOP/s of the FMA loop on ``threads`` threads at once (best of ``runs``)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        iterations = 1 << 16
        while True:  # size one run to about `seconds`
            start = time.perf_counter()
            torch.ops.pybench.fma_peak_run(iterations, threads)
            if time.perf_counter() - start >= seconds / 4 or iterations >= 1 << 30:
                break
            iterations *= 4
        best = 0.0
        for _ in range(runs):
            start = time.perf_counter()
            flops = torch.ops.pybench.fma_peak_run(iterations, threads)
            best = max(best, flops / (time.perf_counter() - start))
        return best
    finally:
        torch.set_num_threads(previous)


def cpu_triad_bandwidth(threads: int, *, mib: int = 64, runs: int = 5) -> float:
    """STREAM-triad bytes/s with PyTorch's kernels on ``threads`` threads (best of ``runs``)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        n = mib * (1 << 20) // 4
        a, b, c = torch.empty(n), torch.randn(n), torch.randn(n)
        torch.add(b, c, alpha=3.0, out=a)
        best = 0.0
        for _ in range(runs):
            start = time.perf_counter()
            torch.add(b, c, alpha=3.0, out=a)
            best = max(best, 3 * 4 * n / (time.perf_counter() - start))
        return best
    finally:
        torch.set_num_threads(previous)


def _gpu(device: str) -> dict[str, Any]:
    dev = torch.device(device)
    allow = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        n = 4096
        a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
        x = torch.empty(64 << 20, device=dev, dtype=torch.uint8)
        y = torch.empty_like(x)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

        def best(fn, work: float) -> float:
            fn()
            rates = []
            for _ in range(5):
                start.record()
                fn()
                end.record()
                end.synchronize()
                rates.append(work / (start.elapsed_time(end) * 1e-3))
            return max(rates)

        return {"name": torch.cuda.get_device_name(dev),
                "fp32_gemm_flops": best(lambda: a @ b, 2.0 * n ** 3),
                "copy_bytes_per_s": best(lambda: y.copy_(x), 2.0 * x.numel())}
    finally:
        torch.backends.cuda.matmul.allow_tf32 = allow


def measure(threads: int | None = None, *, gpu: bool = True) -> dict[str, Any]:
    """The roofline numbers stored in every result file's fingerprint (``peak``).

    Keys: ``cpu_isa``, ``threads``, ``fma_flops_1_thread``, ``fma_flops``
    (``threads`` at once), ``triad_bytes_per_s``, and ``cuda`` (a dict, or a string saying
    why there is none).
    """
    threads = threads or len(os.sched_getaffinity(0))
    result: dict[str, Any] = {
        "cpu_isa": ops.cpu_isa(), "threads": threads,
        "fma_flops_1_thread": cpu_fma_peak(1),
        "fma_flops": cpu_fma_peak(threads),
        "triad_bytes_per_s": cpu_triad_bandwidth(threads),
    }
    if gpu and torch.cuda.is_available():
        result["cuda"] = _gpu("cuda")
    else:
        result["cuda"] = "no CUDA device"
    return result
