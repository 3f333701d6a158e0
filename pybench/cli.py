"""``python -m pybench COMMAND``: argparse subcommands, one module each in pybench.commands
(each with ``register(subparsers)`` and ``run(args) -> exit status``, like asv).

Exit status 2 is bad input -- an argument, a file, a directory -- always as one line on
stderr naming it, never a traceback (``tests/test_cli_fuzz.py`` tries every command and
flag with invalid values)."""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

import pybench

COMMANDS = ("run", "list", "report", "info", "peak", "history", "compare", "dashboard")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pybench", description="Benchmark pybench's kernels against PyTorch.")
    parser.add_argument("--version", action="version", version=f"pybench {pybench.__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", required=True,
                                       metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"pybench.commands.{name}").register(subparsers)
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except OSError as exc:
        # A file or directory the command was pointed at (or its disk) failed it: one line
        # naming it, like every other bad input. Commands check their paths up front; this
        # catches what changed under them since.
        print(f"pybench {args.command}: {exc}", file=sys.stderr)
        return 2
