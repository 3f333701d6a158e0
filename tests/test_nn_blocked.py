"""pybench.nn.convert(..., layout="nchwc"): every model family converted to the blocked layout
matches eager PyTorch (<= 1e-4 relative, convert's own check, repeated here on a second
input), under every CPU ISA (block 16 on AVX-512, 8 on AVX2 and scalar); the rewrite fuses
what it should and reorders only where it must, and says where in the report."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import pybench.models as models
import pybench.nn as pnn
import pybench.ops as ops
from pybench.nn.blocked import NchwcBatchNorm, NchwcConv2d, NchwcDepthwise, NchwcPool

# Every family at a small input (the scalar ISA runs the double-accumulating reference).
MODELS = [("lenet5", None), ("alexnet", 63), ("vgg11", 32), ("nin", 67), ("googlenet", 32),
          ("resnet18", 32), ("resnet50", 32), ("densenet121", 32), ("mobilenet_v1", 32),
          ("mobilenet_v2", 32), ("mobilenet_v3_large", 32), ("cifar10_cnn", None),
          ("mnist_mlp", None)]


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


@pytest.mark.parametrize("name, size", MODELS, ids=[m for m, _ in MODELS])
def test_family_matches_eager(cpu_isa, name, size):
    if cpu_isa == "scalar" and name in ("resnet50", "densenet121", "nin"):
        pytest.skip("the scalar reference kernels take minutes on this model; the smaller "
                    "models cover the scalar path")
    spec = models.get(name)
    model = spec.build()
    x = spec.example_input(2, size=size)
    converted = pnn.convert(model, example_inputs=(x,), layout="nchwc")
    report = converted.pybench_report
    assert report.verified_error is not None and report.verified_error <= 1e-4
    with torch.no_grad():
        y = spec.example_input(1, seed=1, size=size)
        assert _relative_error(converted(y), model(y)) <= 1e-4
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if convs:
        blocked = [m for m in converted.modules() if isinstance(m, (NchwcConv2d, NchwcDepthwise))]
        assert blocked, f"no convolution of {name} runs in the blocked layout: {report}"
        # Every family stays blocked from its first conv to its classifier: one reorder
        # (DenseNet's unfolded BatchNorms, MobileNet-v3's squeeze-excitation and GoogLeNet's
        # concats included).
        assert len(report.layout) == 1 and report.layout[0].startswith("from_nchwc"), \
            report.layout


def _resnet_block_report():
    spec = models.get("resnet18")
    model = spec.build()
    converted = pnn.convert(model, example_inputs=(spec.example_input(1, size=32),),
                            layout="nchwc")
    return model, converted


def test_resnet_fuses_bn_residual_and_relu():
    model, converted = _resnet_block_report()
    report = converted.pybench_report
    rules = {c.path: c.rule for c in report.converted}
    # conv1 -> bn1 -> relu; conv2 -> bn2 -> (+ identity) -> relu, in one kernel each
    assert rules["layer1.0.conv1"] == "nchwc conv2d + relu"
    assert rules["layer1.0.conv2"] == "nchwc conv2d + residual + relu"
    assert rules["layer2.0.conv2"] == "nchwc conv2d + residual + relu"
    assert len(report.folded) == sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    # The stem reads NCHW; the only reorder is before the classifier's flatten.
    assert rules["conv1"] == "nchwc conv2d + relu"
    reorders = [e for e in report.layout if e.startswith(("to_nchwc", "from_nchwc"))]
    assert len(reorders) == 1 and reorders[0].startswith("from_nchwc"), report.layout
    assert any(isinstance(m, NchwcPool) for m in converted.modules())


class _LeavesAndReenters(nn.Module):
    """A blocked conv, then an op pybench has no blocked form of (a channel-wise gate from
    global pooling, as in squeeze-excitation), then blocked convolutions again."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 24, 3, padding=1)
        self.conv2 = nn.Conv2d(24, 20, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(20)
        self.conv3 = nn.Conv2d(20, 20, 1)

    def forward(self, x):
        y = torch.relu(self.conv1(x))
        y = y * torch.sigmoid(y.mean((2, 3), keepdim=True))   # leaves the blocked layout
        z = self.bn2(self.conv2(y))
        return torch.relu(self.conv3(z) + z)                  # re-enters; residual fused


def test_googlenet_fuses_its_inplace_relus():
    spec = models.get("googlenet")
    converted = pnn.convert(spec.build(), example_inputs=(spec.example_input(1, size=32),),
                            layout="nchwc")
    rules = [c.rule for c in converted.pybench_report.converted if "conv2d" in c.rule]
    assert len(rules) == 57 and all(r.endswith("+ relu") for r in rules), rules
    # Each inception block's 4 branches end in a convolution that writes its slice of the
    # block's output.
    concats = [c.rule for c in converted.pybench_report.converted if "concat" in c.rule]
    assert concats == ["nchwc concat, 4 of 4 inputs written in place"] * 9, concats


def test_densenet_bn_relu_is_one_module(cpu_isa):
    """DenseNet's unfolded BN -> ReLU pairs (after each concat) run as one NchwcBatchNorm with
    its ReLU applied in place; no ReLU module is left in the converted graph."""
    spec = models.get("densenet121")
    model = spec.build()
    converted = pnn.convert(model, example_inputs=(spec.example_input(1, size=32),),
                            layout="nchwc")
    bns = [m for m in converted.modules() if isinstance(m, NchwcBatchNorm)]
    assert len(bns) == 62 and all(b.activation == "relu" for b in bns)
    assert not any(isinstance(m, nn.ReLU) for m in converted.modules())
    with torch.no_grad():
        y = spec.example_input(2, seed=3, size=32)
        assert _relative_error(converted(y), model(y)) <= 1e-4


def test_model_that_leaves_and_reenters(cpu_isa):
    model = _LeavesAndReenters().eval()
    with torch.no_grad():
        model.bn2.running_mean.uniform_(-1, 1)
        model.bn2.running_var.uniform_(0.5, 2)
    x = torch.randn(2, 3, 13, 11)
    converted = pnn.convert(model, example_inputs=(x,), layout="nchwc")
    report = converted.pybench_report
    rules = {c.path: c.rule for c in report.converted}
    assert rules == {"conv1": "nchwc conv2d + relu", "conv2": "nchwc conv2d",
                     "conv3": "nchwc conv2d + residual + relu"}
    assert any(e.startswith("from_nchwc after relu") for e in report.layout), report.layout
    assert any(e.startswith("to_nchwc") and "conv2" in e for e in report.layout), report.layout
    with torch.no_grad():
        y = torch.randn(1, 3, 13, 11)
        assert _relative_error(converted(y), model(y)) <= 1e-4


def test_channels_off_the_block_and_concat():
    """A concat whose first input does not fill its blocks runs on NCHW (a block concat
    would misplace the second input's channels); one that does, runs blocked."""

    class Cat(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(16, 13, 3, padding=1), nn.Conv2d(16, 32, 1)
            self.c, self.d = nn.Conv2d(16, 32, 1), nn.Conv2d(16, 5, 1)
            self.head = nn.Conv2d(13 + 32 + 32 + 5, 7, 1)

        def forward(self, x):
            odd = torch.cat([self.a(x), self.b(x)], 1)
            even = torch.cat([self.c(x), self.d(x)], 1)
            return self.head(torch.cat([odd, even], 1))

    model = Cat().eval()
    x = torch.randn(1, 16, 9, 10)
    converted = pnn.convert(model, example_inputs=(x,), layout="nchwc")
    assert converted.pybench_report.verified_error <= 1e-4
    layout = converted.pybench_report.layout
    assert any(e.startswith("from_nchwc after a:") for e in layout), layout
    assert not any(e.startswith(("from_nchwc after c:", "from_nchwc after d:")) for e in layout), layout


class _Inception(nn.Module):
    """Concat branches that are convolutions (with activation, with a residual add, one of
    them after a pool), one that is not (the pool itself), one convolution whose output
    has a second user, and a last branch off the block."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(16, 16, 1)
        self.b = nn.Conv2d(16, 32, 3, padding=1)
        self.c = nn.Conv2d(16, 16, 3, padding=1)
        self.d = nn.Conv2d(16, 16, 1)
        self.e = nn.Conv2d(16, 13, 1)
        self.head = nn.Conv2d(16 + 32 + 16 + 16 + 16 + 13, 7, 1)

    def forward(self, x):
        pooled = nn.functional.max_pool2d(x, 3, 1, 1)
        c = self.c(x) + x
        d = self.d(x)
        cat = torch.cat([torch.relu(self.a(x)), self.b(x), c, pooled, d, self.e(pooled)], 1)
        return self.head(cat) + d.sum()


def test_concat_branches_write_in_place(cpu_isa):
    model = _Inception().eval()
    x = torch.randn(2, 16, 9, 10)
    converted = pnn.convert(model, example_inputs=(x,), layout="nchwc")
    report = converted.pybench_report
    # a, b, c (+ residual) and e write in place; d has a second user, the pool is copied.
    assert "nchwc concat, 4 of 6 inputs written in place" in [c.rule for c in report.converted]
    calls = [n for n in converted.graph.nodes if n.op == "call_module" and "out" in n.kwargs]
    assert sorted(n.target for n in calls) == ["a", "b", "c", "e"]
    with torch.no_grad():
        for y in (torch.randn(1, 16, 9, 10), torch.randn(3, 16, 9, 10)):  # other batches
            assert _relative_error(converted(y), model(y)) <= 1e-4


def test_refuses_training_mode_and_missing_inputs():
    model = models.get("cifar10_cnn").build().train()
    with pytest.raises(ValueError, match="for inference"):
        pnn.convert(model, example_inputs=(torch.randn(1, 3, 32, 32),), layout="nchwc")
    with pytest.raises(ValueError, match="needs example_inputs"):
        pnn.convert(model.eval(), layout="nchwc")
    with pytest.raises(ValueError, match="layout must be"):
        pnn.convert(model, layout="nhwc")


def test_blocked_layers_report_block():
    model = models.get("cifar10_cnn").build()
    converted = pnn.convert(model, example_inputs=(torch.randn(2, 3, 32, 32),), layout="nchwc")
    blocks = {m.block for m in converted.modules() if isinstance(m, NchwcConv2d)}
    assert blocks == {ops.block_size()}


def test_auto_layout_keeps_the_faster_conversion():
    spec = models.get("cifar10_cnn")
    model = spec.build()
    x = spec.example_input(2)
    converted = pnn.convert(model, example_inputs=(x,), layout="auto")
    choice = converted.pybench_report.layout_choice
    assert choice["chosen"] == ("nchwc" if choice["nchwc_s"] <= choice["nchw_s"] else "nchw")
    assert isinstance(converted, torch.fx.GraphModule) == (choice["chosen"] == "nchwc")
    assert converted.pybench_report.verified_error <= 1e-4


def test_auto_layout_falls_back_to_nchw_with_the_reason():
    model = models.get("cifar10_cnn").build().train()
    converted = pnn.convert(model, example_inputs=(torch.randn(2, 3, 32, 32),), layout="auto")
    choice = converted.pybench_report.layout_choice
    assert choice["chosen"] == "nchw" and "for inference" in choice["nchwc_error"]
