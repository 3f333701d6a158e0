"""The per-layer choice of :func:`pybench.nn.convert`: pybench's layer or PyTorch's, by
measurement on this machine (as ``torch.backends.cudnn.benchmark`` picks algorithms).

For every layer a rule would swap, :class:`Chooser` times the pybench replacement and the
PyTorch layer on the input the layer sees in the example run, interleaved, and keeps the
faster. A choice is keyed by what decides it -- the machine (CPU model, ISA detected and in
use, cache sizes), torch's thread count, torch and pybench versions, the layer's
configuration and its input's shape, dtype, layout and device -- and kept on disk
(``$PYBENCH_CACHE_DIR/convert-choices.json``, default ``~/.cache/pybench``), so converting the
same model again on the same machine times nothing.

Without example inputs there is nothing to measure; the documented heuristic then applies:
every layer pybench supports is swapped (each kernel is faster than PyTorch's on most layer
shapes of the model zoo on the AVX-512 machines it was tuned on; the measured choice is the
way to be sure on another machine).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

__all__ = ["LayerChoice", "Chooser", "cache_path", "machine_key"]

#: Interleaved rounds per layer; the median of each side decides.
ROUNDS = 7
#: Seconds one round of one side should last (calls are repeated to reach it), so that
#: microsecond layers are timed above the clock's resolution.
ROUND_S = 0.002


@dataclass(frozen=True)
class LayerChoice:
    """One layer's decision: ``chosen`` is "pybench" or "torch"; times are medians of one call
    in seconds; ``source`` is "measured" or "cache" (decided by an earlier convert)."""

    path: str
    rule: str
    input: str
    pybench_s: float
    torch_s: float
    chosen: str
    source: str
    #: What the two times are of: the replacement and the layer it would replace (for
    #: pybench's Winograd convolution against its direct one: ("winograd", "direct")).
    names: tuple[str, str] = ("pybench", "torch")

    @property
    def speedup(self) -> float:
        return self.torch_s / self.pybench_s if self.pybench_s > 0 else math.inf

    def __str__(self) -> str:
        first, second = ({"torch": "PyTorch"}.get(n, n) for n in self.names)
        return (f"{self.path or '<root>'} [{self.rule}, {self.input}]: {first} "
                f"{self.pybench_s * 1e3:.3f} ms, {second} {self.torch_s * 1e3:.3f} ms -> "
                f"{self.chosen} ({self.source})")


def cache_path() -> Path:
    root = os.environ.get("PYBENCH_CACHE_DIR") or Path.home() / ".cache" / "pybench"
    return Path(root) / "convert-choices.json"


def machine_key() -> str:
    """What makes timings of one machine valid on another: CPU model, ISAs, caches, thread
    count and software versions."""
    import pybench
    from pybench import ops
    from pybench.machine import cpu_model
    parts = [cpu_model(), ops.detected_cpu_isa(), ops.cpu_isa(),
             f"threads={torch.get_num_threads()}", torch.__version__, pybench.__version__]
    parts.append(json.dumps(ops.cpu_caches(), sort_keys=True, default=str))
    return "|".join(map(str, parts))


def _signature(args: tuple) -> str:
    out = []
    for a in args:
        if isinstance(a, torch.Tensor):
            layout = "cl" if (a.dim() == 4 and not a.is_contiguous()
                              and a.is_contiguous(memory_format=torch.channels_last)) else (
                "c" if a.is_contiguous() else "strided")
            out.append(f"{str(a.dtype).removeprefix('torch.')}{list(a.shape)}{layout}@{a.device}")
        elif isinstance(a, (tuple, list)):
            out.append(f"({_signature(tuple(a))})")
        else:
            out.append(type(a).__name__)
    return ", ".join(out)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(candidates: dict[str, Callable[[], Any]], device: torch.device) -> dict[str, float]:
    """Median seconds per call of each candidate, rounds interleaved (alternating order, so
    neither side always runs on a cache the other just warmed)."""
    reps: dict[str, int] = {}
    for name, fn in candidates.items():
        fn()  # first call: allocations, lazy packing
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        one = time.perf_counter() - start
        reps[name] = max(1, min(1000, math.ceil(ROUND_S / max(one, 1e-7))))
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    names = list(candidates)
    for r in range(ROUNDS):
        for name in (names if r % 2 == 0 else names[::-1]):
            fn, n = candidates[name], reps[name]
            _sync(device)
            start = time.perf_counter()
            for _ in range(n):
                fn()
            _sync(device)
            samples[name].append((time.perf_counter() - start) / n)
    return {name: sorted(s)[len(s) // 2] for name, s in samples.items()}


class Chooser:
    """Measures (or recalls) per-layer choices; one per :func:`convert` call."""

    def __init__(self, path: Path | None = None):
        self.path = path or cache_path()
        self.machine = machine_key()
        try:
            self.table: dict[str, dict[str, Any]] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.table = {}
        self.dirty = False

    def _key(self, rule: str, layer: nn.Module, args: tuple) -> str:
        what = f"{self.machine}|{rule}|{layer!r}|{_signature(args)}"
        return hashlib.sha256(what.encode()).hexdigest()

    def choose(self, path: str, rule: str, layer: nn.Module, replacement: nn.Module,
               args: tuple, names: tuple[str, str] = ("pybench", "torch")) -> LayerChoice:
        """Time ``replacement`` (``names[0]``) against ``layer`` (``names[1]``) on ``args``;
        ``chosen`` is the faster one's name."""
        key = self._key(rule, layer, args)
        known = self.table.get(key)
        if known is not None and known["chosen"] in names:
            return LayerChoice(path, rule, _signature(args), known["pybench_s"],
                               known["torch_s"], known["chosen"], "cache", names)
        device = next((a.device for a in args if isinstance(a, torch.Tensor)),
                      torch.device("cpu"))
        with torch.inference_mode():
            times = _time({"pybench": lambda: replacement(*args),
                           "torch": lambda: layer(*args)}, device)
        chosen = names[0] if times["pybench"] <= times["torch"] else names[1]
        self.table[key] = {"pybench_s": times["pybench"], "torch_s": times["torch"],
                           "chosen": chosen, "rule": rule, "input": _signature(args)}
        self.dirty = True
        return LayerChoice(path, rule, _signature(args), times["pybench"], times["torch"],
                           chosen, "measured", names)

    def save(self) -> None:
        """Write the table atomically (a concurrent convert loses at worst its own entries)."""
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".choices-")
        with os.fdopen(fd, "w") as f:
            json.dump(self.table, f, indent=0, sort_keys=True)
        os.replace(tmp, self.path)
        self.dirty = False


def as_dicts(choices: list[LayerChoice]) -> list[dict[str, Any]]:
    return [asdict(c) for c in choices]
