"""Max, average and adaptive average pooling on the blocked layout (:mod:`pybench.ops.nchwc`),
with PyTorch's semantics (``F.max_pool2d``, ``F.avg_pool2d``, ``F.adaptive_avg_pool2d``):
the pooling of converted models, and a blocked convolution fused with the max pooling that
follows it (:func:`conv2d_maxpool_nchwc`). CPU only; every lane is pooled, so a padded
channel stays zero when it was zero."""
from __future__ import annotations

import torch

from pybench.ops.checks import check_operands
from pybench.ops.depthwise_nchwc import _check_cpu
from pybench.ops.nchwc import BLOCK_SIZES
from pybench.ops.pool_ops import _adaptive_output_size, _pair, _stride, fake_pool_output_hw

_OP = "pybench.pool2d_nchwc"
_ADAPTIVE_OP = "pybench.adaptive_avg_pool2d_nchwc"
_FUSED_OP = "pybench.conv2d_maxpool_nchwc"


def _check_blocked(op: str, input: torch.Tensor) -> None:
    _check_cpu(op, input=input)
    check_operands(op, input)
    if input.dim() != 5 or input.shape[-1] not in BLOCK_SIZES:
        raise ValueError(f"{op}: expected input in the blocked layout (N, C/B, H, W, B) with B "
                         f"in {BLOCK_SIZES}, got shape {tuple(input.shape)}")


def max_pool2d_nchwc(input: torch.Tensor, kernel_size, stride=None, padding=0, dilation=1,
                     ceil_mode: bool = False) -> torch.Tensor:
    """``F.max_pool2d`` on a blocked tensor (N, Cb, H, W, B) -> (N, Cb, OH, OW, B); a NaN in
    a window is the result, as in PyTorch.

    Raises:
        TypeError: not a dense float32 tensor.
        ValueError: a non-CPU tensor, not the blocked layout, or geometry PyTorch refuses
            (non-positive kernel, stride or dilation, padding over half the window, an
            input smaller than the window).
    """
    _check_blocked(_OP, input)
    k = _pair(_OP, kernel_size, "kernel_size")
    return torch.ops.pybench.pool2d_nchwc(input, "max", k, _stride(_OP, stride, k),
                                          _pair(_OP, padding, "padding"),
                                          _pair(_OP, dilation, "dilation"), bool(ceil_mode),
                                          True, None)


def avg_pool2d_nchwc(input: torch.Tensor, kernel_size, stride=None, padding=0,
                     ceil_mode: bool = False, count_include_pad: bool = True,
                     divisor_override: int | None = None) -> torch.Tensor:
    """``F.avg_pool2d`` on a blocked tensor (N, Cb, H, W, B) -> (N, Cb, OH, OW, B).

    Raises: as :func:`max_pool2d_nchwc`, and ValueError for ``divisor_override=0``.
    """
    _check_blocked(_OP, input)
    k = _pair(_OP, kernel_size, "kernel_size")
    return torch.ops.pybench.pool2d_nchwc(input, "avg", k, _stride(_OP, stride, k),
                                          _pair(_OP, padding, "padding"), (1, 1),
                                          bool(ceil_mode), bool(count_include_pad),
                                          divisor_override)


def adaptive_avg_pool2d_nchwc(input: torch.Tensor, output_size) -> torch.Tensor:
    """``F.adaptive_avg_pool2d`` on a blocked tensor (N, Cb, H, W, B) -> (N, Cb, OH, OW, B).
    ``output_size``: int or pair; None in a pair keeps that input size, as in PyTorch."""
    _check_blocked(_ADAPTIVE_OP, input)
    return torch.ops.pybench.adaptive_avg_pool2d_nchwc(
        input, _adaptive_output_size(_ADAPTIVE_OP, tuple(input.shape[2:4]), output_size))


def conv2d_maxpool_nchwc(input: torch.Tensor, weight: torch.Tensor,
                         bias: torch.Tensor | None = None, out_channels: int | None = None,
                         stride=1, padding=0, dilation=1, activation: str = "none", *,
                         pool_kernel_size, pool_stride=None, pool_padding=0, pool_dilation=1,
                         ceil_mode: bool = False) -> torch.Tensor:
    """``F.max_pool2d(act(F.conv2d(x, weight, bias, stride, padding, dilation)), pool_*)``
    in the blocked layout, as one op: :func:`pybench.ops.conv2d_nchwc` (direct kernel)
    then :func:`max_pool2d_nchwc`, bitwise, but run band by band of pooled rows, each
    band's convolution rows computed into a per-thread scratch of at most a quarter of the
    L2 and pooled from there, so the convolution's output never goes to memory
    (``csrc/kernels/conv2d_maxpool_nchwc/conv2d_maxpool_nchwc.h``).

    CPU only, as the blocked layout is: there is no CUDA kernel; a tensor on another device
    raises ValueError.

    Args:
        input, weight, bias, out_channels, stride, padding, dilation, activation: as
            :func:`pybench.ops.conv2d_nchwc` (no residual; weight from
            :func:`pybench.ops.pack_conv2d_nchwc`, not Winograd's).
        pool_kernel_size, pool_stride, pool_padding, pool_dilation, ceil_mode: as
            ``F.max_pool2d`` (int or pair; stride defaults to the kernel size).

    Returns:
        float32 (N, Kb, OH, OW, B), the pooled output.

    Raises:
        TypeError: an operand that is not a dense float32 tensor.
        ValueError: a non-CPU operand, shapes that do not fit the blocked layout or each
            other, an unknown activation, convolution or pooling geometry PyTorch refuses.
    """
    from pybench.ops.conv2d_nchwc_op import _args
    op = _FUSED_OP
    _check_cpu(op, input=input, weight=weight, bias=bias)
    check_operands(op, input, weight=weight, bias=bias)
    k, s, pads, d = _args(op, input, weight, out_channels, stride, padding, dilation,
                          activation)
    pk = _pair(op, pool_kernel_size, "pool_kernel_size")
    return torch.ops.pybench.conv2d_maxpool_nchwc(
        input, weight, bias, k, s, pads, d, activation, pk, _stride(op, pool_stride, pk),
        _pair(op, pool_padding, "pool_padding"), _pair(op, pool_dilation, "pool_dilation"),
        bool(ceil_mode))


@torch.library.register_fake("pybench::conv2d_maxpool_nchwc")
def _conv2d_maxpool_nchwc_fake(input, weight, bias, out_channels, stride, padding, dilation,
                               activation, pool_kernel_size, pool_stride, pool_padding,
                               pool_dilation, ceil_mode):
    # The two ops' checks in a row, as the kernel makes them.
    from pybench.ops.conv2d_nchwc_op import _fake_out_shape
    op = _FUSED_OP
    n, kb, h, w, b = _fake_out_shape(op, input, weight, bias, None, out_channels, stride,
                                     padding, dilation, activation)
    oh, ow = fake_pool_output_hw(op, "max", h, w, pool_kernel_size, pool_stride, pool_padding,
                                 pool_dilation, ceil_mode, None)
    return input.new_empty((n, kb, oh, ow, b))


@torch.library.register_fake("pybench::pool2d_nchwc")
def _pool2d_nchwc_fake(input, mode, kernel_size, stride, padding, dilation, ceil_mode,
                       count_include_pad, divisor_override):
    # The checks of csrc/ops/cpu/pool2d_nchwc_kernel.cpp, so meta tensors and
    # torch.compile reject what the kernel rejects.
    op = _OP
    check_operands(op, input)
    torch._check_value(mode in ("max", "avg"), lambda: f"{op}: unknown mode {mode!r}")
    torch._check_value(input.dim() == 5 and input.shape[4] in BLOCK_SIZES,
                       lambda: f"{op}: expected input in the blocked layout")
    n, cb, h, w, b = input.shape
    torch._check_value(cb > 0 and h > 0 and w > 0,
                       lambda: f"{op}: expected non-empty channel blocks and spatial sizes")
    oh, ow = fake_pool_output_hw(op, mode, h, w, kernel_size, stride, padding, dilation,
                                 ceil_mode, divisor_override)
    return input.new_empty((n, cb, oh, ow, b))


@torch.library.register_fake("pybench::adaptive_avg_pool2d_nchwc")
def _adaptive_avg_pool2d_nchwc_fake(input, output_size):
    op = _ADAPTIVE_OP
    check_operands(op, input)
    torch._check_value(input.dim() == 5 and input.shape[4] in BLOCK_SIZES,
                       lambda: f"{op}: expected input in the blocked layout")
    n, cb, h, w, b = input.shape
    torch._check_value(cb > 0 and h > 0 and w > 0,
                       lambda: f"{op}: expected non-empty channel blocks and spatial sizes")
    torch._check_value(len(output_size) == 2 and output_size[0] > 0 and output_size[1] > 0,
                       lambda: f"{op}: expected a positive output_size (H, W)")
    return input.new_empty((n, cb, output_size[0], output_size[1], b))
