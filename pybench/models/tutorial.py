"""The seed tutorial's two small models: its CIFAR-10 CNN and its MNIST MLP."""
from __future__ import annotations

from collections import OrderedDict

from torch import nn

from pybench.models.base import ModelSpec

__all__ = ["cifar10_cnn", "mnist_mlp", "SPECS"]


def cifar10_cnn(num_classes: int = 10) -> nn.Sequential:
    """Three stages of 3x3 convolution (pad 1) + ReLU + 2x2 max pooling, 3->32->64->128
    channels on 3x32x32, then linear 128*4*4 -> 256 -> ReLU -> ``num_classes``."""
    layers: list[tuple[str, nn.Module]] = []
    c_in = 3
    for i, c_out in enumerate((32, 64, 128), start=1):
        layers += [(f"conv{i}", nn.Conv2d(c_in, c_out, 3, padding=1)),
                   (f"relu{i}", nn.ReLU()),
                   (f"pool{i}", nn.MaxPool2d(2))]
        c_in = c_out
    layers += [("flatten", nn.Flatten()),
               ("fc1", nn.Linear(128 * 4 * 4, 256)),
               ("relu4", nn.ReLU()),
               ("fc2", nn.Linear(256, num_classes))]
    return nn.Sequential(OrderedDict(layers))


def mnist_mlp(num_classes: int = 10) -> nn.Sequential:
    """Flattened 28x28 image -> linear 784 -> 128 -> sigmoid -> linear ``num_classes``."""
    return nn.Sequential(OrderedDict([
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(28 * 28, 128)),
        ("act1", nn.Sigmoid()),
        ("fc2", nn.Linear(128, num_classes)),
    ]))


# Batch 64: the tutorial's training batch, and these models are too small for batch 1 to
# measure anything but call overhead.
SPECS = [
    ModelSpec("cifar10_cnn", "Tutorial", cifar10_cnn, (3, 32, 32), default_batch=64),
    ModelSpec("mnist_mlp", "Tutorial", mnist_mlp, (1, 28, 28), default_batch=64),
]
