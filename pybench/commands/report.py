"""``pybench report RESULTS``: CSV, Markdown and a self-contained HTML page (plots embedded)
from a cnn result file, written to ``<results stem>-report/`` unless ``--out`` says where.
``run --suite cnn`` writes the same report when it ends."""
from __future__ import annotations

import argparse
from pathlib import Path

from pybench.commands import SUMMARY
from pybench.commands.common_args import fail, path_text, writable_dir


def _result_file(text: str) -> Path:
    path = Path(path_text(text))
    if path.is_dir():  # a results directory: its newest cnn result
        found = sorted(path.glob("cnn-*.json"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise argparse.ArgumentTypeError(f"no cnn-*.json result file in {text}")
        return found[-1]
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such result file: {text}")
    return path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help=SUMMARY["report"],
                              description=__doc__)
    p.add_argument("results", type=_result_file, metavar="RESULTS",
                   help="a cnn result JSON (or a directory: its newest cnn-*.json)")
    p.add_argument("--out", metavar="DIR", type=path_text,
                   help="report directory (default: next to RESULTS)")
    p.add_argument("--quiet", action="store_true", help="do not print the summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pybench.analysis import report
    try:
        writable_dir(args.out or report.report_dir(args.results), "--out")
        tables = report.build(args.results)
        try:
            files = report.write(args.results, args.out, tables=tables)
            summary = report.console_summary(tables)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            # Tables read the document; a field of the wrong shape can still surface here,
            # deep inside pandas: the document is the problem, so name it.
            raise ValueError(f"{args.results}: not a readable cnn result "
                             f"({type(exc).__name__}: {exc})") from None
    except ValueError as exc:
        return fail("report", exc)
    except OSError as exc:
        return fail("report", f"cannot write the report: {exc}")
    if not args.quiet:
        print(summary)
    for kind in ("html", "md", "csv"):
        print(f"{kind}: {files[kind]}")
    return 0
