"""The one base class behind every model family, and the FLOP counter they share.

A :class:`ModelSpec` is what TorchBench's ``model_factory`` gives a benchmark: a way to build
the module (eval mode, seeded random weights, nothing downloaded), an example input, a FLOP
count and a default batch. Specs are frozen so a registry entry cannot drift between runs.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

__all__ = ["ModelSpec", "count_flops", "layer_flops", "preserve_signal"]


def preserve_signal(model: nn.Module, example: torch.Tensor, seed: int = 0) -> nn.Module:
    """Redraw ``model``'s weights so its output depends on its input, in place; returns it
    in eval mode.

    The factories' default inits do not keep a random network's activations at scale: with
    eval-mode BatchNorm at its initial statistics (mean 0, variance 1), torchvision's
    GoogLeNet shrinks them ~100x per inception block, and its output is the classifier's
    bias to 2e-5 of its norm; LeNet-5's and NiN's depend on the input to 3e-4. A relative
    error check of 1e-4 on such outputs passes whatever the convolutions compute. Here
    every convolution and linear weight is drawn as He et al.'s (variance 2 / fan-in), biases
    and BatchNorm affines as small normals, and each BatchNorm's running statistics are
    those of ``example`` (one training-mode pass, momentum None): every layer's output then
    has unit scale, as in a trained network.
    """
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        norms = []
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, std=(2.0 / m.weight[0].numel()) ** 0.5)
                if m.bias is not None:
                    nn.init.normal_(m.bias, std=0.1)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
                norms.append((m, m.momentum))
                m.reset_running_stats()
                m.momentum = None  # the cumulative average: exactly the example's statistics
                if m.affine:
                    nn.init.normal_(m.weight, 1.0, 0.1)
                    nn.init.normal_(m.bias, std=0.1)
        if norms:
            model.train()
            model(example)
            for m, momentum in norms:
                m.momentum = momentum
    return model.eval()


def layer_flops(module: nn.Module, output: torch.Tensor) -> int:
    """FLOPs of one ``nn.Conv2d`` or ``nn.Linear`` call that produced ``output`` -- or of a
    fused layer with a ``layer_flops(output)`` method (``pybench.nn.SeparableConv2d``) --
    0 otherwise.

    Counted as 2 x multiply-accumulates (one multiply plus one add per MAC), the convention
    of GFLOP/s figures in BLAS and oneDNN benchmarks: a convolution does
    ``out.numel() * (C / groups) * kH * kW`` MACs, a linear layer ``out.numel() * in_features``.
    Bias additions, normalisation, activations and pooling are not counted: they are O(output)
    against the O(output x reduction) of the layer itself. (torchvision's model cards list
    "GFLOPS" that are MACs: resnet18's 1.81 there is 3.63 GFLOP here.)
    """
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return 2 * output.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return 2 * output.numel() * module.in_features
    own = getattr(module, "layer_flops", None)  # fused layers, e.g. pybench.nn.SeparableConv2d
    return int(own(output)) if callable(own) else 0


def count_flops(model: nn.Module, *inputs: torch.Tensor) -> int:
    """FLOPs of one forward pass of ``model`` on ``inputs`` (see :func:`layer_flops`).

    Runs the model once under ``torch.no_grad`` with forward hooks on every ``nn.Conv2d``
    and ``nn.Linear`` (subclasses included) and every fused layer with a ``layer_flops``
    method (the blocked layers of a :func:`pybench.nn.convert`-ed model), so converted and
    eager models count the same, and a layer called twice counts twice. Inputs on the
    ``meta`` device give the count without doing the arithmetic.
    """
    total = 0

    def hook(module, args, output):
        nonlocal total
        total += layer_flops(module, output)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear)) or callable(getattr(m, "layer_flops", None))]
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return total


@dataclass(frozen=True)
class ModelSpec:
    """One benchmark model: how to build it and what to feed it.

    Attributes:
        name: registry key, e.g. ``"resnet18"``.
        family: the family label reports group by, e.g. ``"ResNet"``.
        factory: builds the module with freshly initialised weights (called under a
            seeded RNG by :meth:`build`; must not download anything).
        input_shape: one sample's shape, (C, H, W).
        default_batch: the batch :meth:`example_input` and :meth:`flops` use when given none.
        min_size: smallest square H = W the model is meant to take (it ends in adaptive
            pooling, so smaller inputs make faster tests and quick runs): the size at which
            its last stage still sees one whole pixel -- the total stride, 32, for most
            ImageNet nets, where padding would let some go lower. ``None`` when the input size
            is fixed (a flatten feeds a linear layer of fixed width).
        source: where the definition comes from, e.g. ``"torchvision"``.
    """

    name: str
    family: str
    factory: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    default_batch: int = 8
    min_size: int | None = None
    source: str = "pybench"

    def build(self, seed: int = 0, device: str | torch.device = "cpu") -> nn.Module:
        """The module in eval mode, its weights drawn from the factory's default init
        under ``torch.manual_seed(seed)`` (the global RNG is left as it was)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = self.factory()
        return model.to(device).eval()

    def sample_shape(self, size: int | None = None) -> tuple[int, ...]:
        """One sample's shape, with H = W = ``size`` when given (see :attr:`min_size`)."""
        if size is None or (len(self.input_shape) == 3 and self.input_shape[1:] == (size, size)):
            return self.input_shape
        if self.min_size is None:
            raise ValueError(f"model {self.name!r} takes a fixed input {self.input_shape}, "
                             f"not size {size}")
        if size < self.min_size:
            raise ValueError(f"model {self.name!r} needs inputs of at least "
                             f"{self.min_size}x{self.min_size}, got size {size}")
        return (self.input_shape[0], size, size)

    def example_input(self, batch: int | None = None, seed: int = 0, *,
                      size: int | None = None, device: str | torch.device = "cpu",
                      dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """A (batch, *input_shape) tensor from ``torch.randn`` with its own seeded generator.

        Normal draws, never zeros: zero (and denormal) inputs change how fast CPUs multiply.
        ``size`` replaces H and W (see :attr:`min_size`).
        """
        batch = self.default_batch if batch is None else batch
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn((batch, *self.sample_shape(size)), generator=gen, dtype=dtype)
        return x.to(device)

    def flops(self, batch: int | None = None, *, size: int | None = None) -> int:
        """FLOPs of one forward pass at ``batch`` (2 x MACs of the conv and linear layers,
        see :func:`layer_flops`), counted on the meta device: nothing is computed."""
        batch = self.default_batch if batch is None else batch
        return batch * _flops_per_sample(self, self.sample_shape(size))


@functools.lru_cache(maxsize=None)
def _flops_per_sample(spec: ModelSpec, shape: tuple[int, ...]) -> int:
    # Every counted layer is linear in the batch, so one sample suffices.
    with torch.device("meta"):
        model = spec.factory().eval()
        return count_flops(model, torch.empty((1, *shape)))
