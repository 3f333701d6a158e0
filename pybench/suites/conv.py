"""Convolution suite: every distinct conv layer of the CNN families, pybench vs PyTorch.

Cases are the lines of ``shapes/conv.txt`` (one per distinct layer geometry, named
``model:layer``; the C++ ``conv2d_bench`` reads the same file) at batch 1 and 8.
Implementations: ``pybench`` (pybench.ops.conv2d) and ``torch`` (F.conv2d: oneDNN on the
CPU, cuDNN on the GPU with ``cudnn.benchmark`` off); on CUDA also
``torch-cudnn-benchmark`` (cuDNN autotuning on). On the GPU both torch variants run with
TF32 off, so every implementation computes in FP32 and passes the same 1e-5 check.
Every implementation is credited with the same FLOP count (2 x MACs, padding taps
included), so GFLOP/s ratios equal time ratios.
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


class ConvCase:
    """One case's operands, made on first use and shared by its implementations, and the
    float64 reference. Operands come from a per-case seeded ``torch.randn`` (never zeros:
    zeros and denormals change CPU speed); the weight is scaled like PyTorch's default
    init so outputs stay O(1) whatever the fan-in."""

    def __init__(self, shape: Shape, device: str):
        s = shape.as_dict()
        self.label, self.device = shape.label, device
        self.n, self.c, self.h, self.w = s["N"], s["C"], s["H"], s["W"]
        self.k, self.r, self.s, self.groups = s["K"], s["R"], s["S"], s.get("G", 1)
        self.stride = (s.get("SH", 1), s.get("SW", 1))
        self.padding = (s.get("PH", 0), s.get("PW", 0))
        self.dilation = (s.get("DH", 1), s.get("DW", 1))
        oh = (self.h + 2 * self.padding[0] - self.dilation[0] * (self.r - 1) - 1) // self.stride[0] + 1
        ow = (self.w + 2 * self.padding[1] - self.dilation[1] * (self.s - 1) - 1) // self.stride[1] + 1
        self.out_shape = (self.n, self.k, oh, ow)
        self.flops = 2 * self.n * self.k * oh * ow * (self.c // self.groups) * self.r * self.s
        self.bytes = 4 * (self.n * self.c * self.h * self.w + self.k * (self.c // self.groups) *
                          self.r * self.s + self.k + self.n * self.k * oh * ow)

    @functools.cached_property
    def operands(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(zlib.crc32(self.label.encode()))
        fan_in = (self.c // self.groups) * self.r * self.s
        x = torch.randn(self.n, self.c, self.h, self.w, generator=gen)
        w = torch.randn(self.k, self.c // self.groups, self.r, self.s, generator=gen) / fan_in ** 0.5
        b = torch.randn(self.k, generator=gen)
        return x.to(self.device), w.to(self.device), b.to(self.device)

    def call(self, fn):
        x, w, b = self.operands
        return functools.partial(fn, x, w, b, self.stride, self.padding, self.dilation, self.groups)

    @functools.cached_property
    def reference(self) -> torch.Tensor:
        x, w, b = (t.to("cpu", torch.float64) for t in self.operands)
        return F.conv2d(x, w, b, self.stride, self.padding, self.dilation, self.groups)

    def error(self, out: torch.Tensor) -> float:
        """Relative Frobenius error ||out - ref||_F / ||ref||_F."""
        return relative_error(out, self.reference, self.out_shape)


def _torch_conv(benchmark_mode: bool):
    def conv(*args):
        torch.backends.cudnn.benchmark = benchmark_mode
        torch.backends.cudnn.allow_tf32 = False
        return F.conv2d(*args)
    return conv


class ConvSuite(Suite):
    name = "conv"
    description = "every distinct conv layer of the CNN families at batch 1 and 8 (shapes/conv.txt)"
    implementations = ("pybench", "torch", "torch-cudnn-benchmark")

    def __init__(self, shape_file: str = "conv", batches: tuple[int, ...] = BATCHES):
        self.shape_file, self.batches = shape_file, batches

    def cases(self) -> list[Shape]:
        layers = shapes.load(self.shape_file)
        return [Shape(layer.name, (("N", n), *layer.sizes)) for n in self.batches for layer in layers]

    def specs(self, case: Shape, *, device: str, threads: int) -> list[BenchmarkSpec]:
        conv = ConvCase(case, device)
        impls = {"pybench": ops.conv2d, "torch": F.conv2d if device == "cpu" else _torch_conv(False)}
        if device != "cpu":
            impls["torch-cudnn-benchmark"] = _torch_conv(True)
        return [
            BenchmarkSpec(
                suite=self.name, case=case.label, implementation=impl, device=device,
                threads=threads, flops=conv.flops, bytes=conv.bytes,
                setup=functools.partial(self._setup, fn, conv), tolerance=1e-5,
                params=case.as_dict())
            for impl, fn in impls.items()
        ]

    @staticmethod
    def _setup(fn, conv: ConvCase):
        return conv.call(fn), conv.error


register(ConvSuite())
