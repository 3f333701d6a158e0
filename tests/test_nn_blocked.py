"""pybench.nn.convert(..., layout="nchwc"): every model family converted to the blocked layout
matches eager PyTorch (against float64 eager on a second input: <= 1e-4 relative, or 8x
float32 eager's own error where the deep models' rounding is larger), under every CPU ISA (block 16 on AVX-512, 8 on AVX2 and scalar); the rewrite fuses
what it should and reorders only where it must, and says where in the report."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import pybench.models as models
import pybench.nn as pnn
import pybench.ops as ops
from pybench.nn.blocked import (NchwcBatchNorm, NchwcConv1x1Depthwise, NchwcConv2d,
                                NchwcConv2dMaxPool, NchwcDepthwise, NchwcPool)

# Every family at a small input (the scalar ISA runs the double-accumulating reference).
MODELS = [("lenet5", None), ("alexnet", 63), ("vgg11", 32), ("nin", 67), ("googlenet", 32),
          ("resnet18", 32), ("resnet50", 32), ("densenet121", 32), ("mobilenet_v1", 32),
          ("mobilenet_v2", 32), ("mobilenet_v3_large", 32), ("cifar10_cnn", None),
          ("mnist_mlp", None)]


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def _check_against_float64(model, converted, spec, size):
    """The converted model's error against float64 eager, on an input convert did not see,
    within 1e-4 or 8x eager float32's own error, whichever is larger: with weights that keep
    the signal (models.preserve_signal) ResNet-50's float32 eager alone is 5e-5 off float64
    at 32x32, and Winograd's transforms (ops.WINOGRAD_RTOL) raise that to ~2e-4 -- rounding
    amplified by 50 layers, where a wrong kernel is off by O(1). The check can fail: another
    input moves the output by far more than the bound."""
    with torch.no_grad():
        y = spec.example_input(1, seed=1, size=size)
        want = model(y)
        want64 = copy.deepcopy(model).double()(y.double())
        assert _relative_error(model(spec.example_input(1, seed=2, size=size)), want) > 1e-3
        bound = max(1e-4, 8 * _relative_error(want, want64))
        assert _relative_error(converted(y), want64) <= bound


@pytest.mark.parametrize("name, size", MODELS, ids=[m for m, _ in MODELS])
def test_family_matches_eager(cpu_isa, name, size):
    if cpu_isa == "scalar" and name in ("resnet50", "densenet121", "nin"):
        pytest.skip("the scalar reference kernels take minutes on this model; the smaller "
                    "models cover the scalar path")
    spec = models.get(name)
    # Weights under which the output depends on the input (models.preserve_signal): with the
    # factories' own, GoogLeNet's output is its classifier's bias to 2e-5, and a relative
    # check would pass whatever the convolutions computed.
    model = models.preserve_signal(spec.build(), spec.example_input(4, seed=5, size=size))
    x = spec.example_input(2, size=size)
    converted = pnn.convert(model, example_inputs=(x,), layout="nchwc", rtol=1e-3)
    report = converted.pybench_report
    assert report.verified_error is not None and report.verified_error <= 1e-3
    _check_against_float64(model, converted, spec, size)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if convs:
        # Fused pairs count: a small model's every conv may measure faster fused with its
        # pool (cifar10_cnn's three on the scalar kernels).
        blocked = [m for m in converted.modules() if isinstance(
            m, (NchwcConv2d, NchwcDepthwise, NchwcConv2dMaxPool, NchwcConv1x1Depthwise))]
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
    # The algorithm (direct or Winograd, chosen by timing) aside.
    rules = {c.path: c.rule.replace(" (winograd)", "") for c in report.converted}
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
    blocks = {m.block for m in converted.modules()
              if isinstance(m, (NchwcConv2d, NchwcConv2dMaxPool))}
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


class _Classifier(nn.Module):
    """A conv trunk and an AlexNet-style classifier: Linear -> ReLU -> Linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 20, 3)
        self.fc1 = nn.Linear(20 * 5 * 5, 97)
        self.fc2 = nn.Linear(97, 10)

    def forward(self, x):
        x = torch.flatten(torch.relu(self.conv(x)), 1)
        return self.fc2(torch.relu(self.fc1(x)))


def test_linear_choice_is_measured_then_recalled(tmp_path, monkeypatch):
    monkeypatch.setenv("PYBENCH_CACHE_DIR", str(tmp_path))
    model = _Classifier().eval()
    x = torch.randn(3, 3, 7, 7)
    first = pnn.convert(model, example_inputs=(x,), layout="nchwc").pybench_report
    assert [c.path for c in first.choices] == ["fc1", "fc2"]
    for c in first.choices:
        assert c.source == "measured" and c.rule == "linear"
        assert c.chosen == ("pybench" if c.pybench_s <= c.torch_s else "torch")
    second = pnn.convert(model, example_inputs=(x,), layout="nchwc")
    assert [c.source for c in second.pybench_report.choices] == ["cache", "cache"]
    assert ([c.chosen for c in second.pybench_report.choices]
            == [c.chosen for c in first.choices])
    kept = {m for m, c in zip(("fc1", "fc2"), first.choices) if c.chosen == "torch"}
    assert {s.path for s in second.pybench_report.skipped if "measured faster" in s.reason} == kept
    with torch.no_grad():
        assert _relative_error(second(x), model(x)) <= 1e-5


def test_linear_runs_packed_with_its_relu_fused(cpu_isa, monkeypatch):
    # Whatever the timings say, the pybench side of the choice: its graph and its numbers.
    from pybench.nn import blocked
    from pybench.nn.choose import LayerChoice

    class AlwaysPybench:
        def choose(self, path, rule, layer, replacement, args):
            return LayerChoice(path, rule, "", 1.0, 2.0, "pybench", "measured")

        def save(self):
            pass

    monkeypatch.setattr(blocked, "Chooser", AlwaysPybench)
    model = _Classifier().eval()
    converted = pnn.convert(model, example_inputs=(torch.randn(2, 3, 7, 7),), layout="nchwc")
    fc1, fc2 = converted.get_submodule("fc1"), converted.get_submodule("fc2")
    assert isinstance(fc1, pnn.Linear) and fc1.activation == "relu"
    assert isinstance(fc2, pnn.Linear) and fc2.activation == "none"
    # The ReLU between them ran inside fc1: no node of the graph applies it any more.
    assert [n.target for n in converted.graph.nodes if n.op == "call_function"
            and n.target is torch.relu] == []
    assert {"linear + relu", "linear"} <= {c.rule for c in converted.pybench_report.converted}
    with torch.no_grad():
        for y in (torch.randn(1, 3, 7, 7), torch.randn(11, 3, 7, 7)):  # other batches
            assert _relative_error(converted(y), model(y)) <= 1e-5


@pytest.mark.parametrize("name", ["googlenet", "mobilenet_v2", "densenet121"])
def test_converted_model_counts_the_eager_flops(name):
    # The per-layer breakdown and the suite's GFLOP/s read layer_flops: the blocked layers
    # (concat slices, depthwise, padded channels) must count what the originals did.
    spec = models.get(name)
    model = spec.build()
    x = spec.example_input(2, size=32)
    converted = pnn.convert(model, example_inputs=(x,), layout="nchwc")
    assert models.count_flops(converted, x) == models.count_flops(model, x) > 0


def test_linear_module_refuses_what_it_cannot_run():
    lin = nn.Linear(5, 3)
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        pnn.Linear(lin, "gelu")
    assert pnn.linear_unsupported_reason(lin) is None
    assert "float32 on the CPU" in pnn.linear_unsupported_reason(nn.Linear(5, 3).double())
    assert "not a plain Linear" in pnn.linear_unsupported_reason(nn.LazyLinear(3))
    assert "empty" in pnn.linear_unsupported_reason(nn.Linear(0, 3))


WINOGRAD_MODELS = [("vgg11", 32), ("resnet18", 32), ("googlenet", 32), ("densenet121", 32)]


@pytest.mark.parametrize("name, size", WINOGRAD_MODELS, ids=[m for m, _ in WINOGRAD_MODELS])
def test_family_matches_eager_with_winograd(cpu_isa, name, size):
    """Every 3x3 stride-1 convolution on Winograd F(4x4, 3x3): the model still matches
    float64 eager as closely as the direct kernels do (per output, Winograd's bound is
    ops.WINOGRAD_RTOL of sum |x| |w|)."""
    if cpu_isa == "scalar" and name == "densenet121":
        pytest.skip("the scalar reference kernels take minutes on this model")
    spec = models.get(name)
    model = models.preserve_signal(spec.build(), spec.example_input(4, seed=5, size=size))
    x = spec.example_input(2, size=size)
    converted = pnn.convert(model, example_inputs=(x,), layout="nchwc", winograd="always",
                            rtol=1e-3)
    wino = [m for m in converted.modules()
            if isinstance(m, NchwcConv2d) and m.algorithm == "winograd"]
    eligible = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)
                and m.stride == (1, 1) and m.dilation == (1, 1) and m.groups == 1
                and m.in_channels >= 3 and m is not next(model.modules().__iter__(), None)]
    assert wino and len(wino) <= len(eligible)
    assert all("(winograd)" in c.rule for c in converted.pybench_report.converted
               if c.path in {p for p, m in converted.named_modules() if m in wino})
    _check_against_float64(model, converted, spec, size)


def test_winograd_choice_is_measured_then_recalled(tmp_path, monkeypatch):
    monkeypatch.setenv("PYBENCH_CACHE_DIR", str(tmp_path))
    spec = models.get("vgg11")
    model = spec.build()
    x = spec.example_input(1, size=32)
    first = pnn.convert(model, example_inputs=(x,), layout="nchwc").pybench_report
    wino = [c for c in first.choices if c.rule == "conv3x3 winograd"]
    # VGG-11's convolutions after the first (which reads NCHW) are all 3x3 stride 1.
    assert len(wino) == 7
    # A layer of the same configuration and input as an earlier one recalls its choice.
    assert wino[0].source == "measured"
    for c in wino:
        assert c.source in ("measured", "cache") and c.names == ("winograd", "direct")
        assert c.chosen == ("winograd" if c.pybench_s <= c.torch_s else "direct")
        assert "winograd" in str(c) and "direct" in str(c)
    second = pnn.convert(model, example_inputs=(x,), layout="nchwc")
    again = [c for c in second.pybench_report.choices if c.rule == "conv3x3 winograd"]
    assert [c.source for c in again] == ["cache"] * 7
    assert [c.chosen for c in again] == [c.chosen for c in wino]
    algorithms = {p: m.algorithm for p, m in second.named_modules() if isinstance(m, NchwcConv2d)}
    assert sorted(a for a in algorithms.values() if a == "winograd") == \
        ["winograd"] * sum(c.chosen == "winograd" for c in wino)
    never = pnn.convert(model, example_inputs=(x,), layout="nchwc", winograd="never")
    assert not any(getattr(m, "algorithm", "") == "winograd" for m in never.modules())
    with pytest.raises(ValueError, match="winograd must be"):
        pnn.convert(model, example_inputs=(x,), layout="nchwc", winograd="sometimes")
