"""``pybench compare BASE NEW``: the statistical regression gate (see pybench.analysis.compare).

BASE and NEW are result files or history directories (all runs under one are pooled).
Exit status: 0 no significant regression, 1 at least one benchmark significantly slower
by more than the minimum effect (with ``--fail-on regression``, the default), 2 bad
input or nothing in common to compare.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

from pybench.commands import SUMMARY
from pybench.analysis import compare as cmp
from pybench.commands.common_args import effect, fail, open_fraction, path_text, writable_file
from pybench.results import schema


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("compare", help=SUMMARY["compare"], description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("base", metavar="BASE", type=path_text,
                   help="result JSON file or history directory")
    p.add_argument("new", metavar="NEW", type=path_text,
                   help="result JSON file or history directory")
    p.add_argument("--alpha", type=open_fraction, help="significance level of the Mann-Whitney U "
                   "test (default 0.01)")
    p.add_argument("--min-effect", type=effect, help="smallest change that counts, e.g. "
                   "5%% or 0.05 (default 5%%)")
    p.add_argument("--normalize", choices=("torch",), help="divide each time by the PyTorch "
                   "baseline of the same case in the same run before comparing")
    p.add_argument("--metric", choices=("real", "cpu"), default="real",
                   help="wall time (default) or the benchmark thread's CPU time: steadier "
                   "on a busy shared host, meaningful for single-threaded CPU runs only")
    p.add_argument("--fail-on", choices=("regression", "never"), default="regression",
                   help="exit 1 on a significant regression (default) or never")
    p.add_argument("--config", type=path_text, help="TOML file of per-benchmark thresholds")
    p.add_argument("--markdown", metavar="FILE", type=path_text, help="also write the report "
                   "as Markdown (e.g. $GITHUB_STEP_SUMMARY; appended to if it exists)")
    p.add_argument("--csv", metavar="FILE", type=path_text,
                   help="also write the per-benchmark table as CSV")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    thresholds = cmp.Thresholds()
    rules = []
    try:
        # Output files first: a comparison takes seconds, and its result is what is lost.
        for flag, path in (("--markdown", args.markdown), ("--csv", args.csv)):
            if path is not None:
                writable_file(path, flag)
        if args.config:
            defaults, rules = cmp.load_config(args.config)
            thresholds = replace(thresholds, **defaults)
        if args.alpha is not None:
            thresholds = replace(thresholds, alpha=args.alpha)
        if args.min_effect is not None:
            thresholds = replace(thresholds, min_effect=args.min_effect)
        metric = f"{args.metric}_time"
        base = cmp.load_side(args.base, args.normalize, metric)
        new = cmp.load_side(args.new, args.normalize, metric)
    except (OSError, ValueError) as exc:
        return fail("compare", exc)
    result = cmp.compare(base, new, thresholds=thresholds, rules=rules,
                         normalize=args.normalize)
    print(cmp.format_text(result))
    try:
        if args.markdown:
            old = Path(args.markdown).read_bytes() if os.path.exists(args.markdown) else b""
            schema.write_bytes(args.markdown, old + cmp.format_markdown(result).encode())
        if args.csv:
            schema.write_bytes(args.csv, result.table.to_csv(index=False).encode())
    except OSError as exc:
        return fail("compare", f"cannot write {exc.filename or 'the output'}: "
                               f"{exc.strerror or exc}")
    if result.table.empty:
        return fail("compare", "BASE and NEW have no benchmark in common")
    return result.exit_status if args.fail_on == "regression" else 0
