"""``pybench COMMAND`` (also ``python -m pybench COMMAND``): argparse subcommands, one module
each in pybench.commands (each with ``register(subparsers)`` and ``run(args) -> exit
status``, like asv).

Only the command being run is imported: the others are listed from
``pybench.commands.SUMMARY``, so ``pybench --help`` and ``pybench --version`` load neither
torch nor the extension (``--version`` reads the build's ``pybench/build_info.json``).

Exit status 2 is bad input -- an argument, a file, a directory -- always as one line on
stderr naming it, never a traceback (``tests/test_cli_fuzz.py`` tries every command and
flag with invalid values)."""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Sequence

import pybench
from pybench.commands import SUMMARY

COMMANDS = tuple(SUMMARY)


def version_text() -> str:
    """``pybench <version>`` and what the installed extension was built with."""
    path = Path(pybench.__file__).with_name("build_info.json")
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return f"pybench {pybench.__version__} (extension build info missing: {path})"
    cuda = ("CUDA kernels for " + ", ".join(info.get("cuda_archs", []))
            if info.get("cuda_kernels") else "no CUDA kernels")
    commit = f", commit {info['commit']}" if info.get("commit") else ""
    return (f"pybench {pybench.__version__} (built against torch {info.get('torch', '?')}, "
            f"{cuda}, CPU kernels AVX-512 / AVX2 / scalar chosen at run time, Python "
            f"{info.get('python', '?')} on {info.get('machine', '?')}{commit})")


def _command_in(argv: Sequence[str]) -> str | None:
    """The subcommand argv names: its first word that is not an option."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="pybench", description="Benchmark pybench's kernels against PyTorch.")
    parser.add_argument("--version", action="version", version=version_text())
    subparsers = parser.add_subparsers(title="commands", dest="command", required=True,
                                       metavar="COMMAND")
    chosen = _command_in(argv)
    for name in COMMANDS:
        if name == chosen:
            importlib.import_module(f"pybench.commands.{name}").register(subparsers)
        else:
            # Listed for --help; never parsed, since argv does not name it.
            subparsers.add_parser(name, help=SUMMARY[name])
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except OSError as exc:
        # A file or directory the command was pointed at (or its disk) failed it: one line
        # naming it, like every other bad input. Commands check their paths up front; this
        # catches what changed under them since.
        print(f"pybench {args.command}: {exc}", file=sys.stderr)
        return 2
