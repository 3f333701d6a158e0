"""``pybench report RESULTS``: CSV, Markdown and a self-contained HTML page (plots embedded)
from a result file of any suite, written to ``<results stem>-report/`` unless ``--out`` says
where. ``run --suite cnn`` writes its report when it ends; the other suites' reports
(:mod:`pybench.analysis.kernel_report`) are the table they print, a speedup plot and the
geomean of every implementation over torch."""
from __future__ import annotations

import argparse
from pathlib import Path

from pybench.commands import SUMMARY
from pybench.commands.common_args import fail, path_text, writable_dir


def _result_file(text: str) -> Path:
    path = Path(path_text(text))
    if path.is_dir():  # a results directory: its newest cnn result
        found = sorted(path.glob("*-*.json"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise argparse.ArgumentTypeError(f"no <suite>-*.json result file in {text}")
        return found[-1]
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such result file: {text}")
    return path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help=SUMMARY["report"],
                              description=__doc__)
    p.add_argument("results", type=_result_file, metavar="RESULTS",
                   help="a result JSON of any suite (or a directory: its newest one)")
    p.add_argument("--out", metavar="DIR", type=path_text,
                   help="report directory (default: next to RESULTS)")
    p.add_argument("--quiet", action="store_true", help="do not print the summary")
    p.set_defaults(func=run)


def _suite(path: Path) -> str | None:
    from pybench.results.schema import read_json
    try:
        return read_json(path).get("context", {}).get("pybench", {}).get("suite")
    except (OSError, ValueError, AttributeError):
        return None  # the cnn report's reader names the problem


def _printed(args: argparse.Namespace, summary: str, files: dict) -> int:
    """The console summary (unless --quiet) and the written files, for either report."""
    if not args.quiet:
        print(summary)
    for kind in ("html", "md", "csv"):
        print(f"{kind}: {files[kind]}")
    return 0


def _kernel_report(args: argparse.Namespace, suite: str) -> int:
    from pybench.analysis import kernel_report
    try:
        writable_dir(args.out or args.results.with_name(args.results.stem + "-report"), "--out")
        files = kernel_report.write(args.results, args.out)
        summary = kernel_report.console_summary(kernel_report.frame(args.results), suite)
    except (ValueError, KeyError, TypeError) as exc:
        return fail("report", f"{args.results}: not a readable {suite} result "
                              f"({type(exc).__name__}: {exc})")
    except OSError as exc:
        return fail("report", f"cannot write the report: {exc}")
    return _printed(args, summary, files)


def run(args: argparse.Namespace) -> int:
    from pybench.analysis import report
    suite = _suite(args.results)
    if suite is not None and suite != "cnn":
        return _kernel_report(args, suite)
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
    return _printed(args, summary, files)
