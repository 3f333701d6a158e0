"""``pybench.nn.convert(..., layout="nchwc")``: a model whose activations stay in the blocked
layout (:mod:`pybench.ops.nchwc`) from one pybench layer to the next.

The peers that beat eager PyTorch on the CPU do it around their kernels, not in them
(``../shared/research/peers-cpu.md``): eager PyTorch reorders every convolution's input,
weights and output between NCHW and oneDNN's blocked layout on every call, and runs each
BatchNorm, activation and residual add as its own pass over memory. Here the model is
rewritten once, on its ``torch.fx`` graph:

- BatchNorms are folded into their convolutions (``fold_batchnorm``), and each convolution's
  weight is packed once (:func:`pybench.ops.pack_conv2d_nchwc`).
- A 3x3, stride-1 convolution of a blocked input runs Winograd F(4x4, 3x3)
  (:func:`pybench.ops.conv2d_winograd_nchwc`) where that measures faster than the direct
  kernel on its shapes (``winograd="auto"``), with the same epilogues.
- A convolution runs :func:`pybench.ops.conv2d_nchwc` with its epilogue fused: the
  activation that is its only user (ReLU, ReLU6, Hardswish, Sigmoid, as a module or
  ``F.relu`` / ``torch.relu``), or a residual add that is its only user -- the add's other
  operand becomes the kernel's ``residual`` -- followed by the add's own activation (ResNet's
  ``relu(bn2(conv2(x)) + identity)``).
- An eval-mode BatchNorm no convolution absorbed (DenseNet's BN -> ReLU -> conv) is one
  multiply-add on the blocked tensor, its activation applied in place after it.
- Pooling (max, average, adaptive average; modules or their functions) runs on the blocked
  tensor (:mod:`pybench.ops.pool_nchwc`); a direct convolution whose only user is a max
  pooling may run with it as one op, band by band of pooled rows (``fuse_pool``); channel-wise ops (ReLU, ReLU6,
  Hardswish, Hardsigmoid, Sigmoid, SiLU, eval-mode Dropout, add and multiply of two images
  with the same channels, squeeze-excitation's broadcast included) and a channel concat of
  whole blocks run on it unchanged. A convolution whose only user is such a concat writes
  its slice of the concat's buffer (``conv2d_nchwc_out``): GoogLeNet's inception
  outputs cost no copy.
- The model's first convolution reads its NCHW input directly (fewer channels than a
  block); every other place where a blocked tensor meets an operation that is not one of
  the above gets a reorder back to NCHW (``from_nchwc``), once per tensor, and the report
  lists each reorder with its reason (``ConversionReport.layout``).

Inference only: the model must be in eval mode, and shapes are read from one example run.
"""
from __future__ import annotations

import copy
import operator
from typing import Any, Sequence

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

import pybench.ops as ops
from pybench.nn.blocked_module import BlockedGraphModule
from pybench.nn.choose import Chooser
from pybench.nn.linear import Linear, linear_unsupported_reason
from pybench.nn.report import Converted, Skipped, _Tracer

__all__ = ["NchwcBatchNorm", "NchwcConv2d", "NchwcConv2dMaxPool", "NchwcDepthwise", "NchwcPool",
           "convert_blocked"]

_ACTIVATION_MODULES = {nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Hardswish: "hardswish",
                       nn.Sigmoid: "sigmoid"}
_ACTIVATION_FUNCTIONS = {F.relu: "relu", torch.relu: "relu", F.relu6: "relu6",
                         F.hardswish: "hardswish", torch.sigmoid: "sigmoid",
                         F.sigmoid: "sigmoid"}
# The module that computes each fused activation, for timing a Linear against PyTorch's.
_ACTIVATION_REFERENCE = {name: module for module, name in _ACTIVATION_MODULES.items()}
# Channel-wise ops, which run on blocked tensors as they are: each channel of the result
# depends on that channel only, so the block layout means nothing to them. A padded channel
# may stop being zero (sigmoid(0) = 0.5) but stays finite, and every consumer is fine with
# that: a convolution multiplies it by a zero weight and writes its own padded channels as
# zeros, a concat takes whole blocks only, from_nchwc drops it.
_CHANNELWISE_MODULES = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.SiLU,
                        nn.Dropout, nn.Identity)
_CHANNELWISE_FUNCTIONS = {F.relu, torch.relu, F.relu6, F.hardswish, F.hardsigmoid,
                          torch.sigmoid, F.sigmoid, F.silu, F.dropout}
_ADDS = {operator.add, torch.add, operator.iadd}
# Binary ops of two images with the same channels (broadcasting over space allowed, as in
# squeeze-excitation's x * scale).
_BINARY = _ADDS | {operator.mul, torch.mul, operator.imul}


class NchwcConv2d(nn.Module):
    """A convolution on the blocked layout with its epilogue: weights packed at construction.

    ``forward(x, residual=None)`` takes a blocked input (or NCHW when ``blocked_input`` is
    False: a first layer) and returns a blocked output of ``out_channels`` channels.
    """

    def __init__(self, conv: nn.Conv2d, block: int, blocked_input: bool, activation: str = "none",
                 algorithm: str = "direct"):
        super().__init__()
        if algorithm not in ("direct", "winograd"):
            raise ValueError(f"NchwcConv2d: algorithm must be 'direct' or 'winograd', got "
                             f"{algorithm!r}")
        if algorithm == "winograd":
            reason = ops.winograd_unsupported_reason(conv.kernel_size, conv.stride,
                                                     conv.dilation, conv.groups)
            if reason is not None or not blocked_input:
                raise ValueError(f"NchwcConv2d: Winograd needs a 3x3, stride-1, undilated "
                                 f"convolution of a blocked input: "
                                 f"{reason or 'the input is NCHW'}")
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.block = block
        self.blocked_input = blocked_input
        self.activation = activation
        self.algorithm = algorithm
        self.stride, self.dilation = conv.stride, conv.dilation
        self.padding = conv.padding
        with torch.no_grad():
            weight = conv.weight.detach().float()
            self.register_buffer("weight", ops.pack_conv2d_winograd_nchwc(weight, block)
                                 if algorithm == "winograd" else
                                 ops.pack_conv2d_nchwc(weight, block, blocked_input=blocked_input))
            bias = None if conv.bias is None else conv.bias.detach().float()
            self.register_buffer("bias", ops.pad_bias_nchwc(bias, conv.out_channels, block))
        # The op's arguments in its schema's form, normalised once: a blocked input comes
        # from the layer before, so the op's own C++ checks suffice and the Python ones
        # (5 of its 11 us per call on a small layer: MobileNet-v2 makes 52 such calls) are
        # left to the first layer, which sees the user's tensor.
        if algorithm == "winograd":
            self._schema_args = ops.winograd_nchwc_schema_args(
                self.weight, conv.out_channels, self.padding, activation)
        else:
            self._schema_args = ops.conv2d_nchwc_schema_args(
                self.weight, conv.out_channels, self.stride, self.padding, self.dilation,
                activation)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None,
                out: torch.Tensor | None = None, out_block_offset: int = 0) -> torch.Tensor:
        """The blocked output; with ``out``, written into its channel blocks
        ``[out_block_offset, + ceil(out_channels / block))`` (a concat's slice), returning
        ``out``."""
        if self.algorithm == "winograd":
            if out is not None:
                torch.ops.pybench.conv2d_nchwc_winograd_out.default(
                    x, self.weight, self.bias, residual, *self._schema_args, out,
                    out_block_offset)
                return out
            return torch.ops.pybench.conv2d_nchwc_winograd.default(
                x, self.weight, self.bias, residual, *self._schema_args)
        if self.blocked_input:
            if out is not None:
                torch.ops.pybench.conv2d_nchwc_out.default(
                    x, self.weight, self.bias, residual, *self._schema_args, out,
                    out_block_offset)
                return out
            return torch.ops.pybench.conv2d_nchwc.default(x, self.weight, self.bias, residual,
                                                          *self._schema_args)
        if out is not None:
            return ops.conv2d_nchwc_out(x, self.weight, out, out_block_offset, self.bias,
                                        residual, self.out_channels, self.stride, self.padding,
                                        self.dilation, self.activation)
        return ops.conv2d_nchwc(x, self.weight, self.bias, residual, self.out_channels,
                                self.stride, self.padding, self.dilation, self.activation)

    def layer_flops(self, output: torch.Tensor) -> int:
        """FLOPs of the call that produced ``output`` (blocked, or the concat buffer it
        wrote a slice of), counted as for the ``nn.Conv2d`` it replaces
        (:func:`pybench.models.layer_flops`): the padded channels are not counted."""
        kh, kw = (3, 3) if self.algorithm == "winograd" else self.weight.shape[2:4]
        positions = output.shape[0] * output.shape[2] * output.shape[3]
        return 2 * positions * self.out_channels * self.in_channels * kh * kw

    def extra_repr(self) -> str:
        kernel = (3, 3) if self.algorithm == "winograd" else tuple(self.weight.shape[2:4])
        return (f"out_channels={self.out_channels}, block={self.block}, kernel="
                f"{kernel}, stride={self.stride}, padding={self.padding}, "
                f"activation={self.activation!r}, blocked_input={self.blocked_input}"
                + (", algorithm='winograd'" if self.algorithm == "winograd" else ""))


class NchwcDepthwise(nn.Module):
    """A depthwise convolution (groups = channels, multiplier 1) on the blocked layout with
    its epilogue, weights packed at construction."""

    def __init__(self, conv: nn.Conv2d, block: int, activation: str = "none"):
        super().__init__()
        self.channels = conv.out_channels
        self.block = block
        self.activation = activation
        self.stride, self.dilation, self.padding = conv.stride, conv.dilation, conv.padding
        with torch.no_grad():
            self.register_buffer("weight", ops.pack_depthwise_nchwc(conv.weight.detach().float(),
                                                                    block))
            bias = None if conv.bias is None else conv.bias.detach().float()
            self.register_buffer("bias", ops.pad_bias_nchwc(bias, conv.out_channels, block))
        # Normalised once, its input being the layer before's (see NchwcConv2d).
        self._schema_args = ops.depthwise_conv2d_nchwc_schema_args(
            self.weight, self.channels, self.stride, self.padding, self.dilation, activation)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        return torch.ops.pybench.depthwise_conv2d_nchwc.default(
            x, self.weight, self.bias, residual, *self._schema_args)

    def layer_flops(self, output: torch.Tensor) -> int:
        """FLOPs of the call that produced the blocked ``output``, as for the depthwise
        ``nn.Conv2d`` it replaces."""
        kh, kw = self.weight.shape[1:3]
        positions = output.shape[0] * output.shape[2] * output.shape[3]
        return 2 * positions * self.channels * kh * kw

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, block={self.block}, kernel="
                f"{tuple(self.weight.shape[1:3])}, stride={self.stride}, padding={self.padding}, "
                f"activation={self.activation!r}")


class NchwcConv1x1Depthwise(nn.Module):
    """A blocked 1x1 convolution whose only user is a blocked depthwise convolution (an
    inverted residual's expand -> depthwise, MobileNet-v1's pointwise -> next depthwise),
    run as one op band by band of rows (``torch.ops.pybench.conv1x1_depthwise_nchwc``): the
    1x1's output never leaves the core's L2. Same results as the two layers in a row. A
    leaf module (the two layers' buffers, not the layers), so per-layer profilers time it
    as one layer."""

    def __init__(self, pointwise: NchwcConv2d, depthwise: NchwcDepthwise):
        super().__init__()
        self.register_buffer("weight", pointwise.weight)
        self.register_buffer("bias", pointwise.bias)
        self.register_buffer("dw_weight", depthwise.weight)
        self.register_buffer("dw_bias", depthwise.bias)
        self.in_channels, self.out_channels = pointwise.in_channels, pointwise.out_channels
        self.activation, self.dw_activation = pointwise.activation, depthwise.activation
        self.block = pointwise.block
        self._dw_args = depthwise._schema_args[1:4]  # stride, padding, dilation
        self._in_hw = (0, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._in_hw = (x.shape[2], x.shape[3])
        return torch.ops.pybench.conv1x1_depthwise_nchwc.default(
            x, self.weight, self.bias, self.out_channels, self.activation, self.dw_weight,
            self.dw_bias, *self._dw_args, self.dw_activation)

    def layer_flops(self, output: torch.Tensor) -> int:
        """Both convolutions' FLOPs, as for the two ``nn.Conv2d`` they replace."""
        h, w = self._in_hw
        kh, kw = self.dw_weight.shape[1:3]
        positions = output.shape[0] * output.shape[2] * output.shape[3]
        return (2 * output.shape[0] * h * w * self.out_channels * self.in_channels
                + 2 * positions * self.out_channels * kh * kw)

    def extra_repr(self) -> str:
        stride, padding, dilation = self._dw_args
        return (f"{self.in_channels} -> {self.out_channels}, block={self.block}, "
                f"activation={self.activation!r}, depthwise kernel="
                f"{tuple(self.dw_weight.shape[1:3])}, stride={stride}, padding={padding}, "
                f"dilation={dilation}, dw_activation={self.dw_activation!r}")


def _fusable_pointwise(module: nn.Module, node: fx.Node) -> bool:
    """A direct, unstrided, unpadded 1x1 of a blocked input, writing its own output."""
    return (isinstance(module, NchwcConv2d) and module.algorithm == "direct"
            and module.blocked_input and tuple(module.weight.shape[2:4]) == (1, 1)
            and tuple(module.stride) == (1, 1) and module.padding in ((0, 0), 0, "valid")
            and len(node.args) == 1 and not node.kwargs)


def _replace_pair(graph: fx.Graph, root: nn.Module, report, node: fx.Node, user: fx.Node,
                  fused: nn.Module, what: str) -> None:
    """Replaces the call of module ``node`` and that of its only user with one call of
    ``fused`` on ``node``'s input, drops both modules from ``root``, and reports it."""
    target = f"{node.target}__{user.target}"
    root.add_module(target, fused)
    with graph.inserting_before(user):
        out = graph.call_module(target, (node.args[0],))
    user.replace_all_uses_with(out)
    graph.erase_node(user)
    graph.erase_node(node)
    delattr(root, node.target)
    delattr(root, user.target)
    report.converted.append(Converted(target, what))


def fuse_pointwise_depthwise(graph: fx.Graph, root: nn.Module, report, choose,
                             mode: str) -> None:
    """Replaces each blocked 1x1 -> depthwise pair (the 1x1's output read by nothing else)
    with :class:`NchwcConv1x1Depthwise`: ``mode`` "always", or "auto", which times the pair
    both ways on its shapes (``choose(path, rule, separate, fused, args)``) and keeps the
    faster: the band halo the fused op recomputes costs most where the image is small."""
    erased: set[fx.Node] = set()
    for node in list(graph.nodes):
        if node.op != "call_module" or node in erased:
            continue
        pw = root.get_submodule(node.target)
        if not _fusable_pointwise(pw, node) or len(node.users) != 1:
            continue
        user = next(iter(node.users))
        if user.op != "call_module" or len(user.args) != 1 or user.kwargs:
            continue
        dw = root.get_submodule(user.target)
        if not isinstance(dw, NchwcDepthwise) or getattr(pw, "example_shape", None) is None:
            continue
        fused = NchwcConv1x1Depthwise(pw, dw)
        if mode != "always":
            args = (torch.randn(pw.example_shape),)
            choice = choose(user.target, "conv1x1 + depthwise fused", nn.Sequential(pw, dw),
                            fused, args)
            report.choices.append(choice)
            if choice.chosen != "fused":
                continue
        _replace_pair(graph, root, report, node, user, fused,
                      "nchwc conv1x1 + depthwise, fused by row bands")
        erased |= {user, node}


class NchwcConv2dMaxPool(nn.Module):
    """A blocked direct convolution (with its activation) whose only user is a max pooling
    (VGG's and AlexNet's conv -> ReLU -> MaxPool2d), run as one op band by band of pooled
    rows (``torch.ops.pybench.conv2d_maxpool_nchwc``): the convolution's output never
    leaves the core's L2. Same results as the two layers in a row. A leaf module (the
    convolution's buffers and the pooling's arguments), so per-layer profilers time it as
    one layer."""

    def __init__(self, conv: NchwcConv2d, pool: nn.MaxPool2d):
        super().__init__()
        if conv.algorithm != "direct":
            raise ValueError("NchwcConv2dMaxPool: the fused op runs the direct kernel; got a "
                             f"{conv.algorithm} convolution")
        self.register_buffer("weight", conv.weight)
        self.register_buffer("bias", conv.bias)
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.block, self.blocked_input = conv.block, conv.blocked_input
        self.activation = conv.activation
        self._conv_args = conv._schema_args  # out_channels, stride, padding, dilation, act
        k = tuple(pool.kernel_size) if isinstance(pool.kernel_size, (tuple, list)) else (
            pool.kernel_size,) * 2
        self._pool_args = (list(k), list(_pool_pair(pool.stride, k)),
                           list(_pool_pair(pool.padding, k)), list(_pool_pair(pool.dilation, k)),
                           bool(pool.ceil_mode))
        self._conv_hw = (0, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out_channels, stride, padding, dilation, activation = self._conv_args
        kh, kw = self.weight.shape[2:4]
        self._conv_hw = tuple(
            (size + padding[2 * i] + padding[2 * i + 1] - dilation[i] * (k - 1) - 1)
            // stride[i] + 1 for i, (size, k) in enumerate(((x.shape[2], kh), (x.shape[3], kw))))
        return torch.ops.pybench.conv2d_maxpool_nchwc.default(
            x, self.weight, self.bias, out_channels, stride, padding, dilation, activation,
            *self._pool_args)

    def layer_flops(self, output: torch.Tensor) -> int:
        """The convolution's FLOPs, as for the ``nn.Conv2d`` it replaces (the pooling's
        comparisons are not counted, as for ``nn.MaxPool2d``)."""
        kh, kw = self.weight.shape[2:4]
        h, w = self._conv_hw
        return 2 * output.shape[0] * h * w * self.out_channels * self.in_channels * kh * kw

    def extra_repr(self) -> str:
        out_channels, stride, padding, dilation, activation = self._conv_args
        k, s, p, d, ceil = self._pool_args
        return (f"{self.in_channels} -> {self.out_channels}, block={self.block}, kernel="
                f"{tuple(self.weight.shape[2:4])}, stride={stride}, padding={padding}, "
                f"dilation={dilation}, activation={activation!r}, blocked_input="
                f"{self.blocked_input}, pool kernel={k}, stride={s}, padding={p}, "
                f"dilation={d}, ceil_mode={ceil}")


def _pool_pair(value, kernel: tuple[int, int]) -> tuple[int, int]:
    if value is None or (isinstance(value, (tuple, list)) and len(value) == 0):
        return kernel  # nn.MaxPool2d's stride default
    if isinstance(value, (tuple, list)):
        return (value[0], value[-1])
    return (value, value)


def fuse_conv_maxpool(graph: fx.Graph, root: nn.Module, report, choose, mode: str) -> None:
    """Replaces each blocked direct convolution -> max pooling pair (the convolution's
    output, its activation fused, read by nothing else) with :class:`NchwcConv2dMaxPool`:
    ``mode`` "always", or "auto", which times the pair both ways on its shapes
    (``choose(path, rule, separate, fused, args)``) and keeps the faster (overlapping
    windows recompute a band's last conv rows; small images have few bands). A convolution
    that runs Winograd, writes a concat's slice or takes a residual stays separate."""
    erased: set[fx.Node] = set()
    for node in list(graph.nodes):
        if node.op != "call_module" or node in erased:
            continue
        conv = root.get_submodule(node.target)
        if (not isinstance(conv, NchwcConv2d) or conv.algorithm != "direct"
                or len(node.args) != 1 or node.kwargs or len(node.users) != 1
                or getattr(conv, "example_shape", None) is None):
            continue
        user = next(iter(node.users))
        if user.op != "call_module" or len(user.args) != 1 or user.kwargs:
            continue
        pool = root.get_submodule(user.target)
        if not isinstance(pool, NchwcPool) or not isinstance(pool.pool, nn.MaxPool2d):
            continue
        fused = NchwcConv2dMaxPool(conv, pool.pool)
        if mode != "always":
            n, cb, h, w, b = conv.example_shape
            shape = conv.example_shape if conv.blocked_input else (n, conv.in_channels, h, w)
            choice = choose(user.target, "conv + maxpool fused", nn.Sequential(conv, pool),
                            fused, (torch.randn(shape),))
            report.choices.append(choice)
            if choice.chosen != "fused":
                continue
        _replace_pair(graph, root, report, node, user, fused,
                      "nchwc conv + maxpool, fused by row bands")
        erased |= {user, node}


def batchnorm_affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """An eval-mode BatchNorm as y = x * scale + shift per channel, in float64 (so what is
    folded from it is rounded once more than the original, not twice)."""
    f64 = dict(dtype=torch.float64)
    var, mean = bn.running_var.to(**f64), bn.running_mean.to(**f64)
    gamma = bn.weight.detach().to(**f64) if bn.weight is not None else torch.ones_like(var)
    beta = bn.bias.detach().to(**f64) if bn.bias is not None else torch.zeros_like(var)
    scale = gamma / torch.sqrt(var + bn.eps)
    return scale, beta - mean * scale


class NchwcBatchNorm(nn.Module):
    """An eval-mode BatchNorm2d that no convolution absorbed (DenseNet's pre-activation
    order: concat -> BN -> ReLU -> conv) as one per-channel multiply-add on the blocked
    tensor; the padded channels' scale and shift are zero, so they stay zero."""

    def __init__(self, bn: nn.BatchNorm2d, block: int, activation: str = "none"):
        super().__init__()
        self.activation = activation
        with torch.no_grad():
            scale, shift = batchnorm_affine(bn)
            c = bn.num_features
            cb = -(-c // block)
            pad = (0, cb * block - c)
            self.register_buffer("scale", F.pad(scale.float(), pad).reshape(1, cb, 1, 1, block))
            self.register_buffer("shift", F.pad(shift.float(), pad).reshape(1, cb, 1, 1, block))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.addcmul(self.shift, x, self.scale)
        # In place: y is this module's own fresh tensor, still in cache.
        if self.activation == "relu":
            return y.relu_()
        if self.activation == "relu6":
            return F.hardtanh(y, 0.0, 6.0, inplace=True)
        if self.activation == "hardswish":
            return F.hardswish(y, inplace=True)
        if self.activation == "sigmoid":
            return y.sigmoid_()
        return y

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}"


class NchwcPool(nn.Module):
    """A max, average or adaptive average pooling module run on a blocked tensor by
    pybench's blocked pooling kernels (:mod:`pybench.ops.pool_nchwc`)."""

    def __init__(self, pool: nn.Module):
        super().__init__()
        if not _blocked_pool(pool):
            raise ValueError(f"NchwcPool: no blocked kernel for {pool}")
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.pool
        if isinstance(p, nn.MaxPool2d):
            return ops.max_pool2d_nchwc(x, p.kernel_size, p.stride, p.padding, p.dilation,
                                        p.ceil_mode)
        if isinstance(p, nn.AvgPool2d):
            return ops.avg_pool2d_nchwc(x, p.kernel_size, p.stride, p.padding, p.ceil_mode,
                                        p.count_include_pad, p.divisor_override)
        return ops.adaptive_avg_pool2d_nchwc(x, p.output_size)


def _blocked_pool(pool: nn.Module) -> bool:
    return (isinstance(pool, (nn.AvgPool2d, nn.AdaptiveAvgPool2d))
            or (isinstance(pool, nn.MaxPool2d) and not pool.return_indices))


# Functional pooling as the module that does the same, so it runs blocked too
# (torchvision's MobileNet and DenseNet call F.adaptive_avg_pool2d in forward).
_POOL_FUNCTIONS = {F.max_pool2d: nn.MaxPool2d, F.avg_pool2d: nn.AvgPool2d,
                   F.adaptive_avg_pool2d: nn.AdaptiveAvgPool2d}


def _pool_module_of(node: fx.Node) -> nn.Module | None:
    """The pooling module a functional pooling node amounts to, or None (a tensor-valued
    argument, return_indices, an argument the module does not take)."""
    if node.op != "call_function" or node.target not in _POOL_FUNCTIONS or not node.args:
        return None
    tensors: list[fx.Node] = []
    fx.map_arg((node.args[1:], node.kwargs), tensors.append)
    if tensors:
        return None
    try:
        pool = _POOL_FUNCTIONS[node.target](*node.args[1:], **node.kwargs)
    except TypeError:
        return None
    return pool if _blocked_pool(pool) else None


def _to_nchwc(x: torch.Tensor, block: int) -> torch.Tensor:
    return ops.to_nchwc(x, block)


def _from_nchwc(x: torch.Tensor, channels: int) -> torch.Tensor:
    return ops.from_nchwc(x, channels)


def _cat_blocks(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat(tensors, 1)


def _concat_buffer(like: torch.Tensor, blocks: int, height: int, width: int,
                   block: int) -> torch.Tensor:
    """The output of a concat whose convolutions write their slices in place (batch from
    ``like``, any tensor of the concat's batch)."""
    return ops.empty_output((like.shape[0], blocks, height, width, block))


def _write_blocks(buffer: torch.Tensor, offset: int, x: torch.Tensor) -> torch.Tensor:
    """A concat input no convolution wrote in place, copied into its slice."""
    buffer[:, offset:offset + x.shape[1]].copy_(x)
    return buffer


def _concat_done(buffer: torch.Tensor, *writes: torch.Tensor) -> torch.Tensor:
    """The concat's result, once every input is written: ``writes`` only orders the graph
    (and keeps the in-place writers alive for dead-code elimination)."""
    return buffer


class _Value:
    """A node of the new graph and the layout of the tensor it yields."""

    def __init__(self, node: fx.Node, blocked: bool, channels: int | None):
        self.node, self.blocked, self.channels = node, blocked, channels
        self.plain: fx.Node | None = None if blocked else node


def _shape(node: fx.Node):
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def _is_tensor(node: fx.Node) -> bool:
    shape = _shape(node)
    return shape is not None and len(shape) >= 1


def _is_image(node: Any) -> bool:
    shape = _shape(node) if isinstance(node, fx.Node) else None
    return shape is not None and len(shape) == 4


def _activation_of(node: fx.Node, modules: dict[str, nn.Module]) -> str | None:
    if node.op == "call_module":
        return _ACTIVATION_MODULES.get(type(modules[node.target]))
    if (node.op == "call_function" and node.target in _ACTIVATION_FUNCTIONS
            and len(node.args) == 1 and set(node.kwargs) <= {"inplace"}):
        # inplace=True (GoogLeNet's BasicConv2d) changes nothing once fused.
        return _ACTIVATION_FUNCTIONS[node.target]
    return None


def _conv_reason(conv: nn.Conv2d, x: fx.Node) -> str | None:
    if type(conv) is not nn.Conv2d:
        return f"{type(conv).__qualname__} is not a plain Conv2d"
    depthwise = conv.groups == conv.in_channels == conv.out_channels
    if conv.groups != 1 and not depthwise:
        return (f"grouped convolution (groups={conv.groups}, {conv.in_channels} -> "
                f"{conv.out_channels} channels) has no blocked kernel; depthwise with "
                f"multiplier 1 and dense ones do")
    if conv.padding_mode != "zeros":
        return f"padding_mode={conv.padding_mode!r}"
    if conv.weight.dtype != torch.float32 or conv.weight.device.type != "cpu":
        return "the blocked layout is float32 on the CPU"
    if not _is_image(x):
        return "input is not a 4-D image batch"
    return None


def _same_channels(a: fx.Node, b: fx.Node) -> bool:
    """Two 4-D images with the same channels whose shapes broadcast."""
    sa, sb = _shape(a), _shape(b)
    if sa is None or sb is None or len(sa) != 4 or len(sb) != 4 or sa[1] != sb[1]:
        return False
    try:
        torch.broadcast_shapes(sa, sb)
    except RuntimeError:
        return False
    return True


def _is_residual_add(user: fx.Node | None, conv: fx.Node) -> bool:
    """``user`` adds ``conv``'s output to another tensor of the same shape."""
    return (user is not None and user.op == "call_function" and user.target in _ADDS
            and len(user.args) == 2 and not user.kwargs
            and all(isinstance(a, fx.Node) for a in user.args)
            and user.args[0] is not user.args[1]
            and _shape(user.args[0]) == _shape(user.args[1]))


def _blocked_concat(node: fx.Node | None, block: int) -> bool:
    """``node`` is a channel concat of 4-D images whose inputs but the last fill whole
    blocks: concatenating their blocks is concatenating their channels."""
    if (node is None or node.op != "call_function" or node.target is not torch.cat
            or not node.args or not isinstance(node.args[0], (list, tuple))):
        return False
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
    shapes = [_shape(a) if isinstance(a, fx.Node) else None for a in node.args[0]]
    return (dim in (1, -3) and all(s is not None and len(s) == 4 for s in shapes)
            and all(s[1] % block == 0 for s in shapes[:-1]))


def convert_blocked(model: nn.Module, example_inputs: Sequence[Any], report, block: int | None = None,
                    winograd: str = "auto", fuse_depthwise: str = "auto",
                    fuse_pool: str = "auto") -> BlockedGraphModule:
    """The blocked-layout version of ``model`` (already a copy, BatchNorms folded); appends
    what it did to ``report`` (``converted``, ``skipped``, ``layout``, ``choices``).

    ``winograd``: for each 3x3, stride-1 convolution of a blocked input, ``"auto"`` times
    the Winograd F(4x4, 3x3) kernel against the direct one on the layer's shapes and keeps
    the faster (recorded in ``report.choices``; cached like every measured choice),
    ``"always"`` / ``"never"`` take or leave it without timing. ``fuse_depthwise``: the
    same three ways for each 1x1 -> depthwise pair (:func:`fuse_pointwise_depthwise`);
    ``fuse_pool`` for each direct convolution -> max pooling pair (:func:`fuse_conv_maxpool`;
    a convolution that chose Winograd is not fused)."""
    for name, value in (("winograd", winograd), ("fuse_depthwise", fuse_depthwise),
                        ("fuse_pool", fuse_pool)):
        if value not in ("auto", "always", "never"):
            raise ValueError(f"pybench.nn.convert: {name} must be 'auto', 'always' or "
                             f"'never', got {value!r}")
    block = ops.block_size() if block is None else block
    tracer = _Tracer()
    graph = tracer.trace(model)
    # Folded BatchNorms are nn.Identity now, and eval-mode Dropout is one: take them out of
    # the graph, so a convolution's activation is its direct user and fuses.
    for node in list(graph.nodes):
        if (node.op == "call_module" and len(node.args) == 1 and not node.kwargs
                and isinstance(node.args[0], fx.Node)):
            module = tracer.root.get_submodule(node.target)
            if isinstance(module, nn.Identity) or (isinstance(module, nn.Dropout)
                                                   and not module.training):
                node.replace_all_uses_with(node.args[0])
                graph.erase_node(node)
    gm = fx.GraphModule(tracer.root, graph)
    ShapeProp(gm).propagate(*example_inputs)
    modules = dict(gm.named_modules())
    new = fx.Graph()
    root = nn.Module()
    env: dict[fx.Node, _Value] = {}
    fused: set[fx.Node] = set()   # activation / add nodes folded into a convolution
    layout = report.layout

    def add_module(name: str, module: nn.Module) -> str:
        target = name.replace(".", "_")
        root.add_module(target, module)
        return target

    def plain(v: Any, why: str) -> Any:
        """``v`` as the new graph sees it, reordered to NCHW if it is blocked."""
        if isinstance(v, (list, tuple)):
            return type(v)(plain(u, why) for u in v)
        if isinstance(v, dict):
            return {k: plain(u, why) for k, u in v.items()}
        if not isinstance(v, fx.Node):
            return v
        val = env[v]
        if val.plain is None:
            val.plain = new.call_function(_from_nchwc, (val.node, val.channels))
            layout.append(f"from_nchwc after {v.name}: {why}")
        return val.plain

    def blocked(v: fx.Node, why: str) -> fx.Node:
        val = env[v]
        if not val.blocked:
            shape = _shape(v)
            node = new.call_function(_to_nchwc, (val.node, block))
            env[v] = _Value(node, True, shape[1])
            env[v].plain = val.node
            layout.append(f"to_nchwc after {v.name}: {why}")
        return env[v].node

    def only_user(node: fx.Node) -> fx.Node | None:
        return next(iter(node.users)) if len(node.users) == 1 else None

    chooser: Chooser | None = None  # times Linear layers against PyTorch's, Winograd

    def get_chooser() -> Chooser:
        nonlocal chooser
        if chooser is None:
            chooser = Chooser()
        return chooser

    deferred: dict[fx.Node, fx.Node] = {}  # residual add -> the convolution it will run
    # concat -> its buffer, each input's first block in it, and the inputs whose
    # convolutions wrote their slices in place
    concat_buffers: dict[fx.Node, tuple[fx.Node, list[int], set[fx.Node]]] = {}

    def emit_conv(node: fx.Node, module: nn.Conv2d, activation_node: fx.Node | None = None,
                  residual_add: fx.Node | None = None, other: fx.Node | None = None) -> None:
        """The blocked convolution of ``node`` with its fused activation, or its fused
        residual add (other operand ``other``) and the activation after that."""
        src = env[node.args[0]]
        depthwise = module.groups != 1
        blocked_input = src.blocked or module.in_channels >= block or depthwise
        x = (blocked(node.args[0], f"{node.target} reads the blocked layout")
             if blocked_input else src.node)
        activation, residual, last = "none", None, node
        if activation_node is not None:
            activation, last = _activation_of(activation_node, modules), activation_node
            fused.add(activation_node)
        if residual_add is not None:
            residual = blocked(other, f"residual of {node.target}")
            fused.add(residual_add)
            last = residual_add
            after = only_user(residual_add)
            if after is not None and _activation_of(after, modules):
                activation, last = _activation_of(after, modules), after
                fused.add(after)
        layer = (NchwcDepthwise(module, block, activation) if depthwise
                 else NchwcConv2d(module, block, blocked_input, activation))
        algorithm = ""
        if (not depthwise and blocked_input and winograd != "never"
                and ops.winograd_unsupported_reason(module.kernel_size, module.stride,
                                                    module.dilation, module.groups) is None):
            wino = NchwcConv2d(module, block, True, activation, algorithm="winograd")
            if winograd == "always":
                layer = wino
            else:
                # Winograd does a quarter of the direct FLOPs plus the tile transforms,
                # which cost most where the image is small and the channels few: time both.
                n, c, h, w = _shape(node.args[0])
                args = (torch.randn(n, -(-c // block), h, w, block),)
                if residual is not None:
                    oshape = _shape(node)
                    args += (torch.randn(n, -(-oshape[1] // block), oshape[2], oshape[3],
                                         block),)
                choice = get_chooser().choose(node.target, "conv3x3 winograd", layer, wino,
                                              args, names=("winograd", "direct"))
                report.choices.append(choice)
                if choice.chosen == "winograd":
                    layer = wino
            if layer is wino:
                algorithm = " (winograd)"
        n_, c_, h_, w_ = _shape(node.args[0])
        layer.example_shape = (n_, -(-c_ // block), h_, w_, block)  # for later timing
        target = add_module(node.target, layer)
        kwargs = {}
        cat = only_user(last)
        if not depthwise and _blocked_concat(cat, block) and list(cat.args[0]).count(last) == 1:
            # A concat branch: write the concat's slice, so the concat copies nothing.
            if cat not in concat_buffers:
                offsets = [0]
                for a in cat.args[0]:
                    offsets.append(offsets[-1] + -(-_shape(a)[1] // block))
                shape = _shape(cat)
                concat_buffers[cat] = (new.call_function(
                    _concat_buffer, (x, offsets[-1], shape[2], shape[3], block)), offsets, set())
            buffer, offsets, written = concat_buffers[cat]
            written.add(last)
            kwargs = {"out": buffer,
                      "out_block_offset": offsets[list(cat.args[0]).index(last)]}
        out = new.call_module(target, (x,) if residual is None else (x, residual), kwargs)
        value = _Value(out, True, module.out_channels)
        env[node] = value
        env[last] = value
        report.converted.append(Converted(
            node.target, ("nchwc depthwise" if depthwise else "nchwc conv2d") + algorithm
            + (" + residual" if residual is not None else "")
            + (f" + {activation}" if activation != "none" else "")))

    for node in graph.nodes:
        if node in fused:
            continue
        if node.op == "placeholder":
            out = new.placeholder(node.name)
            out.meta = dict(node.meta)
            env[node] = _Value(out, False, None)
            continue
        if node.op == "output":
            new.output(plain(node.args[0], "the model's output is NCHW"))
            continue
        if node.op == "get_attr":
            attr = gm
            for part in node.target.split("."):
                attr = getattr(attr, part)
            target = node.target.replace(".", "_")
            if isinstance(attr, torch.Tensor):
                root.register_buffer(target, attr)
            else:
                root.add_module(target, attr)
            env[node] = _Value(new.get_attr(target), False, None)
            continue
        module = modules.get(node.target) if node.op == "call_module" else None
        args = node.args
        if node in deferred:  # the residual add a convolution waited for (see below)
            conv_node = deferred.pop(node)
            other = node.args[1] if node.args[0] is conv_node else node.args[0]
            emit_conv(conv_node, modules[conv_node.target], residual_add=node, other=other)
            continue
        # A convolution, with the activation / residual add that follows it fused.
        if isinstance(module, nn.Conv2d) and len(args) == 1 and not node.kwargs:
            reason = _conv_reason(module, args[0])
            if reason is None:
                user = only_user(node)
                if user is not None and _activation_of(user, modules):
                    emit_conv(node, module, activation_node=user)
                elif _is_residual_add(user, node):
                    other = user.args[1] if user.args[0] is node else user.args[0]
                    if other in env:
                        emit_conv(node, module, residual_add=user, other=other)
                    elif user in deferred:
                        # Both operands are convolutions; the first one waits for this one.
                        emit_conv(node, module)
                    else:
                        # The skip branch comes later in the graph (ResNet's downsample runs
                        # after conv2): the convolution's only user is the add, so it can
                        # run there instead, with the residual fused.
                        deferred[user] = node
                else:
                    emit_conv(node, module)
                continue
            report.skipped.append(Skipped(node.target, reason))
        # An eval-mode BatchNorm left unfolded, on a blocked tensor.
        if (type(module) is nn.BatchNorm2d and not module.training and len(args) == 1
                and not node.kwargs and env[args[0]].blocked
                and module.running_mean is not None and module.running_var is not None):
            # Its activation (DenseNet's BN -> ReLU) runs in place on the fresh output.
            user = only_user(node)
            activation = _activation_of(user, modules) if user is not None else None
            target = add_module(node.target, NchwcBatchNorm(module, block, activation or "none"))
            value = _Value(new.call_module(target, (env[args[0]].node,)), True,
                           env[args[0]].channels)
            env[node] = value
            if activation is not None:
                fused.add(user)
                env[user] = value
            continue
        # Pooling on a blocked tensor, as a module or a function.
        pool = module if module is not None and _blocked_pool(module) else _pool_module_of(node)
        if (pool is not None and args and isinstance(args[0], fx.Node) and env[args[0]].blocked
                and (module is None or (len(args) == 1 and not node.kwargs))):
            target = add_module(node.target if module is not None else f"{node.name}_pool",
                                NchwcPool(pool))
            env[node] = _Value(new.call_module(target, (env[args[0]].node,)), True,
                               env[args[0]].channels)
            continue
        # Ops that run on blocked tensors unchanged.
        inputs = [a for a in node.all_input_nodes]
        all_blocked = inputs and all(env[a].blocked for a in inputs)
        keeps = ((module is not None and type(module) in _CHANNELWISE_MODULES
                  and len(args) == 1 and not node.kwargs)
                 or (node.op == "call_function" and node.target in _CHANNELWISE_FUNCTIONS
                     and len(inputs) == 1 and args and args[0] is inputs[0])
                 or (node.op == "call_function" and node.target in _BINARY and len(args) == 2
                     and len(inputs) == 2 and not node.kwargs and _same_channels(*args)))
        if all_blocked and keeps:
            new_args = fx.map_arg(node.args, lambda a: env[a].node)
            new_kwargs = fx.map_arg(node.kwargs, lambda a: env[a].node)
            if module is not None:
                target = add_module(node.target, module)
                out = new.call_module(target, new_args, new_kwargs)
            else:
                out = new.call_function(node.target, new_args, new_kwargs)
            env[node] = _Value(out, True, env[inputs[0]].channels)
            continue
        if node in concat_buffers:
            # Some convolutions wrote their slices of this concat in place; copy the rest.
            buffer, offsets, written = concat_buffers.pop(node)
            writes = []
            for a, offset in zip(args[0], offsets):
                if a in written:
                    writes.append(env[a].node)
                else:
                    x = blocked(a, f"an input of {node.name}, a blocked concat")
                    writes.append(new.call_function(_write_blocks, (buffer, offset, x)))
            out = new.call_function(_concat_done, (buffer, *writes))
            env[node] = _Value(out, True, _shape(node)[1])
            report.converted.append(Converted(node.name, f"nchwc concat, {len(written)} of "
                                              f"{len(args[0])} inputs written in place"))
            continue
        if all_blocked and _blocked_concat(node, block):
            out = new.call_function(_cat_blocks, ([env[a].node for a in args[0]],))
            env[node] = _Value(out, True, sum(env[a].channels for a in args[0]))
            continue
        # A Linear (the classifier) with its activation, on pybench's packed kernel where
        # that measures faster on this layer's input shape: at batch 1 MKL already streams
        # the weights at memory speed, at batch 8 it reaches a third of that.
        if (type(module) is nn.Linear and len(args) == 1 and not node.kwargs
                and isinstance(args[0], fx.Node) and _is_tensor(args[0])):
            reason = linear_unsupported_reason(module)
            if reason is None:
                user = only_user(node)
                activation = _activation_of(user, modules) if user is not None else None
                layer = Linear(module, activation or "none")
                reference = module if activation is None else nn.Sequential(
                    module, _ACTIVATION_REFERENCE[activation]())
                choice = get_chooser().choose(node.target, "linear", reference, layer,
                                        (torch.randn(_shape(args[0])),))
                report.choices.append(choice)
                if choice.chosen == "pybench":
                    x = plain(args[0], f"{node.target} (Linear) reads NCHW")
                    out = new.call_module(add_module(node.target, layer), (x,))
                    env[node] = _Value(out, False, None)
                    if activation is not None:
                        fused.add(user)
                        env[user] = env[node]
                    report.converted.append(Converted(
                        node.target, "linear" + (f" + {activation}" if activation else "")))
                    continue
                reason = (f"PyTorch's Linear measured faster on {choice.input} "
                          f"({choice.torch_s * 1e3:.3f} ms vs {choice.pybench_s * 1e3:.3f} ms)")
            report.skipped.append(Skipped(node.target, reason))
        # Anything else runs on NCHW.
        what = f"{type(module).__name__}" if module is not None else f"{getattr(node.target, '__name__', node.target)}"
        why = f"{node.name} ({what}) runs on NCHW"
        new_args = plain(node.args, why)
        new_kwargs = plain(node.kwargs, why)
        if node.op == "call_module":
            target = add_module(node.target, module)
            out = new.call_module(target, new_args, new_kwargs)
        elif node.op == "call_method":
            out = new.call_method(node.target, new_args, new_kwargs)
        else:
            out = new.call_function(node.target, new_args, new_kwargs)
        env[node] = _Value(out, False, None)
    if fuse_depthwise != "never":
        fuse_pointwise_depthwise(
            new, root, report,
            lambda *a: get_chooser().choose(*a, names=("fused", "separate")), fuse_depthwise)
    if fuse_pool != "never":
        fuse_conv_maxpool(
            new, root, report,
            lambda *a: get_chooser().choose(*a, names=("fused", "separate")), fuse_pool)
    if chooser is not None:
        chooser.save()
    result = BlockedGraphModule(root, new, class_name=type(model).__name__ + "Nchwc")
    result.eval()
    return result
