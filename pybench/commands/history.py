"""``pybench history add|merge|list``: the result store shared by every source.

``add`` ingests result files -- pybench's, a C++ Google Benchmark binary's
``--benchmark_out`` JSON, pytest-benchmark's ``--benchmark-json`` -- under the current
machine and git commit; ``merge`` copies other history trees (e.g. from other machines) in,
after validating every file; ``list`` prints what is stored. Bad input -- a file, a name, a
tree -- is one line naming it on stderr and exit status 2, with nothing written.
"""
from __future__ import annotations

import argparse

from pybench.commands import SUMMARY
from pybench.commands.common_args import commit, fail, machine_name, path_text, writable_dir
from pybench.results import store as history


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("history", help=SUMMARY["history"],
                              description=__doc__)
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--history", default=history.DEFAULT_DIR, type=path_text,
                        help=f"history directory (default {history.DEFAULT_DIR})")
    add = sub.add_parser("add", parents=[common], help="ingest result JSON files")
    add.add_argument("files", nargs="+", metavar="FILE", type=path_text)
    add.add_argument("--commit", type=commit,
                     help="git commit (hex) the results belong to (default: HEAD)")
    add.add_argument("--machine", type=machine_name,
                     help="machine id to file them under: letters, digits, '.', '_', '-' "
                     "(default: this machine's kind, or the fingerprint inside a pybench file)")
    merge = sub.add_parser("merge", parents=[common], help="copy history trees in")
    merge.add_argument("sources", nargs="+", metavar="DIR", type=path_text)
    lst = sub.add_parser("list", parents=[common], help="list the stored runs")
    lst.add_argument("--machine", type=machine_name, help="only this machine id")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        if args.action == "add":
            docs = history.read_files(args.files)  # every file, before anything is written
            git = None
            if args.commit:
                git = {"commit": args.commit, "commit_date": None, "dirty": None}
            writable_dir(args.history, "--history")
            from pybench.machine import machine_info  # imports torch: only when needed
            fingerprint = machine_info()
            for f, doc in zip(args.files, docs):
                path = history.record(doc, args.history, fingerprint=fingerprint,
                                      machine=args.machine, git=git)
                print(f"{f} -> {path}")
        elif args.action == "merge":
            added = history.merge(args.sources, args.history)  # validates, then writes
            print(f"merged {len(added)} run(s) into {args.history}")
        else:
            runs = [r for r in history.load(args.history)
                    if args.machine is None or r.machine == args.machine]
            for r in runs:
                print(f"{r.machine}  {r.commit[:12]}  {r.commit_date or '-':25}  "
                      f"{r.source:16}  {r.suite or '-':12}  {len(r.records):4} benchmarks  "
                      f"{r.path}")
            print(f"{len(runs)} run(s)")
    except (OSError, ValueError) as exc:
        return fail("history", exc)
    return 0
