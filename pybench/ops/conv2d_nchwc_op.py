"""pybench.ops.conv2d_nchwc: the blocked-layout convolution of converted models (CPU only).

It computes ``act(F.conv2d(x, weight, bias, stride, padding, dilation) + residual)`` with the
input (or, for a model's first layer, a plain NCHW input), the residual and the output in
the blocked layout of :mod:`pybench.ops.nchwc`, and the weight packed once by
:func:`pack_conv2d_nchwc`. The layout and the kernel are described in
``csrc/kernels/conv2d_nchwc/conv2d_nchwc.h``.
"""
from __future__ import annotations

import torch

from pybench.ops.checks import _pair, check_operands, conv2d_padding, fake_conv_out_size
from pybench.ops.nchwc import BLOCK_SIZES, block_size

#: The epilogue activations, applied after the bias and the residual add.
NCHWC_ACTIVATIONS = ("none", "relu", "relu6", "hardswish", "sigmoid")


def pack_conv2d_nchwc(weight: torch.Tensor, block: int | None = None,
                      blocked_input: bool = True) -> torch.Tensor:
    """Pack a (K, C, kH, kW) convolution weight for :func:`conv2d_nchwc`, once.

    Returns (ceil(K/B), Cg, kH, kW, Bi, B) float32: the input channels in Cg groups of Bi,
    ``Cg = ceil(C/B), Bi = B`` for a blocked input and ``Cg = C, Bi = 1`` for an NCHW one;
    the channels past K and C are zero.
    """
    op = "pybench.pack_conv2d_nchwc"
    check_operands(op, weight)
    if weight.dim() != 4:
        raise ValueError(f"{op}: expected a 4-D weight (K, C, kH, kW), got shape "
                         f"{tuple(weight.shape)}")
    block = block_size() if block is None else block
    if block not in BLOCK_SIZES:
        raise ValueError(f"{op}: block must be one of {BLOCK_SIZES}, got {block!r}")
    k, c, kh, kw = weight.shape
    kb = -(-k // block)
    bi = block if blocked_input else 1
    cg = -(-c // bi)
    w = torch.zeros(kb * block, cg * bi, kh, kw, dtype=weight.dtype, device=weight.device)
    w[:k, :c] = weight
    # [kb, o, g, i, r, s] -> [kb, g, r, s, i, o]
    return w.reshape(kb, block, cg, bi, kh, kw).permute(0, 2, 4, 5, 3, 1).contiguous()


def pad_bias_nchwc(bias: torch.Tensor | None, out_channels: int, block: int):
    """``bias`` (K) zero-padded to whole blocks, as :func:`conv2d_nchwc` takes it."""
    if bias is None:
        return None
    kb = -(-out_channels // block)
    return torch.nn.functional.pad(bias, (0, kb * block - out_channels)).contiguous()


def _check_cpu(op, input):
    if isinstance(input, torch.Tensor) and input.device.type != "cpu":
        raise ValueError(f"{op}: the blocked layout is a CPU layout; got input on "
                         f"{input.device} (on a GPU, use pybench.ops.conv2d on NCHW)")


def conv2d_nchwc_schema_args(weight: torch.Tensor, out_channels: int | None, stride=1,
                             padding=0, dilation=1, activation: str = "none") -> tuple:
    """``(out_channels, stride, padding, dilation, activation)`` checked and normalised as
    ``torch.ops.pybench.conv2d_nchwc`` takes them after ``(input, weight, bias, residual)``:
    for a caller that makes the same call many times (a converted model's layer)."""
    return (*_args("pybench.conv2d_nchwc", None, weight, out_channels, stride, padding,
                   dilation, activation), activation)


def _args(op, input, weight, out_channels, stride, padding, dilation, activation):
    if not isinstance(weight, torch.Tensor) or weight.dim() != 6:
        raise ValueError(f"{op}: expected a packed weight (Kb, Cg, kH, kW, Bi, B) from "
                         f"pybench.ops.pack_conv2d_nchwc, got "
                         f"{tuple(weight.shape) if isinstance(weight, torch.Tensor) else weight!r}")
    if activation not in NCHWC_ACTIVATIONS:
        raise ValueError(f"{op}: unknown activation {activation!r}; expected one of "
                         f"{', '.join(NCHWC_ACTIVATIONS)}")
    if out_channels is None:
        out_channels = weight.shape[0] * weight.shape[5]
    pads = conv2d_padding(padding, tuple(weight.shape[2:4]), stride, dilation)
    return int(out_channels), _pair(stride, "stride"), pads, _pair(dilation, "dilation")


def conv2d_nchwc(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                 residual: torch.Tensor | None = None, out_channels: int | None = None,
                 stride=1, padding=0, dilation=1, activation: str = "none") -> torch.Tensor:
    """``act(conv2d(input) + bias + residual)`` in the blocked layout.

    Args:
        input: float32 CPU, blocked (N, Cb, H, W, B), or NCHW (N, C, H, W) for a first layer
            (match ``pack_conv2d_nchwc(..., blocked_input=False)``).
        weight: from :func:`pack_conv2d_nchwc`.
        bias: optional (Kb * B), see :func:`pad_bias_nchwc`.
        residual: optional blocked tensor of the output's shape, added before the activation.
        out_channels: K (default: every channel of the weight's blocks); the channels past it
            are written as zeros.
        stride, padding, dilation: as ``F.conv2d`` (padding also ``"same"`` / ``"valid"``).
        activation: one of :data:`NCHWC_ACTIVATIONS`.

    Returns:
        float32 (N, Kb, OH, OW, B).
    """
    op = "pybench.conv2d_nchwc"
    _check_cpu(op, input)
    check_operands(op, input, weight=weight, bias=bias, residual=residual)
    k, stride, pads, dilation = _args(op, input, weight, out_channels, stride, padding,
                                      dilation, activation)
    return torch.ops.pybench.conv2d_nchwc(input, weight, bias, residual, k, stride, pads,
                                          dilation, activation)


def conv2d_nchwc_out(input: torch.Tensor, weight: torch.Tensor, out: torch.Tensor,
                     out_block_offset: int, bias: torch.Tensor | None = None,
                     residual: torch.Tensor | None = None, out_channels: int | None = None,
                     stride=1, padding=0, dilation=1, activation: str = "none") -> torch.Tensor:
    """:func:`conv2d_nchwc` writing channel blocks ``[out_block_offset, + Kb)`` of ``out``,
    a contiguous blocked buffer with at least that many blocks: the branches of a channel
    concat each write their slice, so the concat costs no copy. Returns ``out``."""
    op = "pybench.conv2d_nchwc_out"
    _check_cpu(op, input)
    check_operands(op, input, weight=weight, bias=bias, residual=residual, out=out)
    k, stride, pads, dilation = _args(op, input, weight, out_channels, stride, padding,
                                      dilation, activation)
    torch.ops.pybench.conv2d_nchwc_out(input, weight, bias, residual, k, stride, pads,
                                       dilation, activation, out, int(out_block_offset))
    return out


def _fake_out_shape(op, input, weight, bias, residual, out_channels, stride, padding, dilation,
                    activation):
    check_operands(op, input, weight=weight, bias=bias, residual=residual)
    torch._check_value(weight.dim() == 6, lambda: f"{op}: expected a packed 6-D weight")
    torch._check_value(input.dim() in (4, 5), lambda: f"{op}: expected a 4-D or 5-D input")
    torch._check_value(activation in NCHWC_ACTIVATIONS,
                       lambda: f"{op}: unknown activation {activation!r}")
    kb, cg, kh, kw, bi, block = weight.shape
    torch._check_value(input.shape[1] == cg, lambda: f"{op}: input does not match the weight")
    torch._check_value((kb - 1) * block < out_channels <= kb * block,
                       lambda: f"{op}: out_channels does not fill the weight's blocks")
    oh, ow = fake_conv_out_size(op, input.shape[2], input.shape[3], kh, kw, stride, padding,
                                dilation)
    return (input.shape[0], kb, oh, ow, block)


@torch.library.register_fake("pybench::conv2d_nchwc")
def _conv2d_nchwc_fake(input, weight, bias, residual, out_channels, stride, padding, dilation,
                       activation="none"):
    # activation's default: the dispatcher drops an argument equal to the schema's default
    # before it calls a Python kernel.
    shape = _fake_out_shape("pybench.conv2d_nchwc", input, weight, bias, residual,
                            out_channels, stride, padding, dilation, activation)
    return input.new_empty(shape)


@torch.library.register_fake("pybench::conv2d_nchwc_out")
def _conv2d_nchwc_out_fake(input, weight, bias, residual, out_channels, stride, padding,
                           dilation, activation, out, out_block_offset):
    _fake_out_shape("pybench.conv2d_nchwc_out", input, weight, bias, residual, out_channels,
                    stride, padding, dilation, activation)
    return None
