"""The public op API: documented wrappers of ``torch.ops.pybench.*``.

Every op is a torch custom op (registered in C++ with TORCH_LIBRARY), so it works with
autograd-free inference, ``torch.compile`` (fake kernels below) and
``torch.library.opcheck``.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

import torch

from pybench import _C  # noqa: F401  (loads the library, registering torch.ops.pybench)

__all__ = ["gram", "conv2d", "conv2d_padding", "cpu_isa", "detected_cpu_isa", "use_cpu_isa", "set_cpu_isa", "CPU_ISAS",
           "has_cuda_kernels", "check_operands"]

#: CPU instruction-set levels, best first. Each implies the ones after it.
CPU_ISAS = ("avx512", "avx2", "scalar")


def _check_env_cap() -> None:
    cap = os.environ.get("PYBENCH_MAX_CPU_ISA")
    if cap is not None and cap not in CPU_ISAS:
        raise ValueError(
            f"PYBENCH_MAX_CPU_ISA={cap!r} is not one of {', '.join(CPU_ISAS)}"
        )


_check_env_cap()


def detected_cpu_isa() -> str:
    """The best CPU ISA level this machine supports ("avx512", "avx2" or "scalar")."""
    return torch.ops.pybench.detected_cpu_isa()


def cpu_isa() -> str:
    """The CPU ISA level the kernels use now.

    It starts as :func:`detected_cpu_isa`, capped by the ``PYBENCH_MAX_CPU_ISA``
    environment variable, and changes with :func:`set_cpu_isa` / :func:`use_cpu_isa`.
    """
    return torch.ops.pybench.active_cpu_isa()


def set_cpu_isa(name: str) -> None:
    """Make every pybench CPU kernel use the ``name`` variant from now on.

    Raises ValueError for an unknown name or one this CPU cannot run.
    """
    if name not in CPU_ISAS:
        raise ValueError(f"unknown CPU ISA {name!r}; expected one of {', '.join(CPU_ISAS)}")
    torch.ops.pybench.set_cpu_isa(name)


@contextlib.contextmanager
def use_cpu_isa(name: str) -> Iterator[str]:
    """Context manager running the pybench CPU kernels with the ``name`` variant.

    >>> with pybench.ops.use_cpu_isa("avx2"):
    ...     g = pybench.ops.gram(x)

    Raises ValueError on entry when this CPU lacks the ISA. The previous level is
    restored on exit. The setting is process-wide, not per thread.
    """
    previous = cpu_isa()
    set_cpu_isa(name)
    try:
        yield name
    finally:
        set_cpu_isa(previous)


def check_operands(op: str, input: torch.Tensor, input_name: str = "input",
                   **operands: torch.Tensor | None) -> None:
    """Refuse any tensor argument the kernels must not read as a dense float32 buffer.

    ``input`` (called ``input_name`` in messages) sets the device; every other tensor of
    ``operands`` (None: absent) must be on exactly that device, and every tensor must be a
    dense (strided) float32 tensor. The same checks as ``csrc/ops/tensor_checks.h``, made
    here too because two paths never reach the C++ adapters: the fake (meta) kernel, which
    the dispatcher picks whenever ANY argument is a meta tensor -- so without this a CPU
    input and a meta weight returned an uninitialised CPU tensor -- and sparse or quantized
    arguments, which the dispatcher would refuse without naming the argument.

    Raises:
        TypeError: not a tensor, not strided (sparse, MKL-DNN), or not float32 (which
            includes quantized dtypes).
        RuntimeError: an operand on another device than ``input``, as PyTorch's own ops.
    """
    for name, t in ((input_name, input), *operands.items()):
        if t is None:
            continue
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{op}: expected {name} to be a Tensor, got {type(t).__name__}")
        if t.layout != torch.strided:
            raise TypeError(f"{op}: expected a dense (strided) {name}, got one with layout "
                            f"{t.layout}")
        if t.dtype != torch.float32:
            raise TypeError(f"{op}: expected float32 {name}, got {t.dtype}")
        if t.device != input.device:
            raise RuntimeError(f"{op}: {input_name} is on {input.device} but {name} is on "
                               f"{t.device} (every tensor argument must be on the "
                               f"{input_name}'s device)")


def has_cuda_kernels() -> bool:
    """Whether this build of the extension contains the CUDA kernels."""
    return torch._C._dispatch_has_kernel_for_dispatch_key("pybench::gram", "CUDA")


def gram(features: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """Gram matrix of feature maps, G = F Fᵀ (style transfer's feature correlations).

    Args:
        features: float32 tensor, either (N, C, H, W) -- each map F[n] is viewed as a
            C x (H*W) matrix -- or (C, L). CPU or CUDA; any strides (rows that are not
            contiguous are copied first).
        normalize: divide by C*H*W (C*L for 2-D input), as style-transfer losses do.

    Returns:
        (N, C, C) for 4-D input, (C, C) for 2-D input; float32, on the input's device,
        exactly symmetric. Only the upper triangle is computed (about half the FLOPs of
        ``F @ F.T``); the lower one is its mirror.

    Raises:
        TypeError: the input is not float32.
        ValueError: the input is not of rank 2 or 4.
    """
    check_operands("pybench.gram", features, "features")
    return torch.ops.pybench.gram(features, normalize)


@torch.library.register_fake("pybench::gram")
def _gram_fake(features: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    check_operands("pybench.gram", features, "features")
    torch._check(
        features.dim() in (2, 4),
        lambda: f"pybench.gram: expected features of rank 2 (C, L) or 4 (N, C, H, W), "
        f"got rank {features.dim()}",
    )
    c = features.shape[-3] if features.dim() == 4 else features.shape[0]
    if features.dim() == 4:
        return features.new_empty((features.shape[0], c, c))
    return features.new_empty((c, c))


def _pair(value, name: str) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 1:
        return (int(value[0]), int(value[0]))
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return (int(value[0]), int(value[1]))
    raise ValueError(f"pybench.conv2d: expected {name} to be an int or a pair of ints, got {value!r}")


def conv2d_padding(padding, kernel_size, stride=1, dilation=1) -> tuple[int, int, int, int]:
    """Resolve ``F.conv2d``'s ``padding`` into (top, bottom, left, right).

    ``padding`` is an int, a pair, ``"valid"`` (no padding) or ``"same"`` (output size =
    input size, stride 1 only; for an even dilated kernel the extra row / column goes at
    the bottom / right, as PyTorch does it).
    """
    (kh, kw), (sh, sw), (dh, dw) = (_pair(kernel_size, "kernel_size"), _pair(stride, "stride"),
                                    _pair(dilation, "dilation"))
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise ValueError(f"pybench.conv2d: invalid padding string {padding!r}, "
                             "should be one of {'valid', 'same'}")
        if sh != 1 or sw != 1:
            raise ValueError("pybench.conv2d: padding='same' is not supported for strided "
                             "convolutions")
        th, tw = dh * (kh - 1), dw * (kw - 1)
        return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
    ph, pw = _pair(padding, "padding")
    return (ph, ph, pw, pw)


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
    eh, ew = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    torch._check_value(eh <= h + padding[0] + padding[1] and ew <= w + padding[2] + padding[3],
                       lambda: f"{op}: Kernel size can't be greater than actual input size")
    oh = (h + padding[0] + padding[1] - eh) // stride[0] + 1
    ow = (w + padding[2] + padding[3] - ew) // stride[1] + 1
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


def _conv2d_backward(ctx, grad):
    input, weight = ctx.saved_tensors
    has_bias, stride, (top, bottom, left, right), dilation, groups = ctx.conv
    batched = input.dim() == 4
    x, grad = (input, grad) if batched else (input.unsqueeze(0), grad.unsqueeze(0))
    symmetric = top == bottom and left == right
    if not symmetric:
        x = torch.nn.functional.pad(x, (left, right, top, bottom))
    need = ctx.needs_input_grad
    grad_input, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
        grad.contiguous(), x, weight, [weight.shape[0]] if has_bias else None, list(stride),
        [top, left] if symmetric else [0, 0], list(dilation), False, [0, 0], groups,
        [need[0], need[1], has_bias and need[2]])
    if grad_input is not None:
        if not symmetric:
            grad_input = grad_input[..., top:top + input.shape[-2], left:left + input.shape[-1]]
        if not batched:
            grad_input = grad_input.squeeze(0)
    return grad_input, grad_weight, grad_bias, None, None, None, None


torch.library.register_autograd("pybench::conv2d", _conv2d_backward,
                                setup_context=_conv2d_setup_context)


# --- Depthwise and depthwise-separable convolution (issue 5) ------------------------------

__all__ += ["depthwise_conv2d", "separable_conv2d", "ACTIVATIONS"]

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
    eh, ew = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    torch._check_value(eh <= h + padding[0] + padding[1] and ew <= w + padding[2] + padding[3],
                       lambda: f"{op}: Kernel size can't be greater than actual input size")
    oh = (h + padding[0] + padding[1] - eh) // stride[0] + 1
    ow = (w + padding[2] + padding[3] - ew) // stride[1] + 1
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
# --- LSTM (issue 6) -------------------------------------------------------------------------
__all__ += ["lstm_cell", "lstm", "lstm_pack_weights"]


def lstm_pack_weights(w_ih: torch.Tensor, w_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pack LSTM weights for the active CPU ISA's kernels (see csrc/kernels/lstm/lstm.h).

    The result can be passed to :func:`lstm_cell` / :func:`lstm` as ``packed_ih`` /
    ``packed_hh`` to skip the per-call packing (``pybench.nn.LSTMCell`` and ``LSTM`` cache
    it). It is only valid for these weight values and the CPU ISA active when packing.
    """
    check_operands("pybench.lstm_pack_weights", w_ih, "w_ih", w_hh=w_hh)
    return torch.ops.pybench.lstm_pack_weights(w_ih, w_hh)


def lstm_cell(input: torch.Tensor, hx: torch.Tensor, cx: torch.Tensor, w_ih: torch.Tensor,
              w_hh: torch.Tensor, b_ih: torch.Tensor | None = None,
              b_hh: torch.Tensor | None = None, *, packed_ih: torch.Tensor | None = None,
              packed_hh: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step with exactly the semantics of ``torch.nn.LSTMCell`` (gates i, f, g, o).

    Args:
        input: float32 (B, I), or unbatched (I).
        hx, cx: float32 (B, H) (or (H) for unbatched input).
        w_ih: (4H, I); w_hh: (4H, H); b_ih, b_hh: optional (4H).
        packed_ih, packed_hh: optional, from :func:`lstm_pack_weights` (CPU only; the CUDA
            kernel ignores them).

    Returns:
        (hy, cy), each (B, H) (or (H)).

    Raises:
        TypeError: an operand is not float32.
        ValueError: wrong ranks or shapes (w_ih / w_hh not 4H rows, hx / cx not (B, H),
            biases not (4H)), packed weights that do not fit.
        RuntimeError: operands on different devices.
    """
    check_operands("pybench.lstm_cell", input, hx=hx, cx=cx, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih,
                   b_hh=b_hh, packed_ih=packed_ih, packed_hh=packed_hh)
    unbatched = input.dim() == 1
    if unbatched:
        input, hx, cx = input.unsqueeze(0), hx.unsqueeze(0), cx.unsqueeze(0)
    hy, cy = torch.ops.pybench.lstm_cell(input, hx, cx, w_ih, w_hh, b_ih, b_hh, packed_ih,
                                         packed_hh)
    return (hy.squeeze(0), cy.squeeze(0)) if unbatched else (hy, cy)


def lstm(input: torch.Tensor, hx: torch.Tensor, cx: torch.Tensor, w_ih: torch.Tensor,
         w_hh: torch.Tensor, b_ih: torch.Tensor | None = None, b_hh: torch.Tensor | None = None,
         batch_first: bool = False, *, packed_ih: torch.Tensor | None = None,
         packed_hh: torch.Tensor | None = None
         ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """One unidirectional LSTM layer over a sequence, as ``torch.nn.LSTM(I, H)``.

    The input product of all T steps is one GEMM; each step is then one fused kernel
    (recurrent product, gate non-linearities and cell update).

    Args:
        input: float32 (T, B, I), or (B, T, I) with ``batch_first``.
        hx, cx: float32 (B, H) initial states (not (num_layers, B, H)).
        w_ih, w_hh, b_ih, b_hh, packed_ih, packed_hh: as :func:`lstm_cell`.

    Returns:
        (output, (h_n, c_n)): output (T, B, H) (or (B, T, H)), h_n and c_n (B, H).

    Raises:
        TypeError, ValueError, RuntimeError: as :func:`lstm_cell`.
    """
    check_operands("pybench.lstm", input, hx=hx, cx=cx, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih,
                   b_hh=b_hh, packed_ih=packed_ih, packed_hh=packed_hh)
    output, h_n, c_n = torch.ops.pybench.lstm(input, hx, cx, w_ih, w_hh, b_ih, b_hh, batch_first,
                                              packed_ih, packed_hh)
    return output, (h_n, c_n)


def _lstm_fake_checks(op, input, hx, cx, w_ih, w_hh, b_ih, b_hh, packed_ih, packed_hh, rank,
                      batch_dim):
    # The same checks as csrc/ops/lstm_args.h, for meta tensors and torch.compile.
    check_operands(op, input, hx=hx, cx=cx, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh,
                   packed_ih=packed_ih, packed_hh=packed_hh)
    torch._check_value(input.dim() == rank,
                       lambda: f"{op}: expected input of rank {rank}, got rank {input.dim()}")
    torch._check_value(w_hh.dim() == 2 and w_ih.dim() == 2, lambda: f"{op}: expected 2-D weights")
    h = w_hh.shape[1]
    torch._check_value(w_hh.shape[0] == 4 * h,
                       lambda: f"{op}: expected w_hh of shape (4*hidden_size, hidden_size)")
    torch._check_value(w_ih.shape[0] == 4 * h and w_ih.shape[1] == input.shape[-1],
                       lambda: f"{op}: expected w_ih of shape (4*hidden_size, input_size)")
    b = input.shape[batch_dim]
    for name, t in (("hx", hx), ("cx", cx)):
        torch._check_value(t.dim() == 2 and t.shape[0] == b and t.shape[1] == h,
                           lambda name=name: f"{op}: expected {name} of shape (batch, hidden_size)")
    for name, t in (("b_ih", b_ih), ("b_hh", b_hh)):
        if t is not None:
            torch._check_value(t.dim() == 1 and t.shape[0] == 4 * h,
                               lambda name=name: f"{op}: expected {name} of shape (4*hidden_size)")
    return b, h


@torch.library.register_fake("pybench::lstm_cell")
def _lstm_cell_fake(input, hx, cx, w_ih, w_hh, b_ih=None, b_hh=None, packed_ih=None,
                    packed_hh=None):
    b, h = _lstm_fake_checks("pybench.lstm_cell", input, hx, cx, w_ih, w_hh, b_ih, b_hh,
                             packed_ih, packed_hh, 2, 0)
    return input.new_empty((b, h)), input.new_empty((b, h))


@torch.library.register_fake("pybench::lstm")
def _lstm_fake(input, hx, cx, w_ih, w_hh, b_ih=None, b_hh=None, batch_first=False,
               packed_ih=None, packed_hh=None):
    b, h = _lstm_fake_checks("pybench.lstm", input, hx, cx, w_ih, w_hh, b_ih, b_hh, packed_ih,
                             packed_hh, 3, 0 if batch_first else 1)
    t = input.shape[1 if batch_first else 0]
    out = input.new_empty((b, t, h) if batch_first else (t, b, h))
    return out, input.new_empty((b, h)), input.new_empty((b, h))


@torch.library.register_fake("pybench::lstm_pack_weights")
def _lstm_pack_weights_fake(w_ih, w_hh):
    check_operands("pybench.lstm_pack_weights", w_ih, "w_ih", w_hh=w_hh)
    h = w_hh.shape[1]
    block = 8 if cpu_isa() == "avx2" else 16
    panels = (h + block - 1) // block
    return (w_ih.new_empty((panels, w_ih.shape[1], 4 * block)),
            w_hh.new_empty((panels, h, 4 * block)))
