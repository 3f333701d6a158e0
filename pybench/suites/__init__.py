"""Benchmark suites, by name. A suite turns its cases into :class:`~pybench.harness.BenchmarkSpec`s.

Add a suite by subclassing :class:`Suite` in a module of this package, calling
:func:`register` on an instance, and importing the module at the bottom of this file.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

from pybench.harness import BenchmarkSpec
from pybench.registry import Registry
from pybench.shapes import Shape

__all__ = ["Suite", "register", "get", "names"]


class Suite(ABC):
    """A family of cases, each run by several implementations (the baseline among them)."""

    name: str
    description: str
    implementations: Sequence[str]

    @abstractmethod
    def cases(self) -> list[Shape]:
        """The cases, in the order to report them."""

    @abstractmethod
    def specs(self, case: Shape, *, device: str, threads: int) -> list[BenchmarkSpec]:
        """One spec per implementation of ``case`` on ``device``; they may share inputs."""


_SUITES: Registry[Suite] = Registry("suite")


def register(suite: Suite) -> Suite:
    return _SUITES.register(suite.name, suite)


def get(name: str) -> Suite:
    return _SUITES.get(name)


def names() -> list[str]:
    return _SUITES.names()


from pybench.suites import gram as _gram  # noqa: E402,F401  (registers "gram" and "style")
from pybench.suites import conv as _conv  # noqa: E402,F401  (registers "conv")
from pybench.suites import separable as _separable  # noqa: E402,F401  (registers "separable")
from pybench.suites import rnn as _rnn  # noqa: E402,F401  (registers "rnn")
from pybench.suites import cnn as _cnn  # noqa: E402,F401  (registers "cnn")
from pybench.suites import train as _train  # noqa: E402,F401  (registers "train")
