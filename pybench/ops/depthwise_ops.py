"""pybench.ops.depthwise_conv2d and separable_conv2d (issue 5)."""
from __future__ import annotations

import torch

from pybench.ops.checks import _pair, check_operands, conv2d_padding, fake_conv_out_size

#: Activations of :func:`separable_conv2d`.
ACTIVATIONS = ("none", "relu", "relu6")


def _dw_pads(op: str, weight: torch.Tensor, stride, padding, dilation, name: str = "weight"):
    if weight.dim() != 4:
        raise ValueError(f"{op}: expected {name} of shape (C*m, 1, kH, kW), got rank "
                         f"{weight.dim()} with shape {tuple(weight.shape)}")
    return (_pair(stride, "stride"), conv2d_padding(padding, tuple(weight.shape[2:]), stride,
                                                    dilation), _pair(dilation, "dilation"))


def depthwise_conv2d(input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                     stride=1, padding=0, dilation=1) -> torch.Tensor:
    """Depthwise convolution: ``F.conv2d(input, weight, bias, stride, padding, dilation,
    groups=C)`` with a channel multiplier m >= 1.

    Args:
        input: float32 (N, C, H, W) or unbatched (C, H, W); any strides.
        weight: float32 (C*m, 1, kH, kW); output channel k reads input channel k // m.
        bias: optional float32 (C*m).
        stride, dilation: int or pair, positive. padding: int, pair, "valid" or "same".

    Returns:
        float32 (N, C*m, OH, OW) (or (C*m, OH, OW)) on the input's device.

    Raises:
        TypeError: an operand is not float32.
        ValueError: a weight that is not (C*m, 1, kH, kW), a bias of the wrong shape, a
            kernel larger than the padded input, bad stride / padding / dilation.
        RuntimeError: operands on different devices.
    """
    check_operands("pybench.depthwise_conv2d", input, weight=weight, bias=bias)
    stride, pads, dilation = _dw_pads("pybench.depthwise_conv2d", weight, stride, padding,
                                      dilation)
    return torch.ops.pybench.depthwise_conv2d(input, weight, bias, stride, pads, dilation)


def separable_conv2d(input: torch.Tensor, dw_weight: torch.Tensor, pw_weight: torch.Tensor,
                     dw_bias: torch.Tensor | None = None, pw_bias: torch.Tensor | None = None,
                     stride=1, padding=0, dilation=1, activation: str = "none",
                     pw_activation: str | None = None) -> torch.Tensor:
    """Fused depthwise-separable convolution, exactly::

        act(F.conv2d(act(F.conv2d(x, dw_weight, dw_bias, stride, padding, dilation, groups=C)),
                     pw_weight, pw_bias))

    but computed tile by tile: the depthwise output is consumed by the pointwise
    convolution while it is in cache and never exists as a whole tensor.

    Args:
        input: float32 (N, C, H, W) or (C, H, W).
        dw_weight: float32 (C*m, 1, kH, kW); dw_bias: optional (C*m).
        pw_weight: float32 (K, C*m, 1, 1); pw_bias: optional (K).
        stride, padding, dilation: of the depthwise convolution, as in
            :func:`depthwise_conv2d`.
        activation: "none", "relu" or "relu6", applied after both convolutions.
        pw_activation: if given, the activation after the pointwise convolution instead
            (MobileNet-v2's linear bottleneck: ``activation="relu6", pw_activation="none"``).

    Returns:
        float32 (N, K, OH, OW) (or (K, OH, OW)).

    Raises:
        TypeError: an operand is not float32.
        ValueError: an unknown activation, a dw_weight that is not (C*m, 1, kH, kW), a
            pw_weight that is not (K, C*m, 1, 1), bias shapes, geometry as for
            :func:`depthwise_conv2d`.
        RuntimeError: operands on different devices.
    """
    op = "pybench.separable_conv2d"
    if pw_activation is None:
        pw_activation = activation
    for name, act in (("activation", activation), ("pw_activation", pw_activation)):
        if act not in ACTIVATIONS:
            raise ValueError(f"{op}: unknown {name} {act!r}; expected one of "
                             f"{', '.join(ACTIVATIONS)}")
    check_operands(op, input, dw_weight=dw_weight, pw_weight=pw_weight, dw_bias=dw_bias,
                   pw_bias=pw_bias)
    stride, pads, dilation = _dw_pads(op, dw_weight, stride, padding, dilation, "dw_weight")
    return torch.ops.pybench.separable_conv2d(input, dw_weight, pw_weight, dw_bias, pw_bias,
                                              stride, pads, dilation, activation, pw_activation)


def _depthwise_fake_shape(op, input, weight, bias, stride, padding, dilation, wname, bname):
    # The checks of csrc/ops/depthwise_conv2d_args.h, so meta tensors and torch.compile
    # reject what the real kernels reject (the caller has run check_operands).
    torch._check_value(input.dim() in (3, 4),
                       lambda: f"{op}: expected 3-D (unbatched) or 4-D (batched) input, got "
                       f"input of rank {input.dim()}")
    torch._check_value(all(s > 0 for s in stride), lambda: f"{op}: non-positive stride is not supported")
    torch._check_value(all(p >= 0 for p in padding), lambda: f"{op}: negative padding is not supported")
    torch._check_value(all(d > 0 for d in dilation),
                       lambda: f"{op}: dilation should be greater than zero")
    c, h, w = input.shape[-3:]
    torch._check_value(c > 0 and h > 0 and w > 0,
                       lambda: f"{op}: expected non-empty channels and spatial sizes")
    torch._check_value(weight.dim() == 4 and weight.shape[1] == 1 and weight.shape[0] > 0
                       and weight.shape[0] % c == 0,
                       lambda: f"{op}: expected {wname} of shape (C*m, 1, kH, kW) with C = {c}")
    k, kh, kw = weight.shape[0], weight.shape[2], weight.shape[3]
    if bias is not None:
        torch._check_value(bias.dim() == 1 and bias.shape[0] == k,
                           lambda: f"{op}: expected {bname} of shape ({k})")
    oh, ow = fake_conv_out_size(op, h, w, kh, kw, stride, padding, dilation)
    return k, oh, ow


@torch.library.register_fake("pybench::depthwise_conv2d")
def _depthwise_conv2d_fake(input, weight, bias, stride, padding, dilation):
    check_operands("pybench.depthwise_conv2d", input, weight=weight, bias=bias)
    k, oh, ow = _depthwise_fake_shape("pybench.depthwise_conv2d", input, weight, bias, stride,
                                      padding, dilation, "weight", "bias")
    return input.new_empty((input.shape[0], k, oh, ow) if input.dim() == 4 else (k, oh, ow))


@torch.library.register_fake("pybench::separable_conv2d")
def _separable_conv2d_fake(input, dw_weight, pw_weight, dw_bias, pw_bias, stride, padding,
                           dilation, activation, pw_activation):
    op = "pybench.separable_conv2d"
    check_operands(op, input, dw_weight=dw_weight, pw_weight=pw_weight, dw_bias=dw_bias,
                   pw_bias=pw_bias)
    torch._check_value(activation in ACTIVATIONS and pw_activation in ACTIVATIONS,
                       lambda: f"{op}: unknown activation {activation!r} / {pw_activation!r}")
    mid, oh, ow = _depthwise_fake_shape(op, input, dw_weight, dw_bias, stride, padding,
                                        dilation, "dw_weight", "dw_bias")
    torch._check_value(pw_weight.dim() == 4 and pw_weight.shape[1] == mid
                       and pw_weight.shape[2] == 1 and pw_weight.shape[3] == 1,
                       lambda: f"{op}: expected pw_weight of shape (out_channels, {mid}, 1, 1)")
    k = pw_weight.shape[0]
    if pw_bias is not None:
        torch._check_value(pw_bias.dim() == 1 and pw_bias.shape[0] == k,
                           lambda: f"{op}: expected pw_bias of shape ({k})")
    return input.new_empty((input.shape[0], k, oh, ow) if input.dim() == 4 else (k, oh, ow))


# Backward of depthwise_conv2d: ATen's convolution_backward with groups = C (oneDNN's
# depthwise backward kernels on the CPU, cuDNN's on the GPU); the forward is pybench's
# product, the backward makes the op trainable. A hand-written one is future work: it would
# have to beat oneDNN's jit depthwise backward, which this issue did not measure.
def _depthwise_setup_context(ctx, inputs, output):
    input, weight, bias, stride, padding, dilation = inputs
    ctx.save_for_backward(input, weight)
    ctx.conv = (bias is not None, tuple(stride), tuple(padding), tuple(dilation))


def _depthwise_backward(ctx, grad):
    from pybench.ops.conv2d_op import conv_backward
    input, weight = ctx.saved_tensors
    has_bias, stride, padding, dilation = ctx.conv
    grads = conv_backward(grad, input, weight, has_bias, stride, padding, dilation,
                          input.shape[-3], ctx.needs_input_grad[:3])
    return (*grads, None, None, None)


torch.library.register_autograd("pybench::depthwise_conv2d", _depthwise_backward,
                                setup_context=_depthwise_setup_context)


_ACTIVATION_FNS = {"none": lambda t: t, "relu": torch.relu,
                   "relu6": lambda t: torch.clamp(t, 0.0, 6.0)}


def _separable_reference(input, dw_weight, pw_weight, dw_bias, pw_bias, stride, padding,
                         dilation, activation, pw_activation):
    """The separable op in ATen ops: what its backward differentiates."""
    top, bottom, left, right = padding
    x = input if input.dim() == 4 else input.unsqueeze(0)
    x = torch.nn.functional.pad(x, (left, right, top, bottom))
    mid = _ACTIVATION_FNS[activation](torch.nn.functional.conv2d(
        x, dw_weight, dw_bias, stride, 0, dilation, groups=x.shape[1]))
    out = _ACTIVATION_FNS[pw_activation](torch.nn.functional.conv2d(mid, pw_weight, pw_bias))
    return out if input.dim() == 4 else out.squeeze(0)


# Backward of separable_conv2d: the fused forward never materialises the depthwise output,
# so the backward recomputes the pair in ATen ops (oneDNN / cuDNN) and differentiates that
# (create_graph when a double backward is being recorded). Through ATen because the two
# convolution backwards plus the activation masks are what a hand-written one would also
# run; its gain would be the fusion, not measured yet.
def _separable_setup_context(ctx, inputs, output):
    ctx.save_for_backward(*inputs[:5])  # the biases may be None
    ctx.args = inputs[5:]


def _separable_backward(ctx, grad):
    tensors = ctx.saved_tensors
    need = ctx.needs_input_grad[:5]
    with torch.enable_grad():
        leaves = [t.detach().requires_grad_(n) if t is not None else None
                  for t, n in zip(tensors, need)]
        out = _separable_reference(*leaves, *ctx.args)
        wanted = [t for t, n in zip(leaves, need) if t is not None and n]
        got = iter(torch.autograd.grad(out, wanted, grad, create_graph=torch.is_grad_enabled())
                   if wanted else ())
    grads = [next(got) if t is not None and n else None for t, n in zip(leaves, need)]
    return (*grads, None, None, None, None, None)


torch.library.register_autograd("pybench::separable_conv2d", _separable_backward,
                                setup_context=_separable_setup_context)
