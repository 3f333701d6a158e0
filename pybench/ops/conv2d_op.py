"""pybench.ops.conv2d: 2-D convolution with F.conv2d's semantics, its fake kernel and backward."""
from __future__ import annotations

import torch

from pybench.ops.checks import _pair, check_operands, conv2d_padding, fake_conv_out_size


def conv2d(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           stride=1, padding=0, dilation=1, groups: int = 1) -> torch.Tensor:
    """2-D convolution with exactly the semantics of ``torch.nn.functional.conv2d``.

    Args:
        input: float32 (N, C, H, W) or unbatched (C, H, W); any strides (copied to
            contiguous first).
        weight: float32 (K, C / groups, kH, kW).
        bias: optional float32 (K).
        stride, dilation: int or pair, positive.
        padding: int or pair (non-negative), ``"valid"`` or ``"same"``.
        groups: positive; C and K divisible by it.

    Returns:
        float32 (N, K, OH, OW) (or (K, OH, OW)) on the input's device.

    Raises:
        TypeError: an operand is not float32.
        ValueError: wrong rank, channel / group mismatch, a kernel larger than the padded
            input, non-positive stride or dilation, negative padding, a bad padding string.
        RuntimeError: operands on different devices.
    """
    check_operands("pybench.conv2d", input, weight=weight, bias=bias)
    if weight.dim() != 4:
        raise ValueError(f"pybench.conv2d: expected a 4-D weight (out_channels, in_channels / "
                         f"groups, kH, kW), got rank {weight.dim()} with shape "
                         f"{tuple(weight.shape)}")
    pads = conv2d_padding(padding, tuple(weight.shape[2:]), stride, dilation)
    return torch.ops.pybench.conv2d(input, weight, bias, _pair(stride, "stride"), pads,
                                    _pair(dilation, "dilation"), groups)


@torch.library.register_fake("pybench::conv2d")
def _conv2d_fake(input, weight, bias, stride, padding, dilation, groups):
    # The same checks as csrc/ops/conv2d_args.h, so meta tensors and torch.compile reject
    # what the real kernels reject.
    op = "pybench.conv2d"
    check_operands(op, input, weight=weight, bias=bias)
    torch._check_value(input.dim() in (3, 4),
                       lambda: f"{op}: expected 3-D (unbatched) or 4-D (batched) input, got "
                       f"input of rank {input.dim()}")
    torch._check_value(weight.dim() == 4, lambda: f"{op}: expected a 4-D weight")
    torch._check_value(all(s > 0 for s in stride), lambda: f"{op}: non-positive stride is not supported")
    torch._check_value(all(p >= 0 for p in padding), lambda: f"{op}: negative padding is not supported")
    torch._check_value(all(d > 0 for d in dilation),
                       lambda: f"{op}: dilation should be greater than zero")
    torch._check_value(groups > 0, lambda: f"{op}: non-positive groups is not supported")
    c, h, w = input.shape[-3:]
    k, kh, kw = weight.shape[0], weight.shape[2], weight.shape[3]
    torch._check_value(k % groups == 0,
                       lambda: f"{op}: expected weight to be divisible by {groups} at dimension 0")
    torch._check_value(weight.shape[1] * groups == c,
                       lambda: f"{op}: given groups={groups}, expected input to have "
                       f"{weight.shape[1] * groups} channels, but got {c} channels instead")
    torch._check_value(c > 0 and k > 0 and h > 0 and w > 0,
                       lambda: f"{op}: expected non-empty channels and spatial sizes")
    if bias is not None:
        torch._check_value(bias.dim() == 1 and bias.shape[0] == k,
                           lambda: f"{op}: expected bias of shape ({k})")
    oh, ow = fake_conv_out_size(op, h, w, kh, kw, stride, padding, dilation)
    shape = (k, oh, ow)
    return input.new_empty((input.shape[0], *shape) if input.dim() == 4 else shape)


# Backward of pybench::conv2d, through ATen's convolution_backward (oneDNN / cuDNN): the
# forward is the product, the backward only makes pybench.nn.Conv2d usable in training
# code and under autograd-recording inference. Asymmetric padding ("same" with an even
# kernel) is an explicit pad of the input, whose gradient is then cropped.
def _conv2d_setup_context(ctx, inputs, output):
    input, weight, bias, stride, padding, dilation, groups = inputs
    ctx.save_for_backward(input, weight)
    ctx.conv = (bias is not None, tuple(stride), tuple(padding), tuple(dilation), groups)


def conv_backward(grad, input, weight, has_bias, stride, padding, dilation, groups, need):
    """(grad_input, grad_weight, grad_bias) of ``F.conv2d`` through ATen's
    convolution_backward, for the padding (top, bottom, left, right) the pybench ops take and
    a batched or unbatched input; ``need`` says which of the three to compute."""
    top, bottom, left, right = padding
    batched = input.dim() == 4
    x, grad = (input, grad) if batched else (input.unsqueeze(0), grad.unsqueeze(0))
    symmetric = top == bottom and left == right
    if not symmetric:
        x = torch.nn.functional.pad(x, (left, right, top, bottom))
    grad_input, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
        grad.contiguous(), x, weight, [weight.shape[0]] if has_bias else None, list(stride),
        [top, left] if symmetric else [0, 0], list(dilation), False, [0, 0], groups,
        [need[0], need[1], has_bias and need[2]])
    if grad_input is not None:
        if not symmetric:
            grad_input = grad_input[..., top:top + input.shape[-2], left:left + input.shape[-1]]
        if not batched:
            grad_input = grad_input.squeeze(0)
    return grad_input, grad_weight, grad_bias


def _conv2d_backward(ctx, grad):
    input, weight = ctx.saved_tensors
    has_bias, stride, padding, dilation, groups = ctx.conv
    grads = conv_backward(grad, input, weight, has_bias, stride, padding, dilation, groups,
                          ctx.needs_input_grad[:3])
    return (*grads, None, None, None, None)


torch.library.register_autograd("pybench::conv2d", _conv2d_backward,
                                setup_context=_conv2d_setup_context)
