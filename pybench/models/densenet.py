"""DenseNet-121 (Huang et al. 2017), torchvision's."""
from __future__ import annotations

from torchvision import models as tvm

from pybench.models.base import ModelSpec

__all__ = ["SPECS"]


def _densenet121():
    return tvm.densenet121(weights=None)


SPECS = [ModelSpec("densenet121", "DenseNet", _densenet121, (3, 224, 224), min_size=32,
                   source="torchvision")]
