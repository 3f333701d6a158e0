"""``pybench run``: validate then time a suite, write results/<suite>-<timestamp>.json.

``--suite cnn`` (the main job) runs whole models -- one worker process per model, results
rewritten after each -- and ends by writing the report (CSV, Markdown, HTML with plots) next
to the JSON; ``--models``, ``--batch``, ``--backends`` and ``--size`` apply to it."""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import textwrap
from typing import Any

import torch

from pybench.commands import SUMMARY
from pybench import allocator, harness, models, noise, peak, suites
from pybench.commands.common_args import (batch, csv_of, effect, fail, image_size, path_text,
                                          regex, repetitions, seconds, threads, warn_threads,
                                          writable_dir)
from pybench.machine import machine_info
from pybench.suites import cnn
from pybench.results import schema
from pybench.results.store import DEFAULT_DIR as DEFAULT_HISTORY

QUICK_CASES = 3
DEFAULT_MAX_REPETITIONS = 30


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help=SUMMARY["run"], description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", required=True, choices=suites.names())
    p.add_argument("--device", choices=("cpu", "cuda", "all"),
                   help="default: cpu, plus cuda when a CUDA device is available")
    p.add_argument("--threads", type=threads,
                   help="torch.set_num_threads for every implementation (default: all cores; "
                        "at most 4 per core, with a warning past the core count)")
    p.add_argument("--repetitions", type=repetitions,
                   help="interleaved samples per benchmark (default 5; 3 with --quick)")
    p.add_argument("--target-ci", type=effect, metavar="PCT",
                   help="kernel suites: repeat each benchmark until the 95%% confidence "
                        "interval of its median is within PCT of it (e.g. 2%%), at least "
                        "--repetitions and at most --max-repetitions times")
    p.add_argument("--max-repetitions", type=repetitions, metavar="N",
                   help="with --target-ci: the most repetitions of one benchmark "
                        f"(default {DEFAULT_MAX_REPETITIONS})")
    p.add_argument("--min-time", type=seconds,
                   help="seconds of calls per repetition (default 0.1; 0.01 with --quick)")
    p.add_argument("--warmup", type=seconds,
                   help="seconds of untimed calls before the first repetition (default 0.05)")
    p.add_argument("--out", "--output", dest="output", default="results", metavar="DIR",
                   type=path_text,
                   help="directory for the JSON (and the cnn report) (default results/)")
    p.add_argument("--filter", type=regex,
                   help="only benchmarks whose name <suite>/<case>/<impl>/<device> matches")
    p.add_argument("--verbose", action="store_true",
                   help="also print Google Benchmark's own console rows (kernel suites); "
                        "pybench's table and the progress bar are printed either way")
    p.add_argument("--quick", action="store_true",
                   help=f"the first {QUICK_CASES} cases (cnn: one model per family at "
                        f"{cnn.QUICK_SIZE}x{cnn.QUICK_SIZE} where the model allows), fewer "
                        f"and shorter repetitions (CI)")
    g = p.add_argument_group("cnn suite")
    g.add_argument("--models", type=csv_of("model", str, models.names()),
                   help="comma-separated models (default: all; see `pybench list`)")
    g.add_argument("--batch", type=csv_of("batch", batch),
                   help="comma-separated batch sizes (default 1,8)")
    g.add_argument("--backends", type=csv_of("backend", str, cnn.BACKENDS),
                   help=f"comma-separated, of {', '.join(cnn.BACKENDS)} "
                        f"(default {','.join(cnn.DEFAULT_BACKENDS)}; torch is always kept as "
                        f"the baseline)")
    g.add_argument("--choose", choices=("measure", "all"),
                   help="which layers the pybench backend swaps: measure (default: per layer "
                        "and batch, the faster of pybench and PyTorch, timed on this machine "
                        "and cached on disk) or all (every layer pybench supports)")
    g.add_argument("--layout", choices=("auto", "nchwc", "nchw"),
                   help="how the pybench backend converts models on the CPU: auto (default: "
                        "both of the others, per batch, timed against each other, the faster "
                        "kept), nchwc (activations kept in channel blocks between pybench "
                        "layers, epilogues fused; --choose does not apply) or nchw (layers "
                        "swapped in place)")
    g.add_argument("--size", type=image_size,
                   help="input H = W for the models that take other sizes (raised to each "
                        "model's minimum; default: the native 224, 64 with --quick)")
    g.add_argument("--no-layers", dest="layers", action="store_false",
                   help="skip the per-layer breakdown")
    g.add_argument("--no-report", dest="report", action="store_false",
                   help="write the JSON only, no CSV / Markdown / HTML report")
    p.add_argument("--allocator", choices=allocator.POLICIES,
                   help="keep (the kernel suites' default): glibc keeps freed memory mapped, so "
                        "each call's output reuses warm pages, as benchdnn times kernels on "
                        "buffers allocated once; system (the cnn suite's default): glibc's "
                        "defaults, under which large outputs are page-faulted in afresh on "
                        "every call, in every implementation alike")
    p.add_argument("--history", nargs="?", const=DEFAULT_HISTORY, metavar="DIR", type=path_text,
                   help=f"also record the results in a history directory (default "
                   f"{DEFAULT_HISTORY}; see pybench history)")
    p.set_defaults(func=run)


def _devices(choice: str | None) -> list[str]:
    cuda = torch.cuda.is_available()
    if choice == "cuda" and not cuda:
        raise ValueError("--device cuda but no CUDA device is available")
    if choice == "cpu" or (choice is None and not cuda):
        return ["cpu"]
    if choice == "cuda":
        return ["cuda"]
    if not cuda:
        print("pybench run: no CUDA device; running the CPU only", file=sys.stderr)
        return ["cpu"]
    return ["cpu", "cuda"]


def _max_repetitions(args: argparse.Namespace) -> int:
    return args.max_repetitions or DEFAULT_MAX_REPETITIONS


def _check(args: argparse.Namespace) -> list[str]:
    """What argparse could not check, before any work: flags that do not apply, the
    devices, and that the output and history directories can be written (the results are
    written there only after minutes of measuring). Returns the devices; ValueError else."""
    cnn_only = [f"--{n}" for n in ("models", "batch", "backends", "size", "choose", "layout")
                if getattr(args, n) is not None]
    if args.suite != "cnn" and cnn_only:
        raise ValueError(f"{', '.join(cnn_only)} only apply to --suite cnn")
    if args.target_ci is not None and args.suite == "cnn":
        raise ValueError("--target-ci applies to the kernel suites; the cnn suite's workers "
                         "take --repetitions")
    if args.max_repetitions is not None and args.target_ci is None:
        raise ValueError("--max-repetitions only applies with --target-ci")
    if args.target_ci is not None and (args.repetitions or 0) > _max_repetitions(args):
        raise ValueError(f"--repetitions {args.repetitions} is more than --max-repetitions "
                         f"{_max_repetitions(args)}")
    devices = _devices(args.device)
    writable_dir(args.output, "--out")
    if args.history:
        writable_dir(args.history, "--history")
    return devices


def run(args: argparse.Namespace) -> int:
    try:
        devices = _check(args)
    except ValueError as exc:
        return fail("run", exc)
    # Before anything is printed: `keep` restarts the process (pybench.allocator).
    memory = _allocator(args)
    warn_threads("run", args.threads)
    if args.suite == "cnn":
        return run_cnn(args, devices, memory)
    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    suite = suites.get(args.suite)
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

    machine = _sample_before()
    roofline = peak.measure(threads, gpu="cuda" in devices)
    context = {"suite": suite.name, "devices": devices, "threads": threads, "quick": args.quick,
               "filter": args.filter.pattern if args.filter else None,
               "command": ["pybench", *sys.argv[1:]], "fingerprint": machine_info(),
               "peak": roofline, "noise": machine, "allocator": memory}
    print(f"pybench: validating {len(specs)} benchmarks of suite {suite.name!r} "
          f"({', '.join(devices)}, {threads} threads)", flush=True)
    from pybench.progress import ProgressBar
    target = None
    if args.target_ci is not None:
        target = harness.TargetCI(args.target_ci, repetitions, _max_repetitions(args))
    rounds = target.max_repetitions if target is not None else repetitions
    # One unit per validation and per timed (or skipped, with --target-ci) repetition.
    # On a duplicate of stderr: Google Benchmark's run silences file descriptor 2 itself.
    bar = ProgressBar(len(specs) * (1 + rounds), len(specs) * (1 + rounds),
                      stream=os.fdopen(os.dup(2), "w", closefd=True))
    try:
        report = harness.run_benchmarks(
            specs, repetitions=repetitions, min_time=min_time, warmup=warmup,
            output=schema.result_path(args.output, suite.name), context=context,
            console=args.verbose, progress=bar, target_ci=target)
    except OSError as exc:  # the output vanished during the run; saved elsewhere
        return fail("run", exc)
    # The results are on disk: what follows may fail and say so, but loses nothing.
    _sample_after(report.document)
    _remeasure_peak(report.document, threads, devices)
    schema.write(report.path, report.document)
    print()
    print(report.format_table())
    if target is not None:
        print(textwrap.fill(_adaptive_summary(report, target), 120, subsequent_indent="  "))
    for line in noise.run_summary(report.document["context"]["pybench"]["noise"]):
        print(textwrap.fill(line, 120, subsequent_indent="  "))
    print(f"\nresults: {report.path}")
    status = 1 if report.failures else 0
    if args.history:
        status = _record_history(report.document, args.history, status)
    return status


def _adaptive_summary(report: harness.Report, target: harness.TargetCI) -> str:
    """One line: how many benchmarks reached --target-ci, in how many repetitions."""
    from pybench.results import stats
    counts = {m.spec.name: len(m.samples) for m in report.measurements}
    missed = sorted(m.spec.name for m in report.measurements
                    if not stats.median_ci_rel(m.samples, target.level) <= target.target)
    lo, hi = (min(counts.values()), max(counts.values())) if counts else (0, 0)
    span = str(lo) if lo == hi else f"{lo}-{hi}"
    text = (f"--target-ci {target.target:.1%}: {len(counts) - len(missed)} of {len(counts)} "
            f"benchmarks reached it ({target.level:.0%} CI of the median) in {span} "
            f"repetitions")
    if missed:
        text += (f"; {len(missed)} stopped at --max-repetitions {target.max_repetitions} "
                 f"without: {', '.join(missed)}")
    return text


def _sample_before() -> dict[str, Any]:
    """The result file's ``noise`` record, holding the machine just before a run
    (pybench idle), warned about on stderr if busy."""
    s = noise.sample(0.5)
    text = noise.warning("before the run", s)
    if text:
        print(text, file=sys.stderr, flush=True)
    return {"before": s, **noise.thresholds()}


def _sample_after(doc: dict[str, Any]) -> None:
    """Adds the machine right after the run to ``doc`` (the caller writes it; the load
    average still holds pybench's own threads, so only the other processes' CPUs count)."""
    s = noise.sample(0.3, use_load=False)
    doc["context"]["pybench"].setdefault("noise", {})["after"] = s
    text = noise.warning("after the run", s)
    if text:
        print(text, file=sys.stderr, flush=True)


def _record_history(doc: dict[str, Any], history: str, status: int) -> int:
    from pybench.results import store
    try:
        print(f"history: {store.record(doc, history)}")
    except (OSError, ValueError) as exc:
        return fail("run", f"--history: {exc} (the results file above is complete)")
    return status


def _allocator(args: argparse.Namespace) -> dict[str, Any]:
    """Applies --allocator (default: keep for the kernel suites, system for cnn) and
    prints what runs; the record goes into the result file."""
    policy = args.allocator or ("system" if args.suite == "cnn" else "keep")
    record = allocator.apply(policy)
    print(f"pybench: {allocator.describe(record)}", flush=True)
    return record


def run_cnn(args: argparse.Namespace, devices: list[str], memory: dict[str, Any]) -> int:
    """The cnn suite through :mod:`pybench.runner`; exit 0 all ok, 1 some case failed,
    2 nothing to run or a later step (report, history) failed, 130 interrupted (results
    kept)."""
    from pybench import runner
    from pybench.analysis import report

    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    names = args.models or (cnn.QUICK_MODELS if args.quick else tuple(models.names()))
    settings = cnn.Settings.resolve(
        quick=args.quick, batches=args.batch, backends=args.backends, size=args.size,
        threads=threads, repetitions=args.repetitions, min_time=args.min_time,
        warmup=args.warmup, filter=args.filter.pattern if args.filter else None,
        layers=args.layers, choose=args.choose, layout=args.layout)
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
    machine = _sample_before()
    context = {"quick": args.quick, "command": ["pybench", *sys.argv[1:]],
               "fingerprint": machine_info(), "peak": peak.measure(threads, gpu="cuda" in devices),
               "noise": machine, "allocator": memory}
    path = schema.result_path(args.output, "cnn")
    doc, interrupted = runner.run(plan, path, context=context)
    _sample_after(doc)
    if not interrupted:
        _remeasure_peak(doc, threads, devices)
    schema.write(path, doc)
    busy = [c["model"] for c in doc["context"]["pybench"]["cases"] if c.get("busy")]
    if busy:
        print(f"pybench: warning: other processes kept CPUs busy while {', '.join(busy)} "
              f"ran; those timings are marked busy in the report", file=sys.stderr)
    print(f"\nresults: {path}" + ("  (interrupted: partial)" if interrupted else ""))
    status = 130 if interrupted else 1 if doc["context"]["pybench"]["failures"] else 0
    # The results are on disk: a failing report or history says so and loses nothing.
    if args.report:
        try:
            written = report.write(path)
            print(report.console_summary(path))
            print(f"report: {written['html']}")
        except (OSError, ValueError) as exc:
            status = fail("run", f"report: {exc} (the results file above is complete)")
    if args.history:
        recorded = _record_history(doc, args.history, status)
        status = 130 if interrupted else recorded
    return status


def _remeasure_peak(doc: dict[str, Any], threads: int, devices: list[str]) -> None:
    """Measures the roofline again at the end and keeps the best of both: on a shared
    machine one measurement can land in a busy phase (a kernel suite's 2-thread FMA peak
    once came out at the 1-thread figure) and make "% of peak" exceed 100."""
    extra = doc["context"]["pybench"]
    start = extra["peak"]
    end = peak.measure(threads, gpu="cuda" in devices)
    extra["peak_runs"] = [start, end]
    extra["peak"] = _best_peak(start, end)


def _best_peak(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Key by key the larger of two peak.measure results (interference only slows)."""
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, (int, float)) and isinstance(a.get(key), (int, float)):
            out[key] = max(a[key], value)
        elif isinstance(value, dict) and isinstance(a.get(key), dict):
            out[key] = _best_peak(a[key], value)
    return out
