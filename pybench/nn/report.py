"""What :func:`pybench.nn.convert` reports, and the ``torch.fx`` tracer its passes share (a
module of its own so that ``convert`` and the blocked-layout rewrite, ``blocked``, both
import it without importing each other)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch.fx as fx
from torch import nn

from pybench.nn.choose import LayerChoice

__all__ = ["Converted", "Folded", "Skipped", "ConversionReport"]


class Converted(NamedTuple):
    """A module replaced by pybench's: its path in the model and the rule that did it."""
    path: str
    rule: str


class Folded(NamedTuple):
    """A BatchNorm2d (``bn``, now ``nn.Identity``) folded into the convolution ``conv``."""
    conv: str
    bn: str


class Skipped(NamedTuple):
    """A module left as PyTorch (a layer a rule matched, or a BatchNorm not folded), and why."""
    path: str
    reason: str


@dataclass
class ConversionReport:
    """What :func:`convert` did; also stored on the result as ``model.pybench_report``."""

    converted: list[Converted] = field(default_factory=list)
    folded: list[Folded] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    #: Why no BatchNorm was folded although the model is in eval mode (it could not be
    #: traced, so no edge is proven), or None.
    not_folded: str | None = None
    #: The largest relative error of the converted model's outputs on ``example_inputs``
    #: (None when :func:`convert` was given none).
    verified_error: float | None = None
    #: Per swappable layer, pybench's and PyTorch's measured times and the one kept
    #: (``choose="measure"``); empty when the heuristic decided.
    choices: list[LayerChoice] = field(default_factory=list)
    #: ``layout="nchwc"``: every reorder between NCHW and the blocked layout, where and why.
    layout: list[str] = field(default_factory=list)
    #: ``layout="auto"``: both conversions' measured seconds per call on ``example_inputs``
    #: and the one kept, e.g. ``{"nchwc_s": 0.012, "nchw_s": 0.015, "chosen": "nchwc"}``, with
    #: ``"nchwc_error"`` instead of ``"nchwc_s"`` when the blocked conversion was impossible.
    layout_choice: dict | None = None

    def __str__(self) -> str:
        lines = [f"pybench.nn.convert: {len(self.converted)} converted, "
                 f"{len(self.folded)} BatchNorm folded, {len(self.skipped)} left as PyTorch"]
        if self.not_folded is not None:
            lines.append(f"  no BatchNorm folded: {self.not_folded}")
        lines += [f"  kept {s.path or '<root>'}: {s.reason}" for s in self.skipped]
        lines += [f"  chose {c}" for c in self.choices]
        lines += [f"  layout: {entry}" for entry in self.layout]
        if self.layout_choice is not None:
            lines.append(f"  layout chosen by measurement: {self.layout_choice}")
        if self.verified_error is not None:
            lines.append(f"  checked on example_inputs: relative error {self.verified_error:.3g}")
        return "\n".join(lines)


class _Tracer(fx.Tracer):
    # pybench's own layers branch on their input's dtype and device, which a Proxy cannot
    # answer; like torch.nn layers they are single calls in the graph.
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return (type(m).__module__.startswith("pybench.nn.")
                or super().is_leaf_module(m, qualname))
