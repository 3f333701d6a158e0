"""Training suite: one optimisation step of the tutorial workloads, pybench vs eager PyTorch
vs ``torch.compile`` (issue 19).

Cases (smallest first, so ``--quick`` runs the first three):

- ``mnist_mlp``: the MNIST MLP, batch 64, SGD (momentum 0.9), cross-entropy;
- ``cifar10_cnn``: the CIFAR-10 CNN, batch 64, SGD;
- ``sentiment_lstm``: the sentiment classifier, ``nn.LSTM(300, 40)`` over 70 (pre-embedded)
  tokens at batch 128, its last hidden state into ``nn.Linear(40, 2)``, Adam;
- ``style_vgg19``: neural style transfer's step: VGG-19's features (random weights, frozen)
  of a 256 x 256 image, style losses (MSE of normalised Gram matrices after relu1_1, 2_1,
  3_1, 4_1, 5_1) and a content loss (after relu4_2), the image optimised by L-BFGS (one
  step, one closure evaluation);
- ``resnet18``: ResNet-18 at batch 32, 224 x 224, SGD.

A step is zero_grad, forward, loss, backward and the optimizer's update; the timed call
returns the loss. Implementations:

- ``torch``: eager PyTorch, the model and loss as written (the baseline);
- ``pybench``: the model from :func:`pybench.nn.convert` in training mode (no BatchNorm
  folded; convolutions run pybench's forward kernel and ATen's backward; the LSTM layer
  runs pybench's training forward, which keeps its gates, and the fused backward through
  time, see :mod:`pybench.ops.lstm_ops`), and the style losses' Gram matrices on
  :func:`pybench.ops.gram` (forward and backward kernels);
- ``compile``: ``torch.compile`` of the model (its forward and, through AOTAutograd, its
  backward); the first, validated call includes the compilation.

Validation, on the first step (the harness's validation call): the loss, and the gradient
of every parameter (style: of the image), each against the float64 eager step from the
same initial state and data; the error is the largest relative Frobenius error of them,
held to 1e-4 (float32 through tens of layers, as the cnn suite), 1e-2 for the deep ReLU
networks (see KINKED_TOLERANCE). FLOPs per step are
counted as 3x the forward's convolution and linear FLOPs (the forward and the two
products of each layer's backward), the LSTM's as 3x its gate products; credited to every
implementation alike.
"""
from __future__ import annotations

import copy
import functools
import zlib
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from pybench.harness import BenchmarkSpec
from pybench.shapes import Shape
from pybench.suites import Suite, register

TOLERANCE = 1e-4
#: Deep ReLU networks: where a float32 pre-activation rounds across zero, the ReLU's mask
#: differs from float64's and the gradient jumps. Measured on style_vgg19 at 64 x 64: eager
#: PyTorch's image gradient 2.1e-3 off float64 (pybench's 1.6e-5); with the ReLUs replaced
#: by Softplus both 2.6e-7. A wrong kernel is off by O(1).
KINKED_TOLERANCE = 1e-2
CASE_TOLERANCE = {"style_vgg19": KINKED_TOLERANCE, "resnet18": KINKED_TOLERANCE}
IMPLEMENTATIONS = ("torch", "pybench", "compile")

CASES = [
    Shape("mnist_mlp", (("N", 64),)),
    Shape("cifar10_cnn", (("N", 64),)),
    Shape("sentiment_lstm", (("N", 128), ("T", 70), ("I", 300), ("H", 40))),
    Shape("style_vgg19", (("N", 1), ("HW", 256))),
    Shape("resnet18", (("N", 32), ("HW", 224))),
]


class SentimentLSTM(nn.Module):
    """The sentiment classifier: nn.LSTM(I, H) over (T, N, I) embeddings, the last hidden
    state into a 2-way linear layer."""

    def __init__(self, input_size: int = 300, hidden_size: int = 40):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size)
        self.fc = nn.Linear(hidden_size, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(x)
        return self.fc(h[-1])


# VGG-19 feature indices (torchvision's vgg19().features) after the ReLUs the style
# tutorial reads: relu1_1, relu2_1, relu3_1, relu4_1, relu5_1; content relu4_2.
STYLE_LAYERS = (1, 6, 11, 20, 29)
CONTENT_LAYER = 22
STYLE_WEIGHT = 1e6


class StyleFeatures(nn.Module):
    """VGG-19's features up to relu5_1, returning the activations the losses read."""

    def __init__(self, features: nn.Sequential):
        super().__init__()
        self.features = features[:STYLE_LAYERS[-1] + 1]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        wanted = set(STYLE_LAYERS) | {CONTENT_LAYER}
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in wanted:
                out.append(x)
        return out


def _gram_torch(f: torch.Tensor) -> torch.Tensor:
    m = f.flatten(2)
    return m @ m.transpose(1, 2) / (m.shape[1] * m.shape[2])


def _gram_pybench(f: torch.Tensor) -> torch.Tensor:
    from pybench import ops
    return ops.gram(f, normalize=True)


def _style_loss(feats: list[torch.Tensor], targets, gram: Callable) -> torch.Tensor:
    layers = sorted(set(STYLE_LAYERS) | {CONTENT_LAYER})
    by_layer = dict(zip(layers, feats))
    style_grams, content = targets
    loss = F.mse_loss(by_layer[CONTENT_LAYER], content)
    for i, target in zip(STYLE_LAYERS, style_grams):
        loss = loss + STYLE_WEIGHT * F.mse_loss(gram(by_layer[i]), target)
    return loss


def _generator(label: str, salt: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(zlib.crc32(label.encode()) + salt)


class _Workload:
    """One case: the model (fresh weights from its seed), data, loss and optimizer, built
    per implementation from the same seed; and the float64 reference of the first step."""

    def __init__(self, shape: Shape, device: str):
        self.shape, self.name, self.device = shape, shape.name, device
        self.label = shape.label

    # -- the pieces -------------------------------------------------------------------------
    def model(self) -> nn.Module:
        from pybench import models
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(zlib.crc32(self.label.encode()))
            if self.name == "sentiment_lstm":
                return SentimentLSTM(self.shape["I"], self.shape["H"]).train()
            if self.name == "style_vgg19":
                import torchvision
                return StyleFeatures(torchvision.models.vgg19(weights=None).features).eval()
            return models.get(self.name).build().train()

    @functools.cached_property
    def data(self) -> tuple[torch.Tensor, torch.Tensor]:
        g = _generator(self.label, 1)
        n = self.shape["N"]
        if self.name == "sentiment_lstm":
            x = torch.randn(self.shape["T"], n, self.shape["I"], generator=g)
            return x, torch.randint(0, 2, (n,), generator=g)
        if self.name == "style_vgg19":
            # (content, style): a noise image, and stripes of one colour per channel -- a
            # style whose Gram matrices differ from the content's by O(1). Two noise images
            # have near-equal Gram matrices, and the style loss's differences of them then
            # cancel to 1e-3 of float32's rounding.
            hw = self.shape["HW"]
            content = torch.rand(n, 3, hw, hw, generator=g)
            y, x = torch.meshgrid(torch.arange(hw), torch.arange(hw), indexing="ij")
            phase = torch.tensor([0.0, 2.1, 4.2]).view(1, 3, 1, 1)
            style = 0.5 + 0.5 * torch.sin(0.3 * (x + 0.5 * y) + phase).expand(n, 3, hw, hw)
            return content, style.contiguous()
        from pybench import models
        spec = models.get(self.name)
        size = self.shape.get("HW")
        x = spec.example_input(n, seed=zlib.crc32(self.label.encode()) % 2**31,
                               size=size if spec.min_size else None)
        classes = 1000 if self.name == "resnet18" else 10
        return x, torch.randint(0, classes, (n,), generator=g)

    def style_targets(self, model: nn.Module, gram: Callable, dtype=torch.float32):
        """The style image's Gram matrices and the content image's relu4_2, fixed."""
        content, style = (t.to(self.device, dtype) for t in self.data)
        with torch.no_grad():
            layers = sorted(set(STYLE_LAYERS) | {CONTENT_LAYER})
            s = dict(zip(layers, model(style)))
            c = dict(zip(layers, model(content)))
            return [gram(s[i]) for i in STYLE_LAYERS], c[CONTENT_LAYER]

    def flops(self) -> int:
        from pybench.models import count_flops
        n = self.shape["N"]
        if self.name == "sentiment_lstm":
            t, i, h = self.shape["T"], self.shape["I"], self.shape["H"]
            return 3 * (2 * n * t * 4 * h * (i + h) + 2 * n * h * 2)
        model = self.model()
        x = self.data[0]
        meta = torch.empty(x.shape, device="meta")
        return 3 * count_flops(model.to("meta"), meta)

    # -- one step ---------------------------------------------------------------------------
    def make_step(self, impl: str, dtype=torch.float32):
        """(step, model, params): ``step()`` runs one optimisation step and returns the loss;
        ``params`` are (name, tensor) pairs whose gradients validation compares."""
        model = self.model().to(self.device, dtype)
        if self.name == "style_vgg19":
            for p in model.parameters():
                p.requires_grad_(False)
        gram = _gram_torch
        if impl == "pybench":
            import pybench.nn as pnn
            model = pnn.convert(model)
            gram = _gram_pybench
        run = torch.compile(model) if impl == "compile" else model
        x, y = (t.to(self.device) for t in self.data)
        x = x.to(dtype) if x.is_floating_point() else x
        if self.name == "style_vgg19":
            targets = self.style_targets(model, gram if dtype == torch.float32 else _gram_torch,
                                         dtype)
            image = x.clone().requires_grad_(True)  # start from the content image
            opt = torch.optim.LBFGS([image], lr=1.0, max_iter=1)

            def closure():
                opt.zero_grad()
                loss = _style_loss(run(image), targets, gram)
                loss.backward()
                return loss

            def step():
                return opt.step(closure).detach()

            return step, [("image", image)]
        params = list(model.named_parameters())
        if self.name == "sentiment_lstm":
            opt = torch.optim.Adam([p for _, p in params], lr=1e-3)
        else:
            opt = torch.optim.SGD([p for _, p in params], lr=0.01, momentum=0.9)

        def step():
            opt.zero_grad()
            loss = F.cross_entropy(run(x), y)
            loss.backward()
            opt.step()
            return loss.detach()

        return step, params

    @functools.cached_property
    def reference(self) -> tuple[float, dict[str, torch.Tensor]]:
        """The first step's loss and gradients in float64 (eager, on the CPU)."""
        device, self.device = self.device, "cpu"
        try:
            step, params = self.make_step("torch", torch.float64)
            loss = float(step())
            return loss, {name: p.grad.detach().clone() for name, p in params}
        finally:
            self.device = device

    def checker(self, params) -> Callable[[Any], float]:
        def check(loss) -> float:
            ref_loss, ref_grads = self.reference
            errors = [abs(float(loss) - ref_loss) / max(abs(ref_loss), 1e-30)]
            for name, p in params:
                want = ref_grads[name.replace("_orig_mod.", "")]
                if p.grad is None:
                    raise ValueError(f"no gradient for {name}")
                diff = (p.grad.double().cpu() - want).norm()
                errors.append((diff / want.norm().clamp_min(1e-300)).item())
            return max(errors)
        return check


class TrainSuite(Suite):
    name = "train"
    description = ("one training step of the tutorial workloads (MNIST MLP, CIFAR-10 CNN, "
                   "sentiment LSTM, style transfer, ResNet-18): pybench vs eager vs compile")
    implementations = IMPLEMENTATIONS

    def cases(self) -> list[Shape]:
        return list(CASES)

    def specs(self, case: Shape, *, device: str, threads: int) -> list[BenchmarkSpec]:
        work = _Workload(case, device)
        flops = work.flops()
        images = 0 if case.name in ("sentiment_lstm",) else case["N"]
        return [BenchmarkSpec(suite=self.name, case=case.label, implementation=impl,
                              device=device, threads=threads, flops=flops, bytes=0,
                              setup=functools.partial(self._setup, work, impl),
                              tolerance=CASE_TOLERANCE.get(case.name, TOLERANCE),
                              params=case.as_dict(), images=images)
                for impl in self.implementations]

    @staticmethod
    def _setup(work: _Workload, impl: str):
        step, params = work.make_step(impl)
        return step, work.checker(params)


register(TrainSuite())
