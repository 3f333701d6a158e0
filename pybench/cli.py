"""``python -m pybench COMMAND``: argparse subcommands, one module each in pybench.commands
(each with ``register(subparsers)`` and ``run(args) -> exit status``, like asv)."""
from __future__ import annotations

import argparse
import importlib
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
    return args.func(args) or 0
