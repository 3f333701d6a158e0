"""pybench.ops.depthwise_conv2d_nchwc: depthwise convolution on the blocked layout
(:mod:`pybench.ops.nchwc`) with a fused residual add and activation, and the weight packing
it needs."""
from __future__ import annotations

import torch

from pybench.ops.checks import _pair, check_operands, conv2d_padding, fake_conv_out_size
from pybench.ops.nchwc import BLOCK_SIZES, _check_block, block_size

#: Activations of :func:`depthwise_conv2d_nchwc`, as in csrc/kernels/common/activation.h.
ACTIVATIONS = ("none", "relu", "relu6", "hardswish", "sigmoid")

_OP = "pybench.depthwise_conv2d_nchwc"


def _check_cpu(op: str, **tensors: torch.Tensor | None) -> None:
    for name, t in tensors.items():
        if isinstance(t, torch.Tensor) and t.device.type not in ("cpu", "meta"):
            raise ValueError(f"{op}: {name} is on {t.device}, but the blocked layout is a CPU "
                             "layout: there is no kernel for other devices")


def pack_depthwise_nchwc(weight: torch.Tensor, block: int | None = None) -> torch.Tensor:
    """A depthwise weight (C, 1, kH, kW) packed for :func:`depthwise_conv2d_nchwc`:
    float32 (ceil(C / block), kH, kW, block), channel c at [c // block, r, s, c % block],
    zeros in the padded channels. Runs once, at model conversion.

    Args:
        weight: floating (C, 1, kH, kW) on the CPU (multiplier 1 only).
        block: 8 or 16; default :func:`pybench.ops.nchwc.block_size` of the ISA in use.
    """
    op = "pybench.pack_depthwise_nchwc"
    if not isinstance(weight, torch.Tensor) or not weight.is_floating_point():
        raise TypeError(f"{op}: expected a floating-point weight tensor, got "
                        f"{weight.dtype if isinstance(weight, torch.Tensor) else type(weight).__name__}")
    _check_cpu(op, weight=weight)
    if weight.dim() != 4 or weight.shape[1] != 1 or min(weight.shape) == 0:
        raise ValueError(f"{op}: expected a depthwise weight of shape (C, 1, kH, kW), non-empty, "
                         f"got {tuple(weight.shape)}")
    block = _check_block(op, block_size() if block is None else block)
    c, _, kh, kw = weight.shape
    cb = -(-c // block)
    w = torch.zeros(cb * block, kh, kw, dtype=torch.float32, device=weight.device)
    w[:c] = weight.detach()[:, 0].to(torch.float32)
    return w.reshape(cb, block, kh, kw).permute(0, 2, 3, 1).contiguous()


def _nchwc_padding(padding, kernel_size, stride, dilation) -> tuple[int, int, int, int]:
    if isinstance(padding, (tuple, list)) and len(padding) == 4:
        return tuple(int(p) for p in padding)
    return conv2d_padding(padding, kernel_size, stride, dilation)


def depthwise_conv2d_nchwc(input: torch.Tensor, weight_packed: torch.Tensor,
                           bias: torch.Tensor | None = None,
                           residual: torch.Tensor | None = None, stride=1, padding=0,
                           dilation=1, activation: str = "none", *,
                           channels: int | None = None) -> torch.Tensor:
    """Depthwise convolution on blocked tensors with a fused epilogue, exactly::

        act(F.conv2d(x, weight, bias, stride, padding, dilation, groups=C) + residual)

    with x, residual and the result in the blocked layout (N, Cb, H, W, B) of
    :mod:`pybench.ops.nchwc`, its padded channels written as zeros.

    Args:
        input: float32 CPU tensor (N, Cb, H, W, B), B 8 or 16, padded channels zero.
        weight_packed: :func:`pack_depthwise_nchwc` of the (C, 1, kH, kW) weight, block B.
        bias: optional float32 (C) (padded here to Cb*B) or (Cb*B).
        residual: optional blocked float32 tensor of the output's shape, added before the
            activation (padded channels zero).
        stride, dilation: int or pair. padding: int, pair, (top, bottom, left, right),
            "valid" or "same".
        activation: one of :data:`ACTIVATIONS`.
        channels: the real channel count C. Default: the bias's length when a bias of
            length C is given, else Cb*B. Needed for "sigmoid" when there is no bias:
            sigmoid(0) = 0.5, so the kernel must know which lanes to zero.

    Returns:
        float32 (N, Cb, OH, OW, B).

    Raises:
        TypeError: an operand that is not a dense float32 tensor.
        ValueError: a CUDA (non-CPU) operand, shapes that do not fit the blocked layout or
            each other, an unknown activation, sigmoid with C unknown, bad geometry.
    """
    _check_cpu(_OP, input=input, weight_packed=weight_packed, bias=bias, residual=residual)
    check_operands(_OP, input, weight=weight_packed, bias=bias, residual=residual)
    if activation not in ACTIVATIONS:
        raise ValueError(f"{_OP}: unknown activation {activation!r}; expected one of "
                         f"{', '.join(ACTIVATIONS)}")
    if input.dim() != 5:
        raise ValueError(f"{_OP}: expected input in the blocked layout (N, C/B, H, W, B), got "
                         f"shape {tuple(input.shape)}")
    b = input.shape[-1]
    if b not in BLOCK_SIZES:
        raise ValueError(f"{_OP}: expected input block B (the last size) in {BLOCK_SIZES}, "
                         f"got {b}")
    cb = input.shape[1]
    if weight_packed.dim() != 4 or weight_packed.shape[0] != cb or weight_packed.shape[3] != b:
        raise ValueError(f"{_OP}: expected weight packed by pack_depthwise_nchwc, of shape "
                         f"({cb}, kH, kW, {b}), got {tuple(weight_packed.shape)}")
    if channels is None:
        channels = bias.shape[0] if bias is not None and bias.dim() == 1 else cb * b
        if activation == "sigmoid" and bias is None and cb > 0:
            raise ValueError(f"{_OP}: sigmoid without a bias needs channels=C: sigmoid(0) = "
                             "0.5, so the kernel must know which lanes are padding")
    if not (cb - 1) * b < channels <= cb * b:
        raise ValueError(f"{_OP}: {channels} channels do not fit input of shape "
                         f"{tuple(input.shape)} (blocks of {b})")
    if bias is not None:
        if bias.dim() != 1 or bias.shape[0] not in (channels, cb * b):
            raise ValueError(f"{_OP}: expected bias of shape ({channels}) or ({cb * b}), got "
                             f"{tuple(bias.shape)}")
        if bias.shape[0] != cb * b:
            bias = torch.nn.functional.pad(bias, (0, cb * b - bias.shape[0]))
    return torch.ops.pybench.depthwise_conv2d_nchwc(
        input, weight_packed, bias, residual,
        *depthwise_conv2d_nchwc_schema_args(weight_packed, channels, stride, padding, dilation,
                                            activation))


def depthwise_conv2d_nchwc_schema_args(weight_packed: torch.Tensor, channels: int, stride=1,
                                       padding=0, dilation=1, activation: str = "none"
                                       ) -> tuple:
    """``(channels, stride, padding, dilation, activation)`` normalised as
    ``torch.ops.pybench.depthwise_conv2d_nchwc`` takes them after ``(input, weight, bias,
    residual)``: for a caller that makes the same call many times (a converted model's
    layer), whose bias is already padded to whole blocks."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"{_OP}: unknown activation {activation!r}; expected one of "
                         f"{', '.join(ACTIVATIONS)}")
    pads = _nchwc_padding(padding, tuple(weight_packed.shape[1:3]), stride, dilation)
    return (int(channels), _pair(stride, "stride"), pads, _pair(dilation, "dilation"),
            activation)


@torch.library.register_fake("pybench::depthwise_conv2d_nchwc")
def _depthwise_conv2d_nchwc_fake(input, weight, bias, residual, channels, stride, padding,
                                 dilation, activation):
    # The checks of csrc/ops/cpu/depthwise_conv2d_nchwc_kernel.cpp, so meta tensors and
    # torch.compile reject what the kernel rejects.
    op = _OP
    check_operands(op, input, weight=weight, bias=bias, residual=residual)
    torch._check_value(activation in ACTIVATIONS,
                       lambda: f"{op}: unknown activation {activation!r}")
    torch._check_value(input.dim() == 5, lambda: f"{op}: expected input in the blocked layout")
    n, cb, h, w, b = input.shape
    torch._check_value(b in BLOCK_SIZES, lambda: f"{op}: expected input block B of 8 or 16")
    torch._check_value(cb > 0 and h > 0 and w > 0,
                       lambda: f"{op}: expected non-empty channel blocks and spatial sizes")
    torch._check_value((cb - 1) * b < channels <= cb * b,
                       lambda: f"{op}: channels = {channels} does not fit the input")
    torch._check_value(weight.dim() == 4 and weight.shape[0] == cb and weight.shape[1] > 0
                       and weight.shape[2] > 0 and weight.shape[3] == b,
                       lambda: f"{op}: expected weight packed by pack_depthwise_nchwc")
    torch._check_value(len(stride) == 2 and len(padding) == 4 and len(dilation) == 2,
                       lambda: f"{op}: expected 2 strides, 4 paddings and 2 dilations")
    torch._check_value(all(s > 0 for s in stride), lambda: f"{op}: non-positive stride is not supported")
    torch._check_value(all(p >= 0 for p in padding), lambda: f"{op}: negative padding is not supported")
    torch._check_value(all(d > 0 for d in dilation),
                       lambda: f"{op}: dilation should be greater than zero")
    if bias is not None:
        torch._check_value(bias.dim() == 1 and bias.shape[0] == cb * b,
                           lambda: f"{op}: expected bias padded to the blocks")
    oh, ow = fake_conv_out_size(op, h, w, weight.shape[1], weight.shape[2], stride, padding,
                                dilation)
    if residual is not None:
        torch._check_value(tuple(residual.shape) == (n, cb, oh, ow, b),
                           lambda: f"{op}: expected residual of the output's shape")
    return input.new_empty((n, cb, oh, ow, b))


@torch.library.register_fake("pybench::conv1x1_depthwise_nchwc")
def _conv1x1_depthwise_nchwc_fake(input, weight, bias, out_channels, activation, dw_weight,
                                  dw_bias, stride, padding, dilation, dw_activation):
    # The two ops' fakes in a row: the fused op checks what each of them checks.
    from pybench.ops.conv2d_nchwc_op import _fake_out_shape
    op = "pybench.conv1x1_depthwise_nchwc"
    torch._check_value(weight.dim() == 6 and weight.shape[2] == 1 and weight.shape[3] == 1
                       and weight.shape[4] == weight.shape[5],
                       lambda: f"{op}: expected a 1x1 weight packed for a blocked input")
    shape = _fake_out_shape(op, input, weight, bias, None, out_channels, [1, 1], [0, 0, 0, 0],
                            [1, 1], activation)
    mid = input.new_empty(shape)
    return _depthwise_conv2d_nchwc_fake(mid, dw_weight, dw_bias, None, out_channels, stride,
                                        padding, dilation, dw_activation)
