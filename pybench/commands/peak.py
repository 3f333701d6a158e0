"""``pybench peak``: measure this machine's FP32 FMA peak and memory bandwidth (the roofline
that every "% of peak" divides by); ``pybench run`` measures and stores the same numbers."""
from __future__ import annotations

import argparse
import json
import os

from pybench.commands import SUMMARY
from pybench import peak
from pybench.commands.common_args import threads, warn_threads


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("peak", help=SUMMARY["peak"],
                              description=__doc__)
    p.add_argument("--threads", type=threads, help="threads for the all-core numbers "
                   "(default: all cores; at most 4 per core)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    warn_threads("peak", args.threads)
    result = peak.measure(args.threads or len(os.sched_getaffinity(0)))
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    t = result["threads"]
    print(f"CPU ISA               {result['cpu_isa']}")
    print(f"FP32 FMA, 1 thread    {result['fma_flops_1_thread'] / 1e9:8.1f} GFLOP/s")
    print(f"FP32 FMA, {t} threads{' ' * (3 - len(str(t)))}  {result['fma_flops'] / 1e9:8.1f} GFLOP/s")
    print(f"STREAM triad, {t} thr{' ' * (3 - len(str(t)))}  {result['triad_bytes_per_s'] / 1e9:8.1f} GB/s")
    cuda = result["cuda"]
    if isinstance(cuda, dict):
        print(f"GPU                   {cuda['name']}")
        print(f"  FP32 GEMM (cuBLAS)  {cuda['fp32_gemm_flops'] / 1e9:8.1f} GFLOP/s")
        print(f"  copy bandwidth      {cuda['copy_bytes_per_s'] / 1e9:8.1f} GB/s")
    else:
        print(f"GPU                   {cuda}")
    return 0
