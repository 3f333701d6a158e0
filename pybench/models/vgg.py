"""VGG-11/16/19 (configurations A, D, E of Simonyan & Zisserman 2015), torchvision's, no BN."""
from __future__ import annotations

import functools

from torchvision import models as tvm

from pybench.models.base import ModelSpec

__all__ = ["SPECS"]


def _vgg(depth: int):
    return getattr(tvm, f"vgg{depth}")(weights=None)


SPECS = [ModelSpec(f"vgg{d}", "VGG", functools.partial(_vgg, d), (3, 224, 224), min_size=32,
                   source="torchvision") for d in (11, 16, 19)]
