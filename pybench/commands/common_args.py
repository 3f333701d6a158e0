"""argparse types shared by the subcommands: each parses one argument or raises
``argparse.ArgumentTypeError`` with one line naming it, so a bad command line fails before
any work starts."""
from __future__ import annotations

import argparse
import re
from typing import Any, Callable, Sequence

__all__ = ["positive_int", "seconds", "regex", "csv_of", "effect", "open_fraction"]


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text.removesuffix("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value >= 0:  # also NaN
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text}")
    return value


def regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
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
            except (ValueError, argparse.ArgumentTypeError):
                raise argparse.ArgumentTypeError(f"bad {kind} {item!r} in {text!r}") from None
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
