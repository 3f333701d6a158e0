"""Gram-matrix suites: pybench.ops.gram against PyTorch's ``F @ Fᵀ``.

``gram`` is the C x H*W grid of ``shapes/gram.txt``; ``style`` the VGG-19 style-loss layers
of ``shapes/gram_style.txt``. Both implementations are credited with the SSYRK FLOP count
N*C*(C+1)*L, so GFLOP/s ratios equal time ratios.
"""
from __future__ import annotations

import functools
import os
import time
import zlib

import torch

from pybench import ops, shapes
from pybench.harness import BenchmarkSpec
from pybench.shapes import Shape
from pybench.suites import Suite, register


class _GramInput:
    """One case's input, made on first use and shared by its implementations, and its float64
    reference G = F Fᵀ. Inputs come from a per-case seeded ``torch.randn`` (never zeros)."""

    def __init__(self, shape: Shape, device: str):
        self.label, self.device = shape.label, device
        self.two_d = "L" in shape.as_dict() and "N" not in shape.as_dict()
        self.n, self.c = shape.get("N", 1), shape["C"]
        self.l = shape["L"] if "L" in shape.as_dict() else shape["H"] * shape["W"]
        self.dims = (self.c, self.l) if self.two_d else (self.n, self.c, shape["H"], shape["W"])

    @functools.cached_property
    def x(self) -> torch.Tensor:
        gen = torch.Generator().manual_seed(zlib.crc32(self.label.encode()))
        return torch.randn(self.dims, generator=gen).to(self.device)

    @functools.cached_property
    def reference(self) -> torch.Tensor:
        f64 = self.x.double().reshape(self.n, self.c, self.l)
        return f64 @ f64.transpose(-1, -2)

    def error(self, out: torch.Tensor) -> float:
        """Relative Frobenius error ||out - ref||_F / ||ref||_F."""
        expected = (self.c, self.c) if self.two_d else (self.n, self.c, self.c)
        if tuple(out.shape) != expected or out.dtype != torch.float32:
            raise ValueError(f"expected float32 output of shape {expected}, "
                             f"got {out.dtype} {tuple(out.shape)}")
        ref = self.reference
        diff = out.double().reshape(ref.shape) - ref
        return (torch.linalg.vector_norm(diff) / torch.linalg.vector_norm(ref)).item()


#: Test-only knob for the compare gate's power experiment (scripts/aa_power.py): a fraction
#: f > 0 makes every timed pybench call also spin for f times the kernel's median CPU time
#: (measured once, at set-up, on this thread, after warm-up calls). CPU time rather than wall time, so that the
#: added work stretches under a busy host exactly as the kernel's own does; exact with
#: --threads 1 (the kernel then runs on the calling thread).
SLOWDOWN_ENV = "PYBENCH_TEST_GRAM_SLOWDOWN"


def _spin_cpu(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def _pybench(inp: _GramInput):
    x = inp.x
    extra = float(os.environ.get(SLOWDOWN_ENV) or 0)
    if extra > 0:
        for _ in range(3):  # first calls pay page faults and allocations: not the kernel's cost
            ops.gram(x)
        costs = []
        for _ in range(9):
            t0 = time.thread_time()
            ops.gram(x)
            costs.append(time.thread_time() - t0)
        spin = extra * sorted(costs)[len(costs) // 2]

        def slowed():
            out = ops.gram(x)
            _spin_cpu(spin)
            return out

        # The spin overshoots (clock reads, call overhead): measure what it adds and correct.
        for _ in range(2):
            plain, slow = [], []
            for _ in range(15):
                t0 = time.thread_time()
                ops.gram(x)
                t1 = time.thread_time()
                slowed()
                plain.append(t1 - t0)
                slow.append(time.thread_time() - t1)
            achieved = sorted(slow)[7] / sorted(plain)[7] - 1
            spin *= min(2.0, max(0.25, extra / achieved)) if achieved > 0 else 2.0
        return slowed
    return lambda: ops.gram(x)


def _torch(inp: _GramInput):
    if inp.two_d:
        x = inp.x
        return lambda: x @ x.T
    v = inp.x.reshape(inp.n, inp.c, inp.l)
    return lambda: v @ v.transpose(-1, -2)


class GramSuite(Suite):
    implementations = ("pybench", "torch")
    _make = {"pybench": _pybench, "torch": _torch}

    def __init__(self, name: str, shape_file: str, description: str):
        self.name, self.shape_file, self.description = name, shape_file, description

    def cases(self) -> list[Shape]:
        return shapes.load(self.shape_file)

    def specs(self, case: Shape, *, device: str, threads: int) -> list[BenchmarkSpec]:
        inp = _GramInput(case, device)
        flops = inp.n * inp.c * (inp.c + 1) * inp.l
        nbytes = 4 * (inp.n * inp.c * inp.l + inp.n * inp.c * inp.c)
        # F @ F.T computes all C x C entries: 2 N C^2 L FLOPs executed for the credited count;
        # pybench the lower triangle in whole register tiles (the active CPU variant's; the
        # CUDA kernel's count is not modelled: its useful FLOPs stand in).
        pybench_executed = (
            int(torch.ops.pybench._gram_executed_flops(inp.n, inp.c, inp.l))
            if device == "cpu" else flops)
        executed = {"torch": 2 * inp.n * inp.c * inp.c * inp.l, "pybench": pybench_executed}
        return [
            BenchmarkSpec(
                suite=self.name, case=case.label, implementation=impl, device=device,
                threads=threads, flops=flops, bytes=nbytes,
                setup=functools.partial(self._setup, impl, inp), tolerance=1e-5,
                params=case.as_dict(), executed_flops=executed[impl])
            for impl in self.implementations
        ]

    def _setup(self, impl: str, inp: _GramInput):
        return self._make[impl](inp), inp.error


register(GramSuite("gram", "gram", "Gram matrices over C x H*W (shapes/gram.txt)"))
register(GramSuite("style", "gram_style", "VGG-19 style-loss Gram matrices (shapes/gram_style.txt)"))


class _GramBackwardInput(_GramInput):
    """A case's features F and upstream gradient dG (both seeded randn), and the float64
    reference of the backward, dF = (dG + dG^T) F."""

    @functools.cached_property
    def grad(self) -> torch.Tensor:
        gen = torch.Generator().manual_seed(zlib.crc32(self.label.encode()) + 1)
        shape = (self.c, self.c) if self.two_d else (self.n, self.c, self.c)
        return torch.randn(shape, generator=gen).to(self.device)

    @functools.cached_property
    def reference(self) -> torch.Tensor:
        f64 = self.x.double().reshape(self.n, self.c, self.l)
        g64 = self.grad.double().reshape(self.n, self.c, self.c)
        return ((g64 + g64.transpose(-1, -2)) @ f64).reshape(self.dims)

    def error(self, out: torch.Tensor) -> float:
        if tuple(out.shape) != tuple(self.dims) or out.dtype != torch.float32:
            raise ValueError(f"expected float32 output of shape {tuple(self.dims)}, "
                             f"got {out.dtype} {tuple(out.shape)}")
        ref = self.reference
        diff = out.double() - ref
        return (torch.linalg.vector_norm(diff) / torch.linalg.vector_norm(ref)).item()


def _pybench_backward(inp: _GramBackwardInput):
    x, grad = inp.x, inp.grad
    return lambda: torch.ops.pybench.gram_backward(grad, x, False)


def _torch_backward(inp: _GramBackwardInput):
    """What training code gets from autograd of ``F @ F^T``: the recorded graph's backward
    (dG F + dG^T F, two products and a sum), the forward recorded once outside the timing."""
    v = inp.x.detach().requires_grad_(True)
    m = v if inp.two_d else v.reshape(inp.n, inp.c, inp.l)
    out = m @ m.transpose(-1, -2)
    grad = inp.grad
    return lambda: torch.autograd.grad(out, v, grad, retain_graph=True)[0]


class GramBackwardSuite(GramSuite):
    """The Gram matrix's backward: pybench.ops.gram's (one (C x C) x (C x L) product on
    dG + dG^T) against autograd of ``F @ F^T``. Both are credited with pybench's FLOP count
    2 N C^2 L (autograd's two products are twice that), so GFLOP/s ratios equal time ratios."""

    _make = {"pybench": _pybench_backward, "torch": _torch_backward}

    def specs(self, case: Shape, *, device: str, threads: int) -> list[BenchmarkSpec]:
        inp = _GramBackwardInput(case, device)
        flops = 2 * inp.n * inp.c * inp.c * inp.l
        nbytes = 4 * (2 * inp.n * inp.c * inp.l + inp.n * inp.c * inp.c)
        executed = {"torch": 2 * flops, "pybench": flops}  # autograd: dG F and dG^T F
        return [
            BenchmarkSpec(
                suite=self.name, case=case.label, implementation=impl, device=device,
                threads=threads, flops=flops, bytes=nbytes,
                setup=functools.partial(self._setup, impl, inp), tolerance=1e-5,
                params=case.as_dict(), executed_flops=executed[impl])
            for impl in self.implementations
        ]


register(GramBackwardSuite("gram_backward", "gram",
                           "Gram matrix backward over C x H*W (shapes/gram.txt)"))
register(GramBackwardSuite("style_backward", "gram_style",
                           "VGG-19 style-loss Gram backward (shapes/gram_style.txt)"))
