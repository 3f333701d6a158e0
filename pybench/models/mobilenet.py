"""MobileNets: v1 written here (Howard et al. 2017; torchvision has none), v2 and v3-large
from torchvision.

MobileNet-v1 is a 3x3 stride-2 stem convolution and the paper's 13 depthwise-separable blocks
(Table 1), each a :class:`DepthwiseSeparable`: 3x3 depthwise convolution -> BN -> ReLU -> 1x1
pointwise convolution -> BN -> ReLU; then global average pooling and a 1000-way linear layer.
The blocks are their own type so :func:`pybench.nn.convert` can recognise and fuse them; their
conversion rule is defined here, beside them.
"""
from __future__ import annotations

from collections import OrderedDict

from torch import nn
from torchvision import models as tvm

from pybench.models.base import ModelSpec
from pybench.nn.convert import Rule, register_rule
from pybench.nn.separable import SeparableConv2d, activation_name, separable_unsupported_reason

__all__ = ["ConvBNReLU", "DepthwiseSeparable", "MobileNetV1", "SPECS", "v1_block_reason"]

# (output channels, stride) of the 13 depthwise-separable blocks at width 1.0.
_V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
              (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


class ConvBNReLU(nn.Sequential):
    """k x k convolution (no bias: the BN supplies it) -> BatchNorm2d -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1):
        super().__init__(OrderedDict([
            ("conv", nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                               padding=kernel_size // 2, bias=False)),
            ("bn", nn.BatchNorm2d(out_channels)),
            ("relu", nn.ReLU(inplace=True)),
        ]))


class DepthwiseSeparable(nn.Sequential):
    """MobileNet-v1 block: ``dw`` (3x3, groups = channels) -> ``dw_bn`` -> ``dw_relu`` ->
    ``pw`` (1x1) -> ``pw_bn`` -> ``pw_relu``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__(OrderedDict([
            ("dw", nn.Conv2d(in_channels, in_channels, 3, stride, padding=1,
                             groups=in_channels, bias=False)),
            ("dw_bn", nn.BatchNorm2d(in_channels)),
            ("dw_relu", nn.ReLU(inplace=True)),
            ("pw", nn.Conv2d(in_channels, out_channels, 1, bias=False)),
            ("pw_bn", nn.BatchNorm2d(out_channels)),
            ("pw_relu", nn.ReLU(inplace=True)),
        ]))


def v1_block_reason(block: DepthwiseSeparable) -> str | None:
    """Why a MobileNet-v1 block cannot be one fused separable op, or None."""
    for bn in ("dw_bn", "pw_bn"):
        if not isinstance(getattr(block, bn), nn.Identity):
            return (f"{bn} is not folded (BatchNorm is folded in eval mode only; a "
                    "training-mode block normalises with batch statistics)")
    if activation_name(block.dw_relu) is None or activation_name(block.pw_relu) is None:
        return "an activation other than ReLU / ReLU6"
    return separable_unsupported_reason(block.dw, block.pw)


def v1_block_to_separable(block: DepthwiseSeparable) -> SeparableConv2d:
    return SeparableConv2d(block.dw, block.pw, activation_name(block.dw_relu),
                           activation_name(block.pw_relu))


# The block's pybench.nn.convert rule lives with the block, so pybench.nn needs to know no
# model; a DepthwiseSeparable cannot exist before this module (and so its rule) is loaded.
register_rule(Rule("mobilenet_v1_block", DepthwiseSeparable, SeparableConv2d,
                   v1_block_to_separable, v1_block_reason, descend=True))


class MobileNetV1(nn.Module):
    """MobileNet-v1: ``features`` (stem + 13 :class:`DepthwiseSeparable` blocks), global
    average pooling, ``classifier``. ``width`` scales every channel count (the paper's alpha)."""

    def __init__(self, num_classes: int = 1000, width: float = 1.0, in_channels: int = 3):
        super().__init__()

        def ch(c: int) -> int:
            return max(8, int(c * width))

        layers = [ConvBNReLU(in_channels, ch(32), 3, stride=2)]
        c_in = ch(32)
        for c_out, stride in _V1_BLOCKS:
            layers.append(DepthwiseSeparable(c_in, ch(c_out), stride))
            c_in = ch(c_out)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # A depthwise weight is (C, 1, 3, 3): PyTorch's fan_out is then 9C, not the
                # 9 each output actually sums, and 13 blocks of std sqrt(2 / 9C) shrank the
                # features to 1e-17 -- the output was the classifier's bias alone, and any
                # conv kernel, right or wrong, matched eager on it. fan_in (9) keeps the
                # activations' scale, so validation sees the convolutions.
                mode = "fan_in" if m.groups == m.in_channels > 1 else "fan_out"
                nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")

    def forward(self, x):
        return self.classifier(self.flatten(self.avgpool(self.features(x))))


def _mobilenet_v2():
    return tvm.mobilenet_v2(weights=None)


def _mobilenet_v3_large():
    return tvm.mobilenet_v3_large(weights=None)


SPECS = [
    ModelSpec("mobilenet_v1", "MobileNet", MobileNetV1, (3, 224, 224), min_size=32),
    ModelSpec("mobilenet_v2", "MobileNet", _mobilenet_v2, (3, 224, 224), min_size=32,
              source="torchvision"),
    ModelSpec("mobilenet_v3_large", "MobileNet", _mobilenet_v3_large, (3, 224, 224),
              min_size=32, source="torchvision"),
]
