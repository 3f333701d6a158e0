"""``pybench run``: validate then time a suite, write results/<suite>-<timestamp>.json."""
from __future__ import annotations

import argparse
import os
import re
import sys

import torch

from pybench import harness, peak, suites
from pybench.commands.info import machine_info
from pybench.history import DEFAULT_DIR as DEFAULT_HISTORY

QUICK_CASES = 3


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _seconds(text: str) -> float:
    value = float(text.removesuffix("s"))
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text}")
    return value


def _regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"bad regex {text!r}: {exc}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="benchmark a suite against PyTorch", description=__doc__)
    p.add_argument("--suite", required=True, choices=suites.names())
    p.add_argument("--device", choices=("cpu", "cuda", "all"),
                   help="default: cpu, plus cuda when a CUDA device is available")
    p.add_argument("--threads", type=positive_int,
                   help="torch.set_num_threads for every implementation (default: all cores)")
    p.add_argument("--repetitions", type=positive_int,
                   help="interleaved samples per benchmark (default 5; 3 with --quick)")
    p.add_argument("--min-time", type=_seconds,
                   help="seconds of calls per repetition (default 0.1; 0.01 with --quick)")
    p.add_argument("--warmup", type=_seconds,
                   help="seconds of untimed calls before the first repetition (default 0.05)")
    p.add_argument("--output", default="results", help="directory for the JSON (default results/)")
    p.add_argument("--filter", type=_regex,
                   help="only benchmarks whose name <suite>/<case>/<impl>/<device> matches")
    p.add_argument("--quick", action="store_true",
                   help=f"the first {QUICK_CASES} cases, fewer and shorter repetitions (CI)")
    p.add_argument("--history", nargs="?", const=DEFAULT_HISTORY, metavar="DIR",
                   help=f"also record the results in a history directory (default "
                   f"{DEFAULT_HISTORY}; see pybench history)")
    p.set_defaults(func=run)


def _devices(choice: str | None) -> list[str]:
    cuda = torch.cuda.is_available()
    if choice == "cuda" and not cuda:
        raise SystemExit("pybench run: --device cuda but no CUDA device is available")
    if choice == "cpu" or (choice is None and not cuda):
        return ["cpu"]
    if choice == "cuda":
        return ["cuda"]
    if not cuda:
        print("pybench run: no CUDA device; running the CPU only", file=sys.stderr)
        return ["cpu"]
    return ["cpu", "cuda"]


def run(args: argparse.Namespace) -> int:
    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    suite = suites.get(args.suite)
    devices = _devices(args.device)
    repetitions = args.repetitions or (3 if args.quick else 5)
    min_time = args.min_time if args.min_time is not None else (0.01 if args.quick else 0.1)
    warmup = args.warmup if args.warmup is not None else 0.05

    cases = suite.cases()[:QUICK_CASES] if args.quick else suite.cases()
    specs = [spec for device in devices for case in cases
             for spec in suite.specs(case, device=device, threads=threads)
             if args.filter is None or args.filter.search(spec.name)]
    if not specs:
        print("pybench run: no benchmark matches the filter", file=sys.stderr)
        return 2

    roofline = peak.measure(threads, gpu="cuda" in devices)
    context = {"suite": suite.name, "devices": devices, "threads": threads, "quick": args.quick,
               "filter": args.filter.pattern if args.filter else None,
               "command": ["pybench", *sys.argv[1:]], "fingerprint": machine_info(),
               "peak": roofline}
    print(f"pybench: validating {len(specs)} benchmarks of suite {suite.name!r} "
          f"({', '.join(devices)}, {threads} threads)", flush=True)
    report = harness.run_benchmarks(
        specs, repetitions=repetitions, min_time=min_time, warmup=warmup,
        output=harness.result_path(args.output, suite.name), context=context)
    print()
    print(report.format_table())
    print(f"\nresults: {report.path}")
    if args.history:
        from pybench import history
        print(f"history: {history.record(report.document, args.history)}")
    return 1 if report.failures else 0
