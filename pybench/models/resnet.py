"""ResNet-18 (basic blocks) and ResNet-50 (bottlenecks), torchvision's (He et al. 2016)."""
from __future__ import annotations

from torchvision import models as tvm

from pybench.models.base import ModelSpec

__all__ = ["SPECS"]


def _resnet18():
    return tvm.resnet18(weights=None)


def _resnet50():
    return tvm.resnet50(weights=None)


SPECS = [
    ModelSpec("resnet18", "ResNet", _resnet18, (3, 224, 224), min_size=32, source="torchvision"),
    ModelSpec("resnet50", "ResNet", _resnet50, (3, 224, 224), min_size=32, source="torchvision"),
]
