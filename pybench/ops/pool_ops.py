"""Max, average and adaptive average pooling of float32 NCHW (or unbatched CHW) tensors on
the CPU and CUDA, with PyTorch's semantics: ``F.max_pool2d`` (without ``return_indices``),
``F.avg_pool2d`` and ``F.adaptive_avg_pool2d``; trainable (backward through ATen's).

Also the pooling geometry the blocked layout's pooling (:mod:`pybench.ops.pool_nchwc`)
shares: argument normalisation and the fake kernels' checks and output sizes.
"""
from __future__ import annotations

import torch

from pybench.ops.checks import check_operands
from pybench.ops.isa import has_cuda_kernels

_MAX_OP = "pybench.max_pool2d"
_AVG_OP = "pybench.avg_pool2d"
_ADAPTIVE_OP = "pybench.adaptive_avg_pool2d"


def _pair(op: str, value, name: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) in (1, 2) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return (value[0], value[-1])
    raise ValueError(f"{op}: expected {name} to be an int or a pair of ints, got {value!r}")


def _stride(op: str, stride, kernel: tuple[int, int]) -> tuple[int, int]:
    """PyTorch's default stride: the kernel size (None, or an empty list as
    ``F.max_pool2d``'s default ``[]``)."""
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        return kernel
    return _pair(op, stride, "stride")


def _adaptive_output_size(op: str, input_hw, output_size) -> tuple[int, int]:
    """An int or a pair; None in a pair keeps that input size (of ``input_hw``), as in
    PyTorch."""
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2 and len(input_hw) == 2:
        output_size = tuple(input_hw[i] if v is None else v for i, v in enumerate(output_size))
    return _pair(op, output_size, "output_size")


def pool_output_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling_output_shape, as csrc/kernels/pool2d/pool2d.h's
    ``pool_output_size``: below 1 when the window does not fit."""
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    # The last window must start inside the input or its left padding.
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def fake_pool_output_hw(op: str, mode: str, h: int, w: int, kernel_size, stride, padding,
                        dilation, ceil_mode: bool, divisor_override) -> tuple[int, int]:
    """(OH, OW) for the fake kernels, after the checks of csrc/ops/pool2d_args.h
    (``check_pool_geometry``, ``checked_pool_output_size``), so meta tensors and
    torch.compile refuse what the kernels refuse."""
    torch._check_value(len(kernel_size) == 2 and len(stride) == 2 and len(padding) == 2
                       and len(dilation) == 2,
                       lambda: f"{op}: expected 2 kernel sizes, strides, paddings and dilations")
    torch._check_value(divisor_override is None or divisor_override != 0,
                       lambda: f"{op}: divisor_override must be non-zero")
    out = []
    for i, size in enumerate((h, w)):
        k, s, p, d = kernel_size[i], stride[i], padding[i], dilation[i]
        torch._check_value(k > 0 and s > 0 and d > 0 and p >= 0,
                           lambda: f"{op}: kernel_size, stride and dilation must be positive "
                                   "and padding non-negative")
        torch._check_value(mode == "max" or d == 1,
                           lambda: f"{op}: average pooling has no dilation")
        torch._check_value(p <= ((k - 1) * d + 1) // 2,
                           lambda: f"{op}: pad should be at most half of the effective "
                                   "kernel size")
        torch._check_value(p <= k // 2,
                           lambda: f"{op}: pad should be smaller than or equal to half of "
                                   "kernel size")
        out.append(pool_output_size(size, k, s, p, d, ceil_mode))
    torch._check_value(out[0] > 0 and out[1] > 0, lambda: f"{op}: input is too small")
    return out[0], out[1]


def _check_input(op: str, input: torch.Tensor) -> None:
    check_operands(op, input)
    if input.device.type not in ("cpu", "cuda", "meta"):
        raise ValueError(f"{op}: input is on {input.device}; pybench pools on the CPU and "
                         "CUDA only")
    if input.device.type == "cuda" and not has_cuda_kernels():
        raise RuntimeError(f"{op}: this pybench build has no CUDA kernels (built without "
                           "nvcc or with PYBENCH_CUDA=0)")


def max_pool2d(input: torch.Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False) -> torch.Tensor:
    """``F.max_pool2d``: the maximum of each window; a NaN in a window is the result, as in
    PyTorch (its vector max alone would drop it).

    Args:
        input: float32 (N, C, H, W) or unbatched (C, H, W), CPU or CUDA, any strides
            (a non-contiguous input is copied first). C, H and W non-empty; N may be 0.
        kernel_size, stride (default: kernel_size), padding, dilation: int or pair.
            Padding is implicit -inf, at most half the kernel size.
        ceil_mode: round the output size up (a last window must still start inside the
            input or its left padding).
        return_indices: not supported (the kernels compute no argmax).

    Returns:
        float32 (N, C, OH, OW) (or (C, OH, OW)) on the input's device, bitwise F.max_pool2d's.

    Raises:
        TypeError: not a dense float32 tensor.
        ValueError: a rank other than 3 or 4, empty C / H / W, a device other than CPU /
            CUDA, or geometry PyTorch refuses (non-positive kernel, stride or dilation,
            negative padding or over half the kernel, an input smaller than the window).
        RuntimeError: a CUDA tensor with a build without the CUDA kernels.
        NotImplementedError: ``return_indices=True``.
    """
    if return_indices:
        raise NotImplementedError(f"{_MAX_OP}: return_indices=True is not supported (no "
                                  "argmax is computed); use F.max_pool2d for the indices")
    _check_input(_MAX_OP, input)
    k = _pair(_MAX_OP, kernel_size, "kernel_size")
    return torch.ops.pybench.max_pool2d(input, k, _stride(_MAX_OP, stride, k),
                                        _pair(_MAX_OP, padding, "padding"),
                                        _pair(_MAX_OP, dilation, "dilation"), bool(ceil_mode))


def avg_pool2d(input: torch.Tensor, kernel_size, stride=None, padding=0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> torch.Tensor:
    """``F.avg_pool2d``: the mean of each window (float32 sums, an exact division).

    Args:
        input: as :func:`max_pool2d`.
        kernel_size, stride (default: kernel_size), padding: int or pair; padding is
            implicit zeros, at most half the kernel size.
        ceil_mode: as :func:`max_pool2d`.
        count_include_pad: divide by the window's extent within the padded input (True)
            or by its taps inside the input (False).
        divisor_override: divide every window's sum by this instead (non-zero).

    Returns:
        float32 (N, C, OH, OW) (or (C, OH, OW)) on the input's device.

    Raises: as :func:`max_pool2d`, and ValueError for ``divisor_override=0``.
    """
    _check_input(_AVG_OP, input)
    k = _pair(_AVG_OP, kernel_size, "kernel_size")
    if divisor_override is not None and (not isinstance(divisor_override, int)
                                         or isinstance(divisor_override, bool)):
        raise ValueError(f"{_AVG_OP}: expected divisor_override to be an int or None, got "
                         f"{divisor_override!r}")
    return torch.ops.pybench.avg_pool2d(input, k, _stride(_AVG_OP, stride, k),
                                        _pair(_AVG_OP, padding, "padding"), bool(ceil_mode),
                                        bool(count_include_pad), divisor_override)


def adaptive_avg_pool2d(input: torch.Tensor, output_size) -> torch.Tensor:
    """``F.adaptive_avg_pool2d``: output (oy, ox) is the mean of input rows
    [floor(oy*H/OH), ceil((oy+1)*H/OH)) and the columns likewise.

    Args:
        input: as :func:`max_pool2d`.
        output_size: int or pair (OH, OW), each >= 0 (0: an empty output, as in PyTorch);
            None in a pair keeps that input size.

    Returns:
        float32 (N, C, OH, OW) (or (C, OH, OW)) on the input's device.

    Raises:
        TypeError, ValueError: as :func:`max_pool2d`; ValueError for a negative or
        malformed output_size.
    """
    _check_input(_ADAPTIVE_OP, input)
    return torch.ops.pybench.adaptive_avg_pool2d(
        input, _adaptive_output_size(_ADAPTIVE_OP, tuple(input.shape[-2:]), output_size))


def _fake_input_hw(op: str, input: torch.Tensor) -> tuple[int, int]:
    # prepare_pool2d_input's checks (csrc/ops/pool2d_args.h).
    check_operands(op, input)
    torch._check_value(input.dim() in (3, 4) and all(s > 0 for s in input.shape[-3:]),
                       lambda: f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input "
                               "with non-empty C, H and W")
    return input.shape[-2], input.shape[-1]


@torch.library.register_fake("pybench::max_pool2d")
def _max_pool2d_fake(input, kernel_size, stride, padding, dilation, ceil_mode):
    h, w = _fake_input_hw(_MAX_OP, input)
    oh, ow = fake_pool_output_hw(_MAX_OP, "max", h, w, kernel_size, stride, padding, dilation,
                                 ceil_mode, None)
    return input.new_empty((*input.shape[:-2], oh, ow))


@torch.library.register_fake("pybench::avg_pool2d")
def _avg_pool2d_fake(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override):
    h, w = _fake_input_hw(_AVG_OP, input)
    oh, ow = fake_pool_output_hw(_AVG_OP, "avg", h, w, kernel_size, stride, padding, (1, 1),
                                 ceil_mode, divisor_override)
    return input.new_empty((*input.shape[:-2], oh, ow))


@torch.library.register_fake("pybench::adaptive_avg_pool2d")
def _adaptive_avg_pool2d_fake(input, output_size):
    _fake_input_hw(_ADAPTIVE_OP, input)
    torch._check_value(len(output_size) == 2 and output_size[0] >= 0 and output_size[1] >= 0,
                       lambda: f"{_ADAPTIVE_OP}: expected output_size (H, W) of sizes >= 0")
    return input.new_empty((*input.shape[:-2], output_size[0], output_size[1]))


# Backward through ATen's pooling backward kernels (CPU and CUDA): a pooling's backward
# scatters grad into the input's shape, memory-bound like the forward, and ATen's give
# F.max_pool2d's / F.avg_pool2d's gradients exactly -- for max the same tie rule (the
# first maximum of a window in ATen's scan order gets the gradient). Our forward returns
# no argmax (computing it would slow every inference call, the reason this op exists),
# so max's backward recomputes it with aten.max_pool2d_with_indices: training pays one
# ATen forward more, where differentiating a recomputed F.max_pool2d would pay the same
# forward plus autograd's bookkeeping. Average pooling needs only the input's shape. The
# ATen backward ops are differentiable, so double backward works too.
def _max_pool2d_setup_context(ctx, inputs, output):
    input, *args = inputs
    ctx.save_for_backward(input)
    ctx.args = args  # kernel_size, stride, padding, dilation, ceil_mode


def _max_pool2d_backward(ctx, grad):
    (input,) = ctx.saved_tensors
    _, indices = torch.ops.aten.max_pool2d_with_indices(input, *ctx.args)
    grad_input = torch.ops.aten.max_pool2d_with_indices_backward(grad, input, *ctx.args,
                                                                 indices)
    return grad_input, None, None, None, None, None


def _avg_pool2d_setup_context(ctx, inputs, output):
    input, *args = inputs
    ctx.save_for_backward(input)
    ctx.args = args  # kernel_size, stride, padding, ceil_mode, count_include_pad, divisor


def _avg_pool2d_backward(ctx, grad):
    (input,) = ctx.saved_tensors
    return (torch.ops.aten.avg_pool2d_backward(grad, input, *ctx.args),
            None, None, None, None, None, None)


def _adaptive_avg_pool2d_setup_context(ctx, inputs, output):
    ctx.save_for_backward(inputs[0])


def _adaptive_avg_pool2d_backward(ctx, grad):
    (input,) = ctx.saved_tensors
    return torch.ops.aten._adaptive_avg_pool2d_backward(grad, input), None


torch.library.register_autograd("pybench::max_pool2d", _max_pool2d_backward,
                                setup_context=_max_pool2d_setup_context)
torch.library.register_autograd("pybench::avg_pool2d", _avg_pool2d_backward,
                                setup_context=_avg_pool2d_setup_context)
torch.library.register_autograd("pybench::adaptive_avg_pool2d", _adaptive_avg_pool2d_backward,
                                setup_context=_adaptive_avg_pool2d_setup_context)
