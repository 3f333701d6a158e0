"""pybench.ops.conv2d: 2-D convolution with F.conv2d's semantics and a fused epilogue
(residual add, activation), its fake kernel and backward."""
from __future__ import annotations

import torch

from pybench.ops.checks import _pair, check_operands, conv2d_padding, fake_conv_out_size
from pybench.ops.conv2d_nchwc_op import NCHWC_ACTIVATIONS

#: The activations of conv2d's epilogue: the blocked layout's (common/activation.h).
CONV2D_ACTIVATIONS = NCHWC_ACTIVATIONS


def _check_activation(op: str, activation) -> None:
    if not isinstance(activation, str) or activation not in CONV2D_ACTIVATIONS:
        raise ValueError(f"{op}: unknown activation {activation!r}; expected one of "
                         f"{', '.join(CONV2D_ACTIVATIONS)}")


def conv2d(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           stride=1, padding=0, dilation=1, groups: int = 1,
           residual: torch.Tensor | None = None, activation: str = "none") -> torch.Tensor:
    """2-D convolution with exactly the semantics of ``torch.nn.functional.conv2d``, and a
    fused epilogue: ``act(F.conv2d(input, weight, bias, ...) + residual)``.

    The residual add and the activation are applied as the kernels store each output tile
    (CPU and CUDA alike), so a ResNet block's ``relu(conv + x)`` makes no pass over the
    output of its own -- but for CUDA's split-K path, whose activation waits for the
    splits' sum in a pass after them (csrc/kernels/conv2d/conv2d_cuda.cuh).

    Args:
        input: float32 (N, C, H, W) or unbatched (C, H, W); any strides (copied to
            contiguous first).
        weight: float32 (K, C / groups, kH, kW).
        bias: optional float32 (K).
        stride, dilation: int or pair, positive.
        padding: int or pair (non-negative), ``"valid"`` or ``"same"``.
        groups: positive; C and K divisible by it.
        residual: optional float32 tensor of the output's shape (any strides), added after
            the bias and before the activation.
        activation: one of :data:`CONV2D_ACTIVATIONS` -- ``"none"``, ``"relu"``,
            ``"relu6"``, ``"hardswish"``, ``"sigmoid"`` -- with PyTorch's semantics (a NaN
            stays NaN through relu and relu6).

    Returns:
        float32 (N, K, OH, OW) (or (K, OH, OW)) on the input's device.

    Raises:
        TypeError: an operand (residual included) is not float32.
        ValueError: wrong rank, channel / group mismatch, a kernel larger than the padded
            input, non-positive stride or dilation, negative padding, a bad padding string,
            an unknown activation, a residual whose shape is not the output's.
        RuntimeError: operands (residual included) on different devices.
    """
    op = "pybench.conv2d"
    check_operands(op, input, weight=weight, bias=bias, residual=residual)
    _check_activation(op, activation)
    if weight.dim() != 4:
        raise ValueError(f"pybench.conv2d: expected a 4-D weight (out_channels, in_channels / "
                         f"groups, kH, kW), got rank {weight.dim()} with shape "
                         f"{tuple(weight.shape)}")
    pads = conv2d_padding(padding, tuple(weight.shape[2:]), stride, dilation)
    return torch.ops.pybench.conv2d(input, weight, bias, _pair(stride, "stride"), pads,
                                    _pair(dilation, "dilation"), groups, residual, activation)


@torch.library.register_fake("pybench::conv2d")
def _conv2d_fake(input, weight, bias, stride, padding, dilation, groups, residual=None,
                 activation="none"):
    # The same checks as csrc/ops/conv2d_args.h, so meta tensors and torch.compile reject
    # what the real kernels reject. (The epilogue's defaults: the dispatcher drops
    # arguments equal to the schema's defaults.)
    op = "pybench.conv2d"
    check_operands(op, input, weight=weight, bias=bias, residual=residual)
    torch._check_value(activation in CONV2D_ACTIVATIONS,
                       lambda: f"{op}: unknown activation {activation!r}; expected one of "
                       f"{', '.join(CONV2D_ACTIVATIONS)}")
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
    shape = (input.shape[0], *shape) if input.dim() == 4 else shape
    if residual is not None:
        torch._check_value(tuple(residual.shape) == tuple(shape),
                           lambda: f"{op}: expected residual of the output's shape "
                           f"{list(shape)}, got {list(residual.shape)}")
    return input.new_empty(shape)


# Backward of pybench::conv2d, through ATen's convolution_backward (oneDNN / cuDNN): the
# forward is the product, the backward only makes pybench.nn.Conv2d usable in training
# code and under autograd-recording inference. Asymmetric padding ("same" with an even
# kernel) is an explicit pad of the input, whose gradient is then cropped.
#
# The epilogue: with z = conv + bias + residual and out = act(z), the gradient reaching
# the convolution (and the residual, whose gradient it is) is ATen's activation backward
# of the incoming one. relu, relu6 and sigmoid need only the output (relu6's
# hardtanh_backward keeps 0 < z < 6, the same set as 0 < out < 6), which is saved;
# hardswish needs z itself, which the backward recomputes with the unfused op rather
# than every forward keeping a second output-sized tensor alive.
def _conv2d_setup_context(ctx, inputs, output):
    input, weight, bias, stride, padding, dilation, groups, residual, activation = inputs
    ctx.activation = activation
    ctx.has_residual = residual is not None
    if activation == "hardswish":
        ctx.save_for_backward(input, weight, bias, residual)
    elif activation in ("relu", "relu6", "sigmoid"):
        ctx.save_for_backward(input, weight, output)
    else:
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


def _activation_backward(ctx, grad):
    """The gradient with respect to z = conv + bias + residual, from the saved tensors."""
    act = ctx.activation
    if act == "none":
        return grad
    if act == "hardswish":
        input, weight, bias, residual = ctx.saved_tensors
        _, stride, padding, dilation, groups = ctx.conv
        z = torch.ops.pybench.conv2d(input, weight, bias, stride, padding, dilation, groups,
                                     residual, "none")
        return torch.ops.aten.hardswish_backward(grad, z)
    out = ctx.saved_tensors[2]
    if act == "relu":
        return torch.ops.aten.threshold_backward(grad, out, 0)
    if act == "relu6":
        return torch.ops.aten.hardtanh_backward(grad, out, 0.0, 6.0)
    return torch.ops.aten.sigmoid_backward(grad, out)


def _conv2d_backward(ctx, grad):
    input, weight = ctx.saved_tensors[:2]
    has_bias, stride, padding, dilation, groups = ctx.conv
    grad = _activation_backward(ctx, grad)
    grads = conv_backward(grad, input, weight, has_bias, stride, padding, dilation, groups,
                          ctx.needs_input_grad[:3])
    # needs_input_grad covers the arguments the caller passed: a residual left at its
    # default is not one of them.
    needs = ctx.needs_input_grad
    grad_residual = grad if ctx.has_residual and len(needs) > 7 and needs[7] else None
    return (*grads, None, None, None, None, grad_residual, None)


torch.library.register_autograd("pybench::conv2d", _conv2d_backward,
                                setup_context=_conv2d_setup_context)
