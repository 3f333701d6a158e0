"""The progress bar every suite's run shows on stderr (``pybench run``), drawn by tqdm."""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from tqdm import tqdm

__all__ = ["ProgressBar"]

#: tqdm's template: ``[#####-----] 3/15  resnet50 cpu  elapsed 01:02  ETA 03:40``. The
#: count of items and the label are the description; tqdm's own n / total are predicted
#: seconds (see :class:`ProgressBar`), meaningless to a reader, so they are not shown.
_FORMAT = "[{bar:24}] {desc}  elapsed {elapsed}  ETA {remaining}"


class _Tqdm(tqdm):
    """tqdm whose rate (units per second) is set by the caller instead of measured as
    ``n / elapsed``: pybench's ETA discounts the time the running item has taken."""

    monitor_interval = 0  # no monitor thread: pybench forks workers while the bar is up

    def __init__(self, *args: Any, rate: float | None, **kwargs: Any):
        self.rate_override = rate  # before tqdm's first draw, which reads it
        super().__init__(*args, **kwargs)

    @property
    def format_dict(self) -> dict[str, Any]:
        d = super().format_dict
        d["rate"] = self.rate_override
        return d


class ProgressBar:
    """A tqdm bar on ``stream`` (default stderr): redrawn in place on a terminal, one line
    per update otherwise (a log file gets readable lines, not carriage returns).

    Work is counted in predicted seconds (``total_units``; see ``pybench.runner._units``)
    and in items (``count``, shown as ``done/count``). The ETA is the remaining prediction
    rescaled by how long the finished items took against theirs, less the time the running
    item has already taken; before anything finished, the prediction itself.
    """

    def __init__(self, total_units: float, count: int, stream: TextIO | None = None):
        self.total, self.count, self.done_units, self.done = total_units, count, 0.0, 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.start = time.monotonic()
        self._closed = False
        # Off a terminal tqdm would write carriage returns and no newline; there the bar
        # is formatted by tqdm (str(bar)) and written here, a line per update.
        self._bar = _Tqdm(total=total_units or None, file=self.stream if self.tty else _NULL,
                          bar_format=_FORMAT, ascii="-#", dynamic_ncols=True, leave=True,
                          mininterval=0, smoothing=0, desc=f"0/{count}", rate=1.0)

    def _rate(self, running_s: float) -> float | None:
        """Predicted units per second of wall time, from the finished items; 1 before any."""
        if self.done_units <= 0:
            return 1.0
        spent = time.monotonic() - self.start - running_s
        return self.done_units / spent if spent > 0 else None

    def eta(self, running_units: float = 0.0, running_s: float = 0.0) -> float | None:
        """Seconds left: the remaining units at the observed rate, less ``running_s``."""
        rate = self._rate(running_s)
        if rate is None:
            return None
        return max((self.total - self.done_units) / rate - running_s, 0.0)

    def show(self, label: str, running_s: float = 0.0, final: bool = False) -> None:
        """Redraw with ``label``; ``running_s`` is how long the running item has taken."""
        if self._closed:
            return
        rate = self._rate(running_s)
        # The running item counted as done at the observed rate: tqdm's remaining time,
        # (total - n) / rate, is then exactly eta(running_s=running_s).
        n = self.done_units + (running_s * rate if rate else 0.0)
        self._bar.n = min(n, self.total) if self.total else 0
        self._bar.rate_override = rate
        self._bar.set_description_str(f"{self.done}/{self.count}  {label}", refresh=False)
        if self.tty:
            if final:
                self._bar.close()  # draws the last state and ends the line
                self._closed = True
            else:
                self._bar.refresh()
        else:
            self.stream.write(str(self._bar) + "\n")
            self.stream.flush()
            if final:
                self._bar.close()
                self._closed = True

    def advance(self, units: float) -> None:
        """One item finished; it was predicted to take ``units``."""
        self.done_units += units
        self.done += 1


class _Null:
    """A stream that drops what tqdm writes to it (off a terminal)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


_NULL = _Null()
