"""Network in Network (Lin et al. 2014) as in the d2l notes (sec. 8.3), at 3x224x224 with 1000
classes: four NiN blocks (a k x k convolution then two 1x1 convolutions, each with ReLU), max
pooling between, and global average pooling over the last block's one map per class instead
of fully connected layers."""
from __future__ import annotations

from collections import OrderedDict

from torch import nn

from pybench.models.base import ModelSpec

__all__ = ["nin", "nin_block", "SPECS"]


def nin_block(in_channels: int, out_channels: int, kernel_size: int, stride: int,
              padding: int) -> nn.Sequential:
    """A k x k convolution and two 1x1 convolutions (the per-pixel MLP), each + ReLU."""
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding)),
        ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(out_channels, out_channels, kernel_size=1)),
        ("relu2", nn.ReLU()),
        ("conv3", nn.Conv2d(out_channels, out_channels, kernel_size=1)),
        ("relu3", nn.ReLU()),
    ]))


def nin(in_channels: int = 3, num_classes: int = 1000) -> nn.Sequential:
    """d2l's NiN with ``in_channels`` input maps and ``num_classes`` outputs."""
    return nn.Sequential(OrderedDict([
        ("block1", nin_block(in_channels, 96, kernel_size=11, stride=4, padding=0)),
        ("pool1", nn.MaxPool2d(3, stride=2)),
        ("block2", nin_block(96, 256, kernel_size=5, stride=1, padding=2)),
        ("pool2", nn.MaxPool2d(3, stride=2)),
        ("block3", nin_block(256, 384, kernel_size=3, stride=1, padding=1)),
        ("pool3", nn.MaxPool2d(3, stride=2)),
        ("dropout", nn.Dropout(0.5)),
        ("block4", nin_block(384, num_classes, kernel_size=3, stride=1, padding=1)),
        ("gap", nn.AdaptiveAvgPool2d((1, 1))),
        ("flatten", nn.Flatten()),
    ]))


SPECS = [ModelSpec("nin", "NiN", nin, (3, 224, 224), min_size=67, source="d2l")]
