"""pybench.models: the registry, every family's module / input / FLOP count, and conv.txt.

FLOP counts are checked against hand counts (LeNet-5, the tutorial models), torchvision's
published per-model operation counts (its weights' ``_ops`` metadata, in GMACs; reading it
downloads nothing) and the MobileNet-v1 paper's 569M mult-adds and 4.2M parameters.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision import models as tvm

from pybench import models, shapes
from pybench.models.mobilenet import DepthwiseSeparable

ROOT = Path(__file__).resolve().parents[1]

NAMES = ["lenet5", "alexnet", "vgg11", "vgg16", "vgg19", "nin", "googlenet", "resnet18",
         "resnet50", "densenet121", "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large",
         "cifar10_cnn", "mnist_mlp"]
FAMILIES = ["LeNet", "AlexNet", "VGG", "NiN", "GoogLeNet", "ResNet", "DenseNet", "MobileNet",
            "Tutorial"]
NUM_CLASSES = {"lenet5": 10, "cifar10_cnn": 10, "mnist_mlp": 10}


def test_registry_names_and_families():
    assert models.names() == NAMES
    assert models.families() == FAMILIES
    assert models.names("ResNet") == ["resnet18", "resnet50"]
    assert models.names("MobileNet") == ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large"]
    assert [s.name for s in models.specs("VGG")] == ["vgg11", "vgg16", "vgg19"]
    assert models.get("vgg16").family == "VGG"


def test_registry_errors_list_what_exists():
    with pytest.raises(KeyError, match="unknown model 'resnet19'.*resnet18"):
        models.get("resnet19")
    with pytest.raises(KeyError, match="unknown model family 'Transformer'.*ResNet"):
        models.specs("Transformer")
    with pytest.raises(ValueError, match="registered twice"):
        models.register(models.get("lenet5"))


@pytest.mark.parametrize("name", NAMES)
def test_family_builds_and_runs(name):
    spec = models.get(name)
    model = spec.build()
    assert not any(m.training for m in model.modules()), "build() must return eval mode"

    x = spec.example_input(1)
    assert x.shape == (1, *spec.input_shape) and x.dtype == torch.float32
    with torch.inference_mode():  # at min_size: the stride-32 nets are slow at 224x224
        y = model(spec.example_input(1, size=spec.min_size))
    assert y.shape == (1, NUM_CLASSES.get(name, 1000))
    assert torch.isfinite(y).all()
    assert y.std() > 0, "constant logits: the input or weights did not reach the output"


@pytest.mark.parametrize("name", ["lenet5", "resnet18", "mobilenet_v1"])
def test_build_is_seeded_and_leaves_the_global_rng_alone(name):
    spec = models.get(name)
    state = torch.get_rng_state()
    a, b, c = spec.build(seed=0), spec.build(seed=0), spec.build(seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    for (ka, va), (kb, vb), (_, vc) in zip(a.state_dict().items(), b.state_dict().items(),
                                           c.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    weights = [k for k, v in a.state_dict().items() if k.endswith("weight") and v.dim() > 1]
    assert weights and not torch.equal(a.state_dict()[weights[0]], c.state_dict()[weights[0]])


def test_example_input_is_seeded_normal_never_zero():
    spec = models.get("resnet18")
    x = spec.example_input(2, seed=3)
    assert x.shape == (2, 3, 224, 224)
    assert torch.equal(x, spec.example_input(2, seed=3))
    assert not torch.equal(x, spec.example_input(2, seed=4))
    assert (x != 0).all()
    assert abs(x.mean().item()) < 0.01 and abs(x.std().item() - 1) < 0.01
    assert spec.example_input().shape[0] == spec.default_batch
    assert spec.example_input(1, size=64).shape == (1, 3, 64, 64)
    assert spec.example_input(1, dtype=torch.float64).dtype == torch.float64


def test_input_size_limits():
    with pytest.raises(ValueError, match="fixed input"):
        models.get("lenet5").example_input(1, size=32)
    with pytest.raises(ValueError, match="at least 67x67"):
        models.get("nin").example_input(1, size=64)
    assert models.get("lenet5").example_input(1, size=28).shape == (1, 1, 28, 28)


@pytest.mark.parametrize("name", ["alexnet", "nin"])
def test_min_size_is_the_smallest_that_runs(name):
    spec = models.get(name)
    with torch.device("meta"):
        model = spec.factory().eval()
        assert model(torch.empty((1, 3, spec.min_size, spec.min_size))).shape == (1, 1000)
        with pytest.raises(RuntimeError):
            model(torch.empty((1, 3, spec.min_size - 1, spec.min_size - 1)))


# --- FLOPs --------------------------------------------------------------------------------

def test_lenet5_flops_by_hand():
    macs = (6 * 28 * 28 * 1 * 5 * 5        # conv1: 6 maps of 28x28 (pad 2), 1x5x5 taps
            + 16 * 10 * 10 * 6 * 5 * 5     # conv2: 16 maps of 10x10, 6x5x5 taps
            + 400 * 120 + 120 * 84 + 84 * 10)
    assert macs == 416_520
    spec = models.get("lenet5")
    assert spec.flops(1) == 2 * macs
    assert spec.flops(64) == 64 * 2 * macs
    assert spec.flops() == spec.default_batch * 2 * macs


def test_tutorial_flops_by_hand():
    assert models.get("mnist_mlp").flops(1) == 2 * (784 * 128 + 128 * 10)
    conv = 32 * 32 * 32 * 3 * 9 + 64 * 16 * 16 * 32 * 9 + 128 * 8 * 8 * 64 * 9
    assert models.get("cifar10_cnn").flops(1) == 2 * (conv + 2048 * 256 + 256 * 10)


@pytest.mark.parametrize("name, weights", [
    ("alexnet", tvm.AlexNet_Weights), ("vgg11", tvm.VGG11_Weights),
    ("vgg16", tvm.VGG16_Weights), ("vgg19", tvm.VGG19_Weights),
    ("googlenet", tvm.GoogLeNet_Weights), ("resnet18", tvm.ResNet18_Weights),
    ("resnet50", tvm.ResNet50_Weights), ("densenet121", tvm.DenseNet121_Weights),
    ("mobilenet_v2", tvm.MobileNet_V2_Weights),
    ("mobilenet_v3_large", tvm.MobileNet_V3_Large_Weights),
])
def test_torchvision_flops_match_published_macs(name, weights):
    gmacs = weights.IMAGENET1K_V1.meta["_ops"]  # rounded to 3 decimals
    assert models.get(name).flops(1) / 2e9 == pytest.approx(gmacs, abs=6e-4)


def test_mobilenet_v1_matches_the_paper():
    spec = models.get("mobilenet_v1")
    model = spec.build()
    blocks = [m for m in model.modules() if isinstance(m, DepthwiseSeparable)]
    assert len(blocks) == 13
    assert all(b.dw.groups == b.dw.in_channels == b.dw.out_channels for b in blocks)
    assert [b.pw.out_channels for b in blocks][-1] == 1024
    assert [b.dw.stride[0] for b in blocks].count(2) == 4
    # Howard et al. 2017, Table 8: 569 million mult-adds, 4.2 million parameters.
    assert spec.flops(1) / 2 == pytest.approx(569e6, rel=1e-3)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(4.2e6, rel=0.01)


def test_count_flops_counts_every_call():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(10, 10)

        def forward(self, x):
            return self.fc(self.fc(x))

    assert models.count_flops(Twice(), torch.randn(3, 10)) == 2 * 2 * 3 * 10 * 10
    conv = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=4)
    assert models.count_flops(conv, torch.randn(2, 8, 10, 10)) == 2 * (2 * 16 * 5 * 5) * 2 * 9


# --- conv.txt -----------------------------------------------------------------------------

def _generator():
    path = ROOT / "scripts" / "gen_conv_shapes.py"
    spec = importlib.util.spec_from_file_location("gen_conv_shapes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def conv_txt_lines():
    return [line.split("#")[0].strip() for line in
            (shapes.SHAPES_DIR / "conv.txt").read_text().splitlines()]


def test_conv_shapes_file_is_current():
    text = (shapes.SHAPES_DIR / "conv.txt").read_text()
    assert _generator().generate() == text, "run scripts/gen_conv_shapes.py"


def test_conv_shapes_file_contents():
    keys = ["C", "H", "W", "K", "R", "S", "SH", "SW", "PH", "PW", "DH", "DW", "G"]
    conv = shapes.load("conv")
    assert all(list(s.as_dict()) == keys for s in conv)
    per_model = {}
    for s in conv:
        per_model.setdefault(s.name.split(":")[0], []).append(s)
    assert list(per_model) == ["lenet5", "alexnet", "vgg16", "nin", "googlenet", "resnet18",
                               "resnet50", "densenet121", "mobilenet_v2"]
    for model, lines in per_model.items():
        geoms = [tuple(s.sizes) for s in lines]
        assert len(set(geoms)) == len(geoms), f"{model}: a geometry is listed twice"
    # ResNet-18: conv1, and per stage a 3x3 (x2 strided at the stage entry) and a 1x1
    # downsample -> 1 + 1 + 3 * 3 distinct geometries.
    assert len(per_model["resnet18"]) == 11
    # VGG-16's 13 convolutions repeat only within stages 3-5: 13 - 1 - 1 - 2 = 9.
    assert len(per_model["vgg16"]) == 9
    assert "resnet18:layer1.0.conv1 C=64 H=56 W=56 K=64 R=3 S=3 SH=1 SW=1 PH=1 PW=1 DH=1 DW=1 G=1" \
        in conv_txt_lines()
    dw = [s for s in per_model["mobilenet_v2"] if s["G"] > 1]
    assert dw and all(s["G"] == s["C"] == s["K"] for s in dw)


def test_conv_shapes_cover_every_layer():
    """Every Conv2d of every listed model has its geometry in the file (via the count)."""
    gen = _generator()
    counts = {}
    for line in (shapes.SHAPES_DIR / "conv.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name = line.split()[0].split(":")[0]
            shared = line.split("# x")
            n = int(shared[1].split(":")[0]) if len(shared) > 1 else 1
            counts[name] = counts.get(name, 0) + n
    for name in gen.MODELS:
        with torch.device("meta"):
            convs = sum(isinstance(m, nn.Conv2d) for m in models.get(name).factory().modules())
        assert counts[name] == convs, name
