"""LeNet-5 as in the d2l notes ("Dive into Deep Learning", sec. 7.6): sigmoid activations and
average pooling, on 1x28x28 Fashion-MNIST-sized images (the first convolution pads by 2 so the
28x28 input plays the 32x32 of LeCun et al. 1998)."""
from __future__ import annotations

from collections import OrderedDict

from torch import nn

from pybench.models.base import ModelSpec

__all__ = ["lenet5", "SPECS"]


def lenet5(num_classes: int = 10) -> nn.Sequential:
    """LeNet-5: conv 6@5x5 pad 2, sigmoid, avgpool 2; conv 16@5x5, sigmoid, avgpool 2;
    linear 400-120-84-``num_classes`` with sigmoids between."""
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 6, kernel_size=5, padding=2)),
        ("act1", nn.Sigmoid()),
        ("pool1", nn.AvgPool2d(kernel_size=2, stride=2)),
        ("conv2", nn.Conv2d(6, 16, kernel_size=5)),
        ("act2", nn.Sigmoid()),
        ("pool2", nn.AvgPool2d(kernel_size=2, stride=2)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(16 * 5 * 5, 120)),
        ("act3", nn.Sigmoid()),
        ("fc2", nn.Linear(120, 84)),
        ("act4", nn.Sigmoid()),
        ("fc3", nn.Linear(84, num_classes)),
    ]))


# Tiny models: a batch of 64 is the d2l training batch and keeps per-call overhead from
# dominating the measurement.
SPECS = [ModelSpec("lenet5", "LeNet", lenet5, (1, 28, 28), default_batch=64, source="d2l")]
