"""The CNN model families of the ``cnn`` suite, by name.

>>> from pybench import models
>>> spec = models.get("resnet18")
>>> net = spec.build()                       # eval mode, seeded random weights
>>> y = net(spec.example_input(batch=1))     # (1, 1000)
>>> spec.flops(batch=1)                      # 2 x MACs of the conv and linear layers

Every family lives in its own module and contributes a ``SPECS`` list of
:class:`~pybench.models.base.ModelSpec`; nothing is ever downloaded (``weights=None``).
"""
from __future__ import annotations

from pybench.models.base import ModelSpec, count_flops, layer_flops, preserve_signal
from pybench.registry import Registry

__all__ = ["ModelSpec", "count_flops", "layer_flops", "preserve_signal", "register", "get", "names", "families",
           "specs"]

_MODELS: Registry[ModelSpec] = Registry("model")


def register(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry; a name may be registered once."""
    return _MODELS.register(spec.name, spec)


def get(name: str) -> ModelSpec:
    """The spec registered as ``name``; KeyError listing the names otherwise."""
    return _MODELS.get(name)


def names(family: str | None = None) -> list[str]:
    """Model names in registration order (roughly chronological), optionally of one family."""
    return [s.name for s in specs(family)]


def families() -> list[str]:
    """Family labels in registration order, each once: ``["LeNet", "AlexNet", ...]``."""
    return list(dict.fromkeys(s.family for s in _MODELS.values()))


def specs(family: str | None = None) -> list[ModelSpec]:
    """The registered specs, optionally only those of ``family``."""
    if family is not None and family not in families():
        raise KeyError(f"unknown model family {family!r}; available: {', '.join(families())}")
    return [s for s in _MODELS.values() if family is None or s.family == family]


# Registration order is the order of listings and reports.
from pybench.models import (alexnet, densenet, googlenet, lenet, mobilenet, nin,  # noqa: E402
                            resnet, tutorial, vgg)

for _module in (lenet, alexnet, vgg, nin, googlenet, resnet, densenet, mobilenet, tutorial):
    for _spec in _module.SPECS:
        register(_spec)
del _module, _spec
