"""``pybench compare BASE NEW``: the statistical regression gate (see pybench.analysis.compare).

BASE and NEW are result files or history directories (all runs under one are pooled).
Exit status: 0 no significant regression, 1 at least one benchmark significantly slower
by more than the minimum effect (with ``--fail-on regression``, the default), 2 bad
input or nothing in common to compare.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

from pybench.analysis import compare as cmp
from pybench.commands.common_args import effect, open_fraction


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("compare", help="compare two result sets; exit 1 on a "
                              "significant regression", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("base", metavar="BASE",
                   help="result JSON file or history directory")
    p.add_argument("new", metavar="NEW", help="result JSON file or history directory")
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
    p.add_argument("--config", help="TOML file of per-benchmark thresholds")
    p.add_argument("--markdown", metavar="FILE", help="also write the report as Markdown "
                   "(e.g. $GITHUB_STEP_SUMMARY; appended to if it exists)")
    p.add_argument("--csv", metavar="FILE", help="also write the per-benchmark table as CSV")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    thresholds = cmp.Thresholds()
    rules = []
    try:
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
    except (OSError, ValueError, KeyError) as exc:
        print(f"pybench compare: {exc}", file=sys.stderr)
        return 2
    result = cmp.compare(base, new, thresholds=thresholds, rules=rules,
                         normalize=args.normalize)
    print(cmp.format_text(result))
    if args.markdown:
        with open(args.markdown, "a" if os.path.exists(args.markdown) else "w") as f:
            f.write(cmp.format_markdown(result))
    if args.csv:
        result.table.to_csv(args.csv, index=False)
    if result.table.empty:
        print("pybench compare: BASE and NEW have no benchmark in common", file=sys.stderr)
        return 2
    return result.exit_status if args.fail_on == "regression" else 0
