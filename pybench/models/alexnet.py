"""AlexNet, torchvision's single-GPU variant (Krizhevsky 2014, "One weird trick")."""
from __future__ import annotations

from torchvision import models as tvm

from pybench.models.base import ModelSpec

__all__ = ["SPECS"]


def _alexnet():
    return tvm.alexnet(weights=None)


SPECS = [ModelSpec("alexnet", "AlexNet", _alexnet, (3, 224, 224), min_size=63,
                   source="torchvision")]
