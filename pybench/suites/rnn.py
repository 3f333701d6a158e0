"""LSTM suite: pybench's fused LSTM kernels against PyTorch's LSTM modules.

Cases are the lines of ``shapes/rnn.txt`` (shared with the C++ ``lstm_bench``): the seed
workloads (the sentiment classifier's ``nn.LSTM(300, 40)`` over 70 tokens at batch 128, a
character model with hidden 256), DeepBench-style cells at hidden 512 / 1024 / 2048 and
batch 1 / 16 / 32 / 64, and sequences of 25 and 50 steps. A case with ``T`` is a sequence
(``nn.LSTM``), one without a single ``nn.LSTMCell`` step.

Implementations:

- ``pybench``: ``pybench.nn.LSTM`` / ``pybench.nn.LSTMCell``, i.e. the ops with the weights
  packed once and cached, as a converted model runs them;
- ``pybench-op``: ``pybench.ops.lstm`` / ``lstm_cell`` called with the raw weight tensors,
  the same objects every call, as a user's loop would; the ops pack them on the first call
  and reuse the pack while the weights are unchanged (``pybench.ops.pack_cache``), so this
  is ``pybench`` plus the cache lookup. Its specs ``rewarm``: the other cases' repetitions,
  interleaved in between, evict its pack from the 8-entry cache, and a user's loop would not;
  the cold call (packing included) is therefore untimed at the start of each repetition;
- ``torch``: ``torch.nn.LSTM`` / ``torch.nn.LSTMCell`` (oneDNN's RNN primitive on the CPU,
  cuDNN on the GPU).

All run without autograd (parameters do not require grad). Every implementation is credited
with the same FLOP count, 2 x B x 4H x (I + H) per step (the DeepBench count; the gate
epilogue is not counted), so GFLOP/s ratios equal time ratios. Validation: the largest
absolute error of every output (output, h_n, c_n; or hy, cy) against ``torch.nn`` in float64
-- 1e-5 for a cell, 1e-4 for a sequence (issue 6's bounds).
"""
from __future__ import annotations

import functools
import zlib

import torch
from torch import nn

import pybench.nn as pnn
from pybench import ops, shapes
from pybench.harness import BenchmarkSpec
from pybench.shapes import Shape
from pybench.suites import Suite, register

CELL_TOLERANCE = 1e-5
SEQUENCE_TOLERANCE = 1e-4


class LstmCase:
    """One case's module and inputs (seeded per case, PyTorch's default init, never zeros),
    shared by its implementations, and the float64 reference."""

    def __init__(self, shape: Shape, device: str):
        s = shape.as_dict()
        self.label, self.device = shape.label, device
        self.sequence = "T" in s
        self.t, self.b, self.i, self.h = s.get("T", 1), s["B"], s["I"], s["H"]
        self.flops = 8 * self.t * self.b * self.h * (self.i + self.h)
        # Weights once per call, the inputs, the states and the outputs.
        self.bytes = 4 * (4 * self.h * (self.i + self.h) + 8 * self.h + self.t * self.b * self.i +
                          self.t * self.b * self.h + 4 * self.b * self.h)

    @functools.cached_property
    def operands(self):
        torch.manual_seed(zlib.crc32(self.label.encode()))
        module = (nn.LSTM(self.i, self.h) if self.sequence else nn.LSTMCell(self.i, self.h))
        module.requires_grad_(False)
        x = torch.randn((self.t, self.b, self.i) if self.sequence else (self.b, self.i))
        h0, c0 = torch.randn(self.b, self.h), torch.randn(self.b, self.h)
        return module.to(self.device), x.to(self.device), h0.to(self.device), c0.to(self.device)

    @functools.cached_property
    def reference(self) -> list[torch.Tensor]:
        module, x, h0, c0 = self.operands
        ref = type(module)(self.i, self.h, dtype=torch.float64)
        ref.load_state_dict({k: v.double().cpu() for k, v in module.state_dict().items()})
        with torch.no_grad():
            x, h0, c0 = x.double().cpu(), h0.double().cpu(), c0.double().cpu()
            if self.sequence:
                out, (h, c) = ref(x, (h0[None], c0[None]))
                return [out, h[0], c[0]]
            return list(ref(x, (h0, c0)))

    def error(self, out) -> float:
        """Largest absolute error over every output, against the float64 reference."""
        if self.sequence:
            output, (h, c) = out
            got = [output, h.reshape(self.b, self.h), c.reshape(self.b, self.h)]
        else:
            got = list(out)
        worst = 0.0
        for g, r in zip(got, self.reference):
            if tuple(g.shape) != tuple(r.shape) or g.dtype != torch.float32:
                raise ValueError(f"expected float32 output of shape {tuple(r.shape)}, "
                                 f"got {g.dtype} {tuple(g.shape)}")
            worst = max(worst, (g.double().cpu() - r).abs().max().item())
        return worst

    def runner(self, impl: str):
        module, x, h0, c0 = self.operands
        if impl == "torch":
            state = (h0[None], c0[None]) if self.sequence else (h0, c0)
            return functools.partial(module, x, state)
        if impl == "pybench":
            mine = (pnn.LSTM if self.sequence else pnn.LSTMCell).from_torch(module)
            state = (h0[None], c0[None]) if self.sequence else (h0, c0)
            return functools.partial(mine, x, state)
        # The module's own parameter objects on every call: the op's pack cache keys on them.
        if self.sequence:
            w = (module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0)
            return functools.partial(ops.lstm, x, h0, c0, *w)
        w = (module.weight_ih, module.weight_hh, module.bias_ih, module.bias_hh)
        return functools.partial(ops.lstm_cell, x, h0, c0, *w)


class RnnSuite(Suite):
    name = "rnn"
    description = ("LSTM cells and sequences: seed workloads and DeepBench-style sizes "
                   "(shapes/rnn.txt)")
    implementations = ("pybench", "pybench-op", "torch")

    def __init__(self, shape_file: str = "rnn"):
        self.shape_file = shape_file

    def cases(self) -> list[Shape]:
        return shapes.load(self.shape_file)

    def specs(self, case: Shape, *, device: str, threads: int) -> list[BenchmarkSpec]:
        lstm = LstmCase(case, device)
        tolerance = SEQUENCE_TOLERANCE if lstm.sequence else CELL_TOLERANCE
        return [
            BenchmarkSpec(
                suite=self.name, case=case.label, implementation=impl, device=device,
                threads=threads, flops=lstm.flops, bytes=lstm.bytes,
                setup=functools.partial(self._setup, impl, lstm), tolerance=tolerance,
                params=case.as_dict(), rewarm=impl == "pybench-op")
            for impl in self.implementations
        ]

    @staticmethod
    def _setup(impl: str, lstm: LstmCase):
        return lstm.runner(impl), lstm.error


register(RnnSuite())
