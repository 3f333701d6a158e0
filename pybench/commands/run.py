"""``pybench run``: validate then time a suite, write results/<suite>-<timestamp>.json.

``--suite cnn`` (the main job) runs whole models -- one worker process per model, results
rewritten after each -- and ends by writing the report (CSV, Markdown, HTML with plots) next
to the JSON; ``--models``, ``--batch``, ``--backends`` and ``--size`` apply to it."""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import Any

import torch

from pybench import harness, models, peak, suites
from pybench.commands.common_args import csv_of, positive_int, regex, seconds
from pybench.machine import machine_info
from pybench.suites import cnn
from pybench.results import schema
from pybench.results.store import DEFAULT_DIR as DEFAULT_HISTORY

QUICK_CASES = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="benchmark a suite against PyTorch", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", required=True, choices=suites.names())
    p.add_argument("--device", choices=("cpu", "cuda", "all"),
                   help="default: cpu, plus cuda when a CUDA device is available")
    p.add_argument("--threads", type=positive_int,
                   help="torch.set_num_threads for every implementation (default: all cores)")
    p.add_argument("--repetitions", type=positive_int,
                   help="interleaved samples per benchmark (default 5; 3 with --quick)")
    p.add_argument("--min-time", type=seconds,
                   help="seconds of calls per repetition (default 0.1; 0.01 with --quick)")
    p.add_argument("--warmup", type=seconds,
                   help="seconds of untimed calls before the first repetition (default 0.05)")
    p.add_argument("--out", "--output", dest="output", default="results", metavar="DIR",
                   help="directory for the JSON (and the cnn report) (default results/)")
    p.add_argument("--filter", type=regex,
                   help="only benchmarks whose name <suite>/<case>/<impl>/<device> matches")
    p.add_argument("--quick", action="store_true",
                   help=f"the first {QUICK_CASES} cases (cnn: one model per family at "
                        f"{cnn.QUICK_SIZE}x{cnn.QUICK_SIZE} where the model allows), fewer "
                        f"and shorter repetitions (CI)")
    g = p.add_argument_group("cnn suite")
    g.add_argument("--models", type=csv_of("model", str, models.names()),
                   help="comma-separated models (default: all; see `pybench list`)")
    g.add_argument("--batch", type=csv_of("batch", positive_int),
                   help="comma-separated batch sizes (default 1,8)")
    g.add_argument("--backends", type=csv_of("backend", str, cnn.BACKENDS),
                   help=f"comma-separated, of {', '.join(cnn.BACKENDS)} "
                        f"(default {','.join(cnn.DEFAULT_BACKENDS)}; torch is always kept as "
                        f"the baseline)")
    g.add_argument("--choose", choices=("measure", "all"),
                   help="which layers the pybench backend swaps: measure (default: per layer "
                        "and batch, the faster of pybench and PyTorch, timed on this machine "
                        "and cached on disk) or all (every layer pybench supports)")
    g.add_argument("--size", type=positive_int,
                   help="input H = W for the models that take other sizes (raised to each "
                        "model's minimum; default: the native 224, 64 with --quick)")
    g.add_argument("--no-layers", dest="layers", action="store_false",
                   help="skip the per-layer breakdown")
    g.add_argument("--no-report", dest="report", action="store_false",
                   help="write the JSON only, no CSV / Markdown / HTML report")
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
    cnn_only = [f"--{n}" for n in ("models", "batch", "backends", "size", "choose")
                if getattr(args, n) is not None]
    if args.suite == "cnn":
        return run_cnn(args)
    if cnn_only:
        raise SystemExit(f"pybench run: error: {', '.join(cnn_only)} only apply to --suite cnn")
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
        output=schema.result_path(args.output, suite.name), context=context)
    print()
    print(report.format_table())
    print(f"\nresults: {report.path}")
    if args.history:
        from pybench.results import store
        print(f"history: {store.record(report.document, args.history)}")
    return 1 if report.failures else 0


def run_cnn(args: argparse.Namespace) -> int:
    """The cnn suite through :mod:`pybench.runner`; exit 0 all ok, 1 some case failed,
    2 nothing to run, 130 interrupted (results kept)."""
    from pybench import runner
    from pybench.analysis import report

    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    devices = _devices(args.device)
    names = args.models or (cnn.QUICK_MODELS if args.quick else tuple(models.names()))
    settings = cnn.Settings.resolve(
        quick=args.quick, batches=args.batch, backends=args.backends, size=args.size,
        threads=threads, repetitions=args.repetitions, min_time=args.min_time,
        warmup=args.warmup, filter=args.filter.pattern if args.filter else None,
        layers=args.layers, choose=args.choose)
    plan = runner.Plan(models=tuple(names), settings=settings, devices=tuple(devices))
    if args.filter is not None:
        wanted = [w for w in runner.work_items(plan)
                  if any(args.filter.search(cnn.spec_name(w.model, b, cnn.input_size(
                      models.get(w.model), settings.size), k, w.device))
                         for b in settings.batches for k in settings.backends)]
        if not wanted:
            print("pybench run: no benchmark matches the filter", file=sys.stderr)
            return 2
        keep = dict.fromkeys(w.model for w in wanted)
        plan = dataclasses.replace(plan, models=tuple(keep))
    print(f"pybench: suite 'cnn': {len(plan.models)} models x batch "
          f"{','.join(map(str, settings.batches))} x {','.join(settings.backends)} on "
          f"{', '.join(devices)} ({threads} threads); measuring the roofline", flush=True)
    context = {"quick": args.quick, "command": ["pybench", *sys.argv[1:]],
               "fingerprint": machine_info(), "peak": peak.measure(threads, gpu="cuda" in devices)}
    path = schema.result_path(args.output, "cnn")
    doc, interrupted = runner.run(plan, path, context=context)
    if not interrupted:
        # Measured again at the end, best of both kept: on a shared machine one measurement
        # can land in a busy phase and make "% of peak" exceed 100.
        end = peak.measure(threads, gpu="cuda" in devices)
        extra = doc["context"]["pybench"]
        extra["peak_runs"] = [context["peak"], end]
        extra["peak"] = _best_peak(context["peak"], end)
        schema.write(path, doc)
    print(f"\nresults: {path}" + ("  (interrupted: partial)" if interrupted else ""))
    if args.report:
        written = report.write(path)
        print(report.console_summary(path))
        print(f"report: {written['html']}")
    if args.history:
        from pybench.results import store
        print(f"history: {store.record(doc, args.history)}")
    if interrupted:
        return 130
    return 1 if doc["context"]["pybench"]["failures"] else 0


def _best_peak(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Key by key the larger of two peak.measure results (interference only slows)."""
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, (int, float)) and isinstance(a.get(key), (int, float)):
            out[key] = max(a[key], value)
        elif isinstance(value, dict) and isinstance(a.get(key), dict):
            out[key] = _best_peak(a[key], value)
    return out
