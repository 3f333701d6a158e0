"""Depthwise-separable modules running :func:`pybench.ops.separable_conv2d`, and the
:func:`pybench.nn.convert` rule that puts them into torchvision's MobileNet-v2 (pybench's
own MobileNet-v1 block brings its rule along: ``pybench.models.mobilenet``).

- :class:`SeparableConv2d`: depthwise conv -> act -> 1x1 conv -> act as one fused op.
- :class:`InvertedResidual`: MobileNet-v2's block, expand 1x1 (+ ReLU6, pybench conv2d) ->
  fused depthwise (ReLU6) -> linear 1x1 projection, plus the residual.

Both are built from a block whose BatchNorms :func:`pybench.nn.fold_batchnorm` already
folded (eval mode): the rules below refuse a block that still has a BatchNorm, naming it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual as TorchInvertedResidual

from pybench import ops
from pybench.nn.conv import Conv2d, conv2d_unsupported_reason

__all__ = ["SeparableConv2d", "InvertedResidual", "separable_unsupported_reason",
           "activation_name", "v2_block_reason"]

_ACTIVATION_OF = {nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Identity: "none"}
_TORCH_ACT = {"none": lambda t: t, "relu": F.relu, "relu6": F.relu6}


def separable_unsupported_reason(dw: nn.Module, pw: nn.Module) -> str | None:
    """Why ``dw`` -> ``pw`` cannot be one pybench separable op, or None if it can."""
    for name, conv in (("depthwise", dw), ("pointwise", pw)):
        if type(conv) not in (nn.Conv2d, Conv2d):
            return f"the {name} layer is a {type(conv).__qualname__}, not a Conv2d"
        reason = conv2d_unsupported_reason(conv)
        if reason is not None:
            return f"{name}: {reason}"
    if dw.groups != dw.in_channels or dw.out_channels % dw.in_channels != 0:
        return (f"not depthwise: groups={dw.groups}, {dw.in_channels} -> {dw.out_channels} "
                "channels")
    if pw.kernel_size != (1, 1) or pw.stride != (1, 1) or pw.groups != 1 or \
            pw.dilation != (1, 1) or pw.padding not in ((0, 0), "valid"):
        return "the pointwise layer is not a plain 1x1, stride 1, unpadded, ungrouped conv"
    if pw.in_channels != dw.out_channels:
        return f"pointwise reads {pw.in_channels} channels, depthwise makes {dw.out_channels}"
    return None


class SeparableConv2d(nn.Module):
    """``act(pw(act(dw(x))))`` as one :func:`pybench.ops.separable_conv2d` call.

    ``pw_activation`` (default: ``activation``) is the one after the pointwise layer. The
    fused kernel runs for float32 CPU tensors (CUDA ones when built with CUDA) when no
    gradient is needed; otherwise ``forward`` runs the same sequence with PyTorch ops
    (:meth:`unsupported_reason` says why).
    """

    def __init__(self, dw: nn.Conv2d, pw: nn.Conv2d, activation: str = "none",
                 pw_activation: str | None = None):
        super().__init__()
        reason = separable_unsupported_reason(dw, pw)
        if reason is not None:
            raise ValueError(f"pybench.nn.SeparableConv2d: {reason}")
        pw_activation = activation if pw_activation is None else pw_activation
        for act in (activation, pw_activation):
            if act not in ops.ACTIVATIONS:
                raise ValueError(f"pybench.nn.SeparableConv2d: unknown activation {act!r}")
        # The parameters are shared with the layers, not copied.
        self.dw_weight, self.dw_bias = dw.weight, dw.bias
        self.pw_weight, self.pw_bias = pw.weight, pw.bias
        self.stride, self.padding, self.dilation = dw.stride, dw.padding, dw.dilation
        self.activation, self.pw_activation = activation, pw_activation
        self.in_channels, self.out_channels = dw.in_channels, pw.out_channels

    def _get_name(self) -> str:
        return "pybench.SeparableConv2d"

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size="
                f"{tuple(self.dw_weight.shape[2:])}, stride={self.stride}, "
                f"padding={self.padding}, activation={self.activation!r}, "
                f"pw_activation={self.pw_activation!r}")

    def unsupported_reason(self, input: torch.Tensor) -> str | None:
        tensors = [input, self.dw_weight, self.pw_weight] + [
            t for t in (self.dw_bias, self.pw_bias) if t is not None]
        if any(t.dtype != torch.float32 for t in tensors):
            return "a float32-only kernel, and an operand is not float32"
        if input.device.type == "cuda" and not ops.has_cuda_kernels():
            return "CUDA input, but pybench was built without CUDA kernels"
        if input.device.type not in ("cpu", "cuda"):
            return f"device {input.device.type!r}"
        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
            # The fused op's backward recomputes both convolutions in ATen: correct, not
            # faster than PyTorch's own, so training runs PyTorch's layers.
            return "autograd would record (the fused op's backward is not faster than PyTorch's)"
        return None

    def layer_flops(self, output: torch.Tensor) -> int:
        """FLOPs of the call that produced ``output``, counted as for the two convolutions
        it fuses (:func:`pybench.models.layer_flops`), so fused and eager models agree."""
        mid, taps = self.dw_weight.shape[0], self.dw_weight.shape[2] * self.dw_weight.shape[3]
        positions = output.numel() // self.out_channels
        return 2 * positions * mid * taps + 2 * output.numel() * mid

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.unsupported_reason(input) is None:
            return ops.separable_conv2d(input, self.dw_weight, self.pw_weight, self.dw_bias,
                                        self.pw_bias, self.stride, self.padding, self.dilation,
                                        self.activation, self.pw_activation)
        act, pw_act = _TORCH_ACT[self.activation], _TORCH_ACT[self.pw_activation]
        y = F.conv2d(input, self.dw_weight, self.dw_bias, self.stride, self.padding,
                     self.dilation, self.in_channels)
        return pw_act(F.conv2d(act(y), self.pw_weight, self.pw_bias))


class InvertedResidual(nn.Module):
    """MobileNet-v2's inverted residual with folded BatchNorms: an optional expand 1x1
    (:class:`pybench.nn.Conv2d`, then ReLU6), the fused depthwise (ReLU6) -> linear
    projection (:class:`SeparableConv2d`), and ``x +`` when the block has a residual."""

    def __init__(self, expand: nn.Conv2d | None, separable: SeparableConv2d,
                 use_res_connect: bool):
        super().__init__()
        self.expand = Conv2d.from_torch(expand) if type(expand) is nn.Conv2d else expand
        self.separable = separable
        self.use_res_connect = use_res_connect

    def _get_name(self) -> str:
        return "pybench.InvertedResidual"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x if self.expand is None else F.relu6(self.expand(x))
        y = self.separable(y)
        return x + y if self.use_res_connect else y


# --- convert() rules ----------------------------------------------------------------------

def activation_name(module: nn.Module) -> str | None:
    """The fused-activation name of an activation module, or None if it has none."""
    return _ACTIVATION_OF.get(type(module))


def _v2_parts(block: TorchInvertedResidual):
    """(expand CNA or None, dw CNA, project conv, project norm) of a torchvision block."""
    layers = list(block.conv)
    if len(layers) == 4:
        return layers[0], layers[1], layers[2], layers[3]
    if len(layers) == 3:
        return None, layers[0], layers[1], layers[2]
    return None


def v2_block_reason(block: TorchInvertedResidual) -> str | None:
    """Why a torchvision MobileNet-v2 inverted residual cannot be converted, or None."""
    parts = _v2_parts(block)
    if parts is None:
        return f"unexpected layout of {len(block.conv)} layers"
    expand, dw_cna, project, norm = parts
    for name, cna in (("expand", expand), ("depthwise", dw_cna)):
        if cna is None:
            continue
        if len(cna) != 3 or not isinstance(cna[1], nn.Identity):
            return (f"the {name} BatchNorm is not folded (eval mode folds it; a "
                    "training-mode block normalises with batch statistics)")
        if type(cna[2]) is not nn.ReLU6:
            return f"the {name} activation is {type(cna[2]).__qualname__}, not ReLU6"
    if not isinstance(norm, nn.Identity):
        return "the projection BatchNorm is not folded"
    if expand is not None:
        reason = conv2d_unsupported_reason(expand[0])
        if reason is not None:
            return f"expand: {reason}"
    return separable_unsupported_reason(dw_cna[0], project)


def v2_block_to_inverted_residual(block: TorchInvertedResidual) -> InvertedResidual:
    expand, dw_cna, project, _ = _v2_parts(block)
    separable = SeparableConv2d(dw_cna[0], project, "relu6", "none")
    module = InvertedResidual(None if expand is None else expand[0], separable,
                              block.use_res_connect)
    return module.train(block.training)
