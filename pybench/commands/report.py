"""``pybench report RESULTS``: CSV, Markdown and a self-contained HTML page (plots embedded)
from a cnn result file, written to ``<results stem>-report/`` unless ``--out`` says where.
``run --suite cnn`` writes the same report when it ends."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _result_file(text: str) -> Path:
    path = Path(text)
    if path.is_dir():  # a results directory: its newest cnn result
        found = sorted(path.glob("cnn-*.json"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise argparse.ArgumentTypeError(f"no cnn-*.json result file in {text}")
        return found[-1]
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such result file: {text}")
    return path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="write the CSV / Markdown / HTML report of results",
                              description=__doc__)
    p.add_argument("results", type=_result_file, metavar="RESULTS",
                   help="a cnn result JSON (or a directory: its newest cnn-*.json)")
    p.add_argument("--out", metavar="DIR", help="report directory (default: next to RESULTS)")
    p.add_argument("--quiet", action="store_true", help="do not print the summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pybench.analysis import report
    try:
        files = report.write(args.results, args.out)
    except (ValueError, KeyError, json.JSONDecodeError) as exc:
        print(f"pybench report: {args.results}: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(report.console_summary(args.results))
    for kind in ("html", "md", "csv"):
        print(f"{kind}: {files[kind]}")
    return 0
