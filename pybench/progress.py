"""The progress bar every suite's run shows on stderr (``pybench run``)."""
from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """``[#####-----] 3/15  resnet50 cpu  elapsed 1m02s  ETA 3m40s`` on stderr; redrawn in
    place on a terminal, one line per update otherwise. Work is counted in predicted
    seconds (see ``_units``); the ETA is the remaining prediction rescaled by how long the
    finished models took against theirs."""

    def __init__(self, total_units: float, count: int, stream: TextIO | None = None):
        self.total, self.count, self.done_units, self.done = total_units, count, 0.0, 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.start = time.monotonic()

    @staticmethod
    def _fmt(seconds: float) -> str:
        seconds = int(round(seconds))
        return f"{seconds // 60}m{seconds % 60:02d}s"

    def eta(self, running_units: float = 0.0, running_s: float = 0.0) -> float | None:
        elapsed = time.monotonic() - self.start
        if self.done_units <= 0:  # nothing finished yet: the prediction itself
            return max(self.total - running_s, 0.0)
        rate = (elapsed - running_s) / self.done_units
        return max(rate * (self.total - self.done_units) - running_s, 0.0)

    def show(self, label: str, running_s: float = 0.0, final: bool = False) -> None:
        width = 24
        filled = int(width * self.done_units / self.total) if self.total else width
        eta = self.eta(running_s=running_s)
        text = (f"[{'#' * filled}{'-' * (width - filled)}] {self.done}/{self.count}  {label}"
                f"  elapsed {self._fmt(time.monotonic() - self.start)}"
                f"  ETA {self._fmt(eta) if eta is not None else '?'}")
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def advance(self, units: float) -> None:
        self.done_units += units
        self.done += 1
