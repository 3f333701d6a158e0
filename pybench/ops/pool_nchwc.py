"""Max, average and adaptive average pooling on the blocked layout (:mod:`pybench.ops.nchwc`),
with PyTorch's semantics (``F.max_pool2d``, ``F.avg_pool2d``, ``F.adaptive_avg_pool2d``):
the pooling of converted models. CPU only; every lane is pooled, so a padded channel stays
zero when it was zero."""
from __future__ import annotations

import torch

from pybench.ops.checks import check_operands
from pybench.ops.depthwise_nchwc import _check_cpu
from pybench.ops.nchwc import BLOCK_SIZES
from pybench.ops.pool_ops import _adaptive_output_size, _pair, _stride, fake_pool_output_hw

_OP = "pybench.pool2d_nchwc"
_ADAPTIVE_OP = "pybench.adaptive_avg_pool2d_nchwc"


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
