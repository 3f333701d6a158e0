"""argparse types shared by the subcommands: each parses one argument or raises
``argparse.ArgumentTypeError`` with one line naming it, so a bad command line fails before
any work starts. Every number is checked finite and in range; names that become paths
(machine ids, commits) are checked against a fixed character set.

What argparse cannot know -- whether an output path can be written -- the commands check
with :func:`writable_dir` / :func:`writable_file` before their work starts, and report
with :func:`fail`: one line on stderr, exit status 2."""
from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["positive_int", "bounded_int", "repetitions", "batch", "image_size", "threads",
           "seconds", "regex", "csv_of", "effect", "open_fraction", "machine_name", "commit",
           "path_text", "cores", "MAX_THREADS_PER_CORE", "warn_threads", "writable_dir",
           "writable_file", "fail"]

#: ``--threads`` above the core count time-slices (every OpenMP barrier waits for a
#: descheduled thread); up to this many per core is allowed, with a warning, for studying
#: exactly that. More only exhausts memory (libgomp allocates per-thread state up front).
MAX_THREADS_PER_CORE = 4
#: Upper bounds: far past any sensible run, low enough that no typo runs for days or
#: allocates past memory.
MAX_REPETITIONS = 1000
MAX_SECONDS = 3600.0
MAX_BATCH = 1024
MAX_IMAGE_SIZE = 1024


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def positive_int(text: str) -> int:
    value = _int(text, "a positive integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """argparse type for an integer in [low, high]."""
    def convert(text: str) -> int:
        value = _int(text, f"an integer in [{low}, {high}]")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected an integer in [{low}, {high}], got {text}")
        return value
    convert.__name__ = f"integer in [{low}, {high}]"
    return convert


repetitions = bounded_int(1, MAX_REPETITIONS)
batch = bounded_int(1, MAX_BATCH)
image_size = bounded_int(1, MAX_IMAGE_SIZE)


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0))


def threads(text: str) -> int:
    """A thread count in [1, cores x MAX_THREADS_PER_CORE]; see :func:`warn_threads`."""
    limit = cores() * MAX_THREADS_PER_CORE
    value = _int(text, "a positive integer")
    if not 1 <= value <= limit:
        raise argparse.ArgumentTypeError(
            f"expected a thread count in [1, {limit}] ({MAX_THREADS_PER_CORE} x the {cores()} "
            f"cores available), got {text}")
    return value


def warn_threads(command: str, n: int | None) -> None:
    if n is not None and n > cores():
        print(f"pybench {command}: warning: --threads {n} is more than the {cores()} cores "
              f"available: threads will time-slice and times will suffer", file=sys.stderr)


def seconds(text: str) -> float:
    try:
        value = float(text.removesuffix("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    # nan fails both comparisons; inf would make a repetition run forever.
    if not 0 <= value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"expected seconds in [0, {MAX_SECONDS:g}], got {text}")
    return value


def regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except (re.error, RecursionError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(f"bad regex {text!r}: {exc}") from None


def csv_of(kind: str, parse: Callable[[str], Any], choices: Sequence[str] | None = None):
    """argparse type for a comma-separated list of ``kind`` (no empty items, no duplicates,
    each in ``choices`` when given)."""
    def convert(text: str) -> tuple:
        items = [t.strip() for t in text.split(",")]
        if not text.strip() or any(not t for t in items):
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {kind}, "
                                             f"got {text!r}")
        values = []
        for item in items:
            if choices is not None and item not in choices:
                raise argparse.ArgumentTypeError(
                    f"unknown {kind} {item!r}; choose from {', '.join(choices)}")
            try:
                value = parse(item)
            except (ValueError, argparse.ArgumentTypeError) as exc:
                raise argparse.ArgumentTypeError(f"bad {kind} {item!r} in {text!r}: {exc}") \
                    from None
            if value in values:
                raise argparse.ArgumentTypeError(f"{kind} {item!r} given twice")
            values.append(value)
        return tuple(values)
    return convert


def effect(text: str) -> float:
    """A relative change: "5%", "0.05" or "5" (percent when > 1), as pybench.analysis.compare reads it."""
    from pybench.analysis.compare import parse_effect  # imports scipy: only when the argument is used
    try:
        return parse_effect(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def open_fraction(text: str) -> float:
    """A number in (0, 1), e.g. a significance level."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text}")
    return value


def machine_name(text: str) -> str:
    """A history machine id (see :func:`pybench.results.store.check_machine`)."""
    from pybench.results import store
    try:
        return store.check_machine(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def commit(text: str) -> str:
    """A git commit: hex (see :func:`pybench.results.store.check_commit`)."""
    from pybench.results import store
    try:
        return store.check_commit(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def path_text(text: str) -> str:
    """A file or directory name: not empty (which would mean the current directory) and
    without NUL (which no system call takes)."""
    if not text.strip() or "\0" in text:
        raise argparse.ArgumentTypeError(f"expected a path, got {text!r}")
    return text


def _probe_write(directory: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".pybench-write-test-", dir=directory)
    os.close(fd)
    os.unlink(tmp)


def writable_dir(path: str | Path, what: str) -> Path:
    """``path`` if it is a directory this process can write files in, or one it can create;
    else a ValueError naming ``what`` and the problem. Leaves nothing behind: it creates (and
    removes) a file in the directory, or a directory in its nearest existing ancestor --
    really, because as root os.access says yes to /proc and to read-only mounts."""
    path = Path(path)
    try:
        if path.exists():
            if not path.is_dir():
                raise ValueError(f"{what} {path}: exists and is not a directory")
            _probe_write(path)
            return path
        parent = path.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise ValueError(f"{what} {path}: {parent} is not a directory")
        os.rmdir(tempfile.mkdtemp(prefix=".pybench-write-test-", dir=parent))
    except OSError as exc:
        raise ValueError(f"{what} {path}: cannot write there ({exc.strerror or exc})") from None
    return path


def writable_file(path: str | Path, what: str) -> Path:
    """``path`` if it is a file this process can create or replace (its directory must
    exist); else a ValueError naming ``what`` and the problem. Leaves no file behind."""
    path = Path(path)
    try:
        if path.is_dir():
            raise ValueError(f"{what} {path}: is a directory")
        if path.exists() and not path.is_file():
            raise ValueError(f"{what} {path}: exists and is not a regular file")
        if not path.parent.is_dir():
            raise ValueError(f"{what} {path}: no such directory {path.parent}")
        _probe_write(path.parent)
        if path.exists():
            with open(path, "ab"):
                pass
    except OSError as exc:
        raise ValueError(f"{what} {path}: cannot write there ({exc.strerror or exc})") from None
    return path


def fail(command: str, message: Any) -> int:
    """Print ``pybench COMMAND: MESSAGE`` (one line) on stderr; returns exit status 2."""
    text = " ".join(str(message).split("\n"))
    print(f"pybench {command}: {text}", file=sys.stderr)
    return 2
