"""pybench.ops.conv2d_winograd_nchwc: a 3x3, stride-1 convolution on the blocked layout by
Winograd's F(4x4, 3x3) algorithm (CPU only).

Same contract as :func:`pybench.ops.conv2d_nchwc` (``act(conv2d(x) + bias + residual)``,
blocked input, residual and output) for the convolutions it accepts: 3x3 kernel, stride 1,
dilation 1, one group, any padding. Each 4x4 output tile is computed from its 6x6 input tile
with 36 multiplies per channel pair where the direct kernel spends 144, so the layer does a
quarter of the direct FLOPs plus the tile transforms.

Accuracy: the transforms' constants (up to 5 in ``B^T``, 8 in ``A^T``, 1/24 in ``G``) amplify
float32 rounding. Against a float64 reference, the error of an output is bounded by
``WINOGRAD_RTOL`` times ``sum |x| |w|`` over its receptive field (the scale of the sum's
rounding), where the direct kernel's is about ``1e-6``; :mod:`pybench.nn` converts a layer to
Winograd only where it measures faster, and the converted model is checked against eager.
"""
from __future__ import annotations

import torch

from pybench.ops.checks import check_operands, conv2d_padding, fake_conv_out_size
from pybench.ops.conv2d_nchwc_op import NCHWC_ACTIVATIONS, _check_cpu
from pybench.ops.nchwc import BLOCK_SIZES, block_size

#: The error bound the tests check, relative to ``sum |x| |w|`` of an output (float32).
WINOGRAD_RTOL = 1e-5

# F(4x4, 3x3)'s filter transform (Lavin & Gray 2016, points 0, +-1, +-2, +-1/2).
_G = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
      (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))


def winograd_unsupported_reason(kernel_size, stride, dilation, groups=1) -> str | None:
    """Why a convolution cannot run :func:`conv2d_winograd_nchwc`, or None."""
    if tuple(kernel_size) != (3, 3):
        return f"kernel {tuple(kernel_size)} is not 3x3"
    if tuple(stride) != (1, 1):
        return f"stride {tuple(stride)} is not 1"
    if tuple(dilation) != (1, 1):
        return f"dilation {tuple(dilation)} is not 1"
    if groups != 1:
        return f"groups={groups}"
    return None


def pack_conv2d_winograd_nchwc(weight: torch.Tensor, block: int | None = None) -> torch.Tensor:
    """Transform and pack a (K, C, 3, 3) weight for :func:`conv2d_winograd_nchwc`, once.

    Returns (36, ceil(K/B), ceil(C/B), B, B) float32: ``U = G g G^T`` computed in float64,
    element ``[xi * 6 + nu][kb][cb][i][o]`` for output channel ``kb * B + o`` and input channel
    ``cb * B + i``; padded channels zero.
    """
    op = "pybench.pack_conv2d_winograd_nchwc"
    check_operands(op, weight)
    if weight.dim() != 4 or tuple(weight.shape[2:]) != (3, 3):
        raise ValueError(f"{op}: expected a (K, C, 3, 3) weight, got shape "
                         f"{tuple(weight.shape)}")
    block = block_size() if block is None else block
    if block not in BLOCK_SIZES:
        raise ValueError(f"{op}: block must be one of {BLOCK_SIZES}, got {block!r}")
    k, c = weight.shape[:2]
    kb, cb = -(-k // block), -(-c // block)
    g = torch.tensor(_G, dtype=torch.float64, device=weight.device)
    u = torch.einsum("ar,kcrs,bs->kcab", g, weight.double(), g)  # (K, C, 6, 6)
    padded = torch.zeros(kb * block, cb * block, 6, 6, dtype=torch.float64, device=weight.device)
    padded[:k, :c] = u
    # [kb, o, cb, i, xi, nu] -> [xi, nu, kb, cb, i, o]
    packed = padded.reshape(kb, block, cb, block, 36).permute(4, 0, 2, 3, 1)
    return packed.to(weight.dtype).contiguous()


def _args(op, weight, out_channels, padding, activation):
    if not isinstance(weight, torch.Tensor) or weight.dim() != 5 or weight.shape[0] != 36:
        raise ValueError(f"{op}: expected a packed Winograd weight (36, Kb, Cb, B, B) from "
                         f"pybench.ops.pack_conv2d_winograd_nchwc, got "
                         f"{tuple(weight.shape) if isinstance(weight, torch.Tensor) else weight!r}")
    if activation not in NCHWC_ACTIVATIONS:
        raise ValueError(f"{op}: unknown activation {activation!r}; expected one of "
                         f"{', '.join(NCHWC_ACTIVATIONS)}")
    if out_channels is None:
        out_channels = weight.shape[1] * weight.shape[4]
    if isinstance(padding, (tuple, list)) and len(padding) == 4:
        # (top, bottom, left, right), as the schema takes it: a converted layer's resolved
        # "same", or any asymmetric padding.
        return int(out_channels), tuple(int(v) for v in padding)
    return int(out_channels), conv2d_padding(padding, (3, 3), 1, 1)


def winograd_nchwc_schema_args(weight: torch.Tensor, out_channels: int | None, padding=1,
                               activation: str = "none") -> tuple:
    """``(out_channels, padding, activation)`` checked and normalised as
    ``torch.ops.pybench.conv2d_nchwc_winograd`` takes them after its tensors."""
    return (*_args("pybench.conv2d_winograd_nchwc", weight, out_channels, padding, activation),
            activation)


def conv2d_winograd_nchwc(input: torch.Tensor, weight: torch.Tensor,
                          bias: torch.Tensor | None = None, residual: torch.Tensor | None = None,
                          out_channels: int | None = None, padding=1,
                          activation: str = "none") -> torch.Tensor:
    """``act(conv2d(input, 3x3, stride 1) + bias + residual)`` in the blocked layout, by
    Winograd F(4x4, 3x3).

    Args:
        input: float32 CPU, blocked (N, Cb, H, W, B).
        weight: from :func:`pack_conv2d_winograd_nchwc`.
        bias: optional (Kb * B) (:func:`pybench.ops.pad_bias_nchwc`).
        residual: optional blocked tensor of the output's shape, added before the activation.
        out_channels: K (default: every channel of the weight's blocks).
        padding: as ``F.conv2d`` (also ``"same"`` / ``"valid"``), or (top, bottom, left,
            right).
        activation: one of :data:`pybench.ops.NCHWC_ACTIVATIONS`.

    Returns:
        float32 (N, Kb, OH, OW, B).
    """
    op = "pybench.conv2d_winograd_nchwc"
    _check_cpu(op, input)
    check_operands(op, input, weight=weight, bias=bias, residual=residual)
    k, pads = _args(op, weight, out_channels, padding, activation)
    return torch.ops.pybench.conv2d_nchwc_winograd(input, weight, bias, residual, k, pads,
                                                   activation)


def conv2d_winograd_nchwc_out(input: torch.Tensor, weight: torch.Tensor, out: torch.Tensor,
                              out_block_offset: int, bias: torch.Tensor | None = None,
                              residual: torch.Tensor | None = None,
                              out_channels: int | None = None, padding=1,
                              activation: str = "none") -> torch.Tensor:
    """:func:`conv2d_winograd_nchwc` writing channel blocks ``[out_block_offset, + Kb)`` of
    ``out`` (a concat's slice, as :func:`pybench.ops.conv2d_nchwc_out`). Returns ``out``."""
    op = "pybench.conv2d_winograd_nchwc_out"
    _check_cpu(op, input)
    check_operands(op, input, weight=weight, bias=bias, residual=residual, out=out)
    k, pads = _args(op, weight, out_channels, padding, activation)
    torch.ops.pybench.conv2d_nchwc_winograd_out(input, weight, bias, residual, k, pads,
                                                activation, out, int(out_block_offset))
    return out


def _fake_out_shape(op, input, weight, bias, residual, out_channels, padding, activation):
    check_operands(op, input, weight=weight, bias=bias, residual=residual)
    torch._check_value(weight.dim() == 5 and weight.shape[0] == 36,
                       lambda: f"{op}: expected a packed Winograd weight (36, Kb, Cb, B, B)")
    torch._check_value(input.dim() == 5, lambda: f"{op}: expected a blocked 5-D input")
    torch._check_value(activation in NCHWC_ACTIVATIONS,
                       lambda: f"{op}: unknown activation {activation!r}")
    _, kb, cb, _, block = weight.shape
    torch._check_value(input.shape[1] == cb and input.shape[4] == block,
                       lambda: f"{op}: input does not match the weight")
    torch._check_value((kb - 1) * block < out_channels <= kb * block,
                       lambda: f"{op}: out_channels does not fill the weight's blocks")
    oh, ow = fake_conv_out_size(op, input.shape[2], input.shape[3], 3, 3, (1, 1), padding,
                                (1, 1))
    return (input.shape[0], kb, oh, ow, block)


@torch.library.register_fake("pybench::conv2d_nchwc_winograd")
def _winograd_fake(input, weight, bias, residual, out_channels, padding, activation="none"):
    shape = _fake_out_shape("pybench.conv2d_winograd_nchwc", input, weight, bias, residual,
                            out_channels, padding, activation)
    return input.new_empty(shape)


@torch.library.register_fake("pybench::conv2d_nchwc_winograd_out")
def _winograd_out_fake(input, weight, bias, residual, out_channels, padding, activation, out,
                       out_block_offset):
    _fake_out_shape("pybench.conv2d_winograd_nchwc_out", input, weight, bias, residual,
                    out_channels, padding, activation)
    return None
