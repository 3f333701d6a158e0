"""``pybench.nn.LSTMCell`` / ``pybench.nn.LSTM``: ``torch.nn.LSTMCell`` / ``torch.nn.LSTM``
(one unidirectional layer) running :func:`pybench.ops.lstm_cell` / :func:`pybench.ops.lstm`.

Both are subclasses of the PyTorch modules: same constructor, parameters, ``state_dict``
keys and results. On the CPU they keep the weights packed for the active ISA
(:func:`pybench.ops.lstm_pack_weights`, in a :class:`pybench.ops.pack_cache.PackSlot`) and
repack when the CPU ISA changes or a weight does: another tensor, storage, layout or version
(``copy_`` under ``no_grad``, ``load_state_dict``, optimizer steps, ``.to()``), or -- for
writes the version counter misses, such as ``weight.data.copy_(w)`` -- a changed value on
the content probe, 256 elements spread over each weight's rows and columns (see
:mod:`pybench.ops.pack_cache` for what it sees and the case left: writes through ``.data``
of a few rows or elements; ``pybench.ops.clear_pack_cache()`` then).
"""
from __future__ import annotations

import torch
from torch import nn

from pybench import ops
from pybench.ops import pack_cache

__all__ = ["LSTMCell", "LSTM", "lstm_cell_unsupported_reason", "lstm_unsupported_reason"]


def _dtype_reason(module: nn.Module) -> str | None:
    for name, p in module.named_parameters(recurse=False):
        if isinstance(p, nn.parameter.UninitializedParameter):
            return "lazy module: its weights are not materialised yet"
        if p.dtype != torch.float32:
            return f"{name} dtype {p.dtype} (pybench kernels are float32 only)"
    return None


def lstm_cell_unsupported_reason(cell: nn.LSTMCell) -> str | None:
    """Why pybench's kernel can never run ``cell``'s configuration, or None if it can."""
    return _dtype_reason(cell)


def lstm_unsupported_reason(lstm: nn.LSTM) -> str | None:
    """Why pybench's kernel can never run ``lstm``'s configuration, or None if it can."""
    if lstm.num_layers != 1:
        return f"num_layers={lstm.num_layers} (pybench runs one layer)"
    if lstm.bidirectional:
        return "bidirectional (pybench runs one direction)"
    if lstm.proj_size:
        return f"proj_size={lstm.proj_size} (pybench has no projection)"
    return _dtype_reason(lstm)


def _call_reason(module: nn.Module, static: str | None, *tensors: torch.Tensor) -> str | None:
    if static is not None:
        return static
    for t in tensors:
        if t is None:
            continue
        if not isinstance(t, torch.Tensor):
            return f"input of type {type(t).__name__} (pybench takes plain tensors)"
        if t.dtype != torch.float32:
            return f"input dtype {t.dtype} (pybench kernels are float32 only)"
    device = tensors[0].device
    if device.type == "cuda":
        if not ops.has_cuda_kernels():
            return "CUDA input, but pybench was built without CUDA kernels"
    elif device.type != "cpu":
        return f"device {device.type!r} (pybench runs on cpu and cuda)"
    return None


def _packs(module: nn.Module, w_ih: torch.Tensor, w_hh: torch.Tensor):
    """The packs of (w_ih, w_hh) for the active ISA from the module's slot, or (None, None)
    where nothing may be kept (CUDA reads raw weights; inference tensors have no version
    counter; tracing must see the packing) and the op packs per call instead."""
    if w_ih.device.type != "cpu" or pack_cache.uncacheable_reason(w_ih, w_hh) is not None:
        return None, None
    return module._pybench_pack.get((w_ih, w_hh), ops.lstm_pack_weights, extra=ops.cpu_isa())


class LSTMCell(nn.LSTMCell):
    """A drop-in ``torch.nn.LSTMCell`` whose forward runs :func:`pybench.ops.lstm_cell`.

    Falls back to ``torch.nn.LSTMCell.forward`` where the kernel cannot run (non-float32,
    a device other than cpu / cuda); :meth:`unsupported_reason` says why. Under autograd
    it runs pybench's training forward and fused backward (:mod:`pybench.ops.lstm_ops`).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pybench_pack = pack_cache.PackSlot()

    def _get_name(self) -> str:
        return "pybench.LSTMCell"

    @classmethod
    def from_torch(cls, cell: nn.LSTMCell) -> "LSTMCell":
        """An ``LSTMCell`` sharing ``cell``'s parameter tensors and training flag."""
        new = cls(cell.input_size, cell.hidden_size, bias=cell.bias, device="meta",
                  dtype=cell.weight_ih.dtype)
        for name, p in cell.named_parameters(recurse=False):
            setattr(new, name, p)
        new.train(cell.training)
        return new

    def unsupported_reason(self, input: torch.Tensor | None = None, hx=None) -> str | None:
        """Why ``forward(input, hx)`` would fall back to PyTorch, or None if pybench runs."""
        static = lstm_cell_unsupported_reason(self)
        if static is not None or input is None:
            return static
        h, c = hx if hx is not None else (None, None)
        return _call_reason(self, None, input, h, c)

    def forward(self, input: torch.Tensor, hx=None):
        if self.unsupported_reason(input, hx) is not None:
            return super().forward(input, hx)
        if input.dim() not in (1, 2):
            raise ValueError(f"LSTMCell: Expected input to be 1D or 2D, got {input.dim()}D instead")
        if hx is None:
            shape = (input.shape[0], self.hidden_size) if input.dim() == 2 else (self.hidden_size,)
            zeros = input.new_zeros(shape)
            hx = (zeros, zeros)
        p_ih, p_hh = _packs(self, self.weight_ih, self.weight_hh)
        return ops.lstm_cell(input, hx[0], hx[1], self.weight_ih, self.weight_hh, self.bias_ih,
                             self.bias_hh, packed_ih=p_ih, packed_hh=p_hh)


class LSTM(nn.LSTM):
    """A drop-in ``torch.nn.LSTM`` whose forward runs :func:`pybench.ops.lstm`.

    pybench runs single-layer, unidirectional LSTMs without projection on plain (not
    packed-sequence) float32 input, under autograd on its training forward and fused
    backward; anything else falls back to ``torch.nn.LSTM.forward`` (:meth:`unsupported_reason`
    says why).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pybench_pack = pack_cache.PackSlot()

    def _get_name(self) -> str:
        return "pybench.LSTM"

    @classmethod
    def from_torch(cls, lstm: nn.LSTM) -> "LSTM":
        """An ``LSTM`` sharing ``lstm``'s parameter tensors and training flag."""
        new = cls(lstm.input_size, lstm.hidden_size, num_layers=lstm.num_layers, bias=lstm.bias,
                  batch_first=lstm.batch_first, dropout=lstm.dropout,
                  bidirectional=lstm.bidirectional, proj_size=lstm.proj_size, device="meta",
                  dtype=lstm.weight_ih_l0.dtype)
        for name, p in lstm.named_parameters(recurse=False):
            setattr(new, name, p)
        new._init_flat_weights()
        new.train(lstm.training)
        return new

    def unsupported_reason(self, input=None, hx=None) -> str | None:
        """Why ``forward(input, hx)`` would fall back to PyTorch, or None if pybench runs."""
        static = lstm_unsupported_reason(self)
        if static is not None or input is None:
            return static
        h, c = hx if hx is not None else (None, None)
        return _call_reason(self, None, input, h, c)

    def forward(self, input, hx=None):
        if self.unsupported_reason(input, hx) is not None:
            return super().forward(input, hx)
        if input.dim() not in (2, 3):
            raise ValueError(f"LSTM: Expected input to be 2D or 3D, got {input.dim()}D instead")
        unbatched = input.dim() == 2
        if unbatched:
            input = input.unsqueeze(0 if self.batch_first else 1)
        batch = input.shape[0 if self.batch_first else 1]
        if hx is None:
            h0 = c0 = input.new_zeros((batch, self.hidden_size))
        else:
            h0, c0 = hx
            want = (1, self.hidden_size) if unbatched else (1, batch, self.hidden_size)
            for name, t in (("hx", h0), ("cx", c0)):
                if tuple(t.shape) != want:
                    raise RuntimeError(f"Expected hidden size {want}, got {tuple(t.shape)} "
                                       f"for {name}")
            h0, c0 = (h0, c0) if unbatched else (h0[0], c0[0])
        p_ih, p_hh = _packs(self, self.weight_ih_l0, self.weight_hh_l0)
        out, (h_n, c_n) = ops.lstm(input, h0, c0, self.weight_ih_l0, self.weight_hh_l0,
                                   getattr(self, "bias_ih_l0", None),
                                   getattr(self, "bias_hh_l0", None), self.batch_first,
                                   packed_ih=p_ih, packed_hh=p_hh)
        if unbatched:
            return out.squeeze(0 if self.batch_first else 1), (h_n, c_n)
        return out, (h_n.unsqueeze(0), c_n.unsqueeze(0))
