"""GoogLeNet (Inception v1, Szegedy et al. 2015), torchvision's, for inference: no auxiliary
classifiers, and ``init_weights=False`` (PyTorch's default init instead of torchvision's
truncated normal, which is slow to draw and irrelevant to speed)."""
from __future__ import annotations

from torchvision import models as tvm

from pybench.models.base import ModelSpec

__all__ = ["SPECS"]


def _googlenet():
    return tvm.googlenet(weights=None, aux_logits=False, init_weights=False)


SPECS = [ModelSpec("googlenet", "GoogLeNet", _googlenet, (3, 224, 224), min_size=32,
                   source="torchvision")]
