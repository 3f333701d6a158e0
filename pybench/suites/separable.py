"""Depthwise-separable suite: every depthwise and dw->pw pair of MobileNet-v1, -v2 and
-v3-large (``shapes/separable.txt``, shared with the C++ ``separable_conv2d_bench``) at
batch 1 and 8.

Two cases per layer and batch:
- ``<layer>[dw]``: pybench.ops.depthwise_conv2d vs ``torch`` = F.conv2d(groups=C).
- ``<layer>[dw+pw]``: pybench.ops.separable_conv2d (fused) vs ``torch`` = PyTorch's
  sequence act(F.conv2d(act(F.conv2d(x, dw, groups=C)), pw)) with the layer's activations
  (keys A / PA: 0 none, 1 relu, 2 relu6).
Both implementations of a case are credited with the same FLOPs (2 x MACs, padding taps
included) and the same compulsory bytes (input, weights, biases, output once; the fused
case's intermediate is not compulsory), so the table's GB/s, % BW and % roof place every
implementation on the machine's measured roofline: a 3x3 depthwise convolution does about
2 FLOP per byte, left of the ridge, so % BW is its meaningful figure.
"""
from __future__ import annotations

import functools
import zlib

import torch
import torch.nn.functional as F

from pybench import ops, shapes
from pybench.harness import BenchmarkSpec, relative_error
from pybench.shapes import Shape
from pybench.suites import Suite, register

#: Batch sizes every layer runs at.
BATCHES = (1, 8)
#: The two operations timed per layer: the depthwise alone and the fused pair.
OPS = ("dw", "dw+pw")
_ACTS = {0: "none", 1: "relu", 2: "relu6"}
_TORCH_ACT = {"none": lambda t: t, "relu": F.relu, "relu6": F.relu6}
_DW_KEYS = ("N", "C", "H", "W", "M", "R", "S", "SH", "SW", "PH", "PW", "DH", "DW")


class SeparableCase:
    """One case's operands (seeded randn, weights scaled like PyTorch's default init so
    outputs stay O(1)), made on first use and shared by its implementations, and its
    float64 reference."""

    def __init__(self, shape: Shape, device: str):
        s = shape.as_dict()
        self.label, self.device = shape.label, device
        self.fused = shape.name.endswith("[dw+pw]")
        self.n, self.c, self.h, self.w, self.m = s["N"], s["C"], s["H"], s["W"], s.get("M", 1)
        self.r, self.s = s["R"], s["S"]
        self.stride = (s.get("SH", 1), s.get("SW", 1))
        self.padding = (s.get("PH", 0), s.get("PW", 0))
        self.dilation = (s.get("DH", 1), s.get("DW", 1))
        self.k = s.get("K", 0)
        self.act, self.pw_act = _ACTS[s.get("A", 0)], _ACTS[s.get("PA", 0)]
        oh = (self.h + 2 * self.padding[0] - self.dilation[0] * (self.r - 1) - 1) // self.stride[0] + 1
        ow = (self.w + 2 * self.padding[1] - self.dilation[1] * (self.s - 1) - 1) // self.stride[1] + 1
        mid = self.c * self.m
        self.out_shape = (self.n, self.k if self.fused else mid, oh, ow)
        dw_flops = 2 * self.n * mid * oh * ow * self.r * self.s
        in_bytes = 4 * (self.n * self.c * self.h * self.w + mid * (self.r * self.s + 1))
        if self.fused:
            self.flops = dw_flops + 2 * self.n * self.k * mid * oh * ow
            self.bytes = in_bytes + 4 * (self.k * (mid + 1) + self.n * self.k * oh * ow)
        else:
            self.flops = dw_flops
            self.bytes = in_bytes + 4 * self.n * mid * oh * ow

    @functools.cached_property
    def operands(self) -> tuple[torch.Tensor, ...]:
        gen = torch.Generator().manual_seed(zlib.crc32(self.label.encode()))
        mid = self.c * self.m
        x = torch.randn(self.n, self.c, self.h, self.w, generator=gen)
        dw = torch.randn(mid, 1, self.r, self.s, generator=gen) / (self.r * self.s) ** 0.5
        db = torch.randn(mid, generator=gen)
        pw = torch.randn(max(self.k, 1), mid, 1, 1, generator=gen) / mid ** 0.5
        pb = torch.randn(max(self.k, 1), generator=gen)
        return tuple(t.to(self.device) for t in (x, dw, db, pw, pb))

    def pybench(self):
        x, dw, db, pw, pb = self.operands
        if self.fused:
            return functools.partial(ops.separable_conv2d, x, dw, pw, db, pb, self.stride,
                                     self.padding, self.dilation, self.act, self.pw_act)
        return functools.partial(ops.depthwise_conv2d, x, dw, db, self.stride, self.padding,
                                 self.dilation)

    def torch(self):
        x, dw, db, pw, pb = self.operands
        stride, padding, dilation, groups = self.stride, self.padding, self.dilation, self.c
        if not self.fused:
            return functools.partial(F.conv2d, x, dw, db, stride, padding, dilation, groups)
        act, pw_act = _TORCH_ACT[self.act], _TORCH_ACT[self.pw_act]

        def sequence():
            return pw_act(F.conv2d(act(F.conv2d(x, dw, db, stride, padding, dilation, groups)),
                                   pw, pb))
        return sequence

    @functools.cached_property
    def reference(self) -> torch.Tensor:
        x, dw, db, pw, pb = (t.to("cpu", torch.float64) for t in self.operands)
        y = F.conv2d(x, dw, db, self.stride, self.padding, self.dilation, self.c)
        if not self.fused:
            return y
        act, pw_act = _TORCH_ACT[self.act], _TORCH_ACT[self.pw_act]
        return pw_act(F.conv2d(act(y), pw, pb))

    def error(self, out: torch.Tensor) -> float:
        """Relative Frobenius error ||out - ref||_F / ||ref||_F."""
        return relative_error(out, self.reference, self.out_shape)


class SeparableSuite(Suite):
    name = "separable"
    description = ("every depthwise and dw->pw pair of MobileNet-v1/v2/v3-large at batch 1 and "
                   "8 (shapes/separable.txt)")
    implementations = ("pybench", "torch")

    def __init__(self, shape_file: str = "separable", batches: tuple[int, ...] = BATCHES):
        self.shape_file, self.batches = shape_file, batches

    def cases(self) -> list[Shape]:
        out = []
        for n in self.batches:
            for layer in shapes.load(self.shape_file):
                sizes = (("N", n), *layer.sizes)
                out.append(Shape(f"{layer.name}[dw]",
                                 tuple((k, v) for k, v in sizes if k in _DW_KEYS)))
                out.append(Shape(f"{layer.name}[dw+pw]", sizes))
        return out

    def specs(self, case: Shape, *, device: str, threads: int) -> list[BenchmarkSpec]:
        sep = SeparableCase(case, device)
        return [
            BenchmarkSpec(
                suite=self.name, case=case.label, implementation=impl, device=device,
                threads=threads, flops=sep.flops, bytes=sep.bytes,
                setup=functools.partial(self._setup, sep, impl), tolerance=1e-5,
                params=case.as_dict())
            for impl in self.implementations
        ]

    @staticmethod
    def _setup(sep: SeparableCase, impl: str):
        return (sep.pybench() if impl == "pybench" else sep.torch()), sep.error


register(SeparableSuite())
