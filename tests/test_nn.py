"""pybench.nn: the Conv2d drop-in and convert() against stock PyTorch.

A spy on ``pybench.ops.conv2d`` counts the calls, so a test cannot pass by silently running
PyTorch's convolution instead of pybench's. Errors are relative to the output's scale:
max |out - ref| / max |ref|. BatchNorm statistics are randomised before converting, so a
folding formula that dropped the mean, variance, scale or shift would show.
"""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import pybench.nn as pnn
from pybench import models, ops
from pybench.models.mobilenet import DepthwiseSeparable
from torchvision.models.mobilenetv2 import InvertedResidual as TorchInvertedResidual

CONV_RTOL = 1e-5
MODEL_RTOL = 1e-4


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    assert out.shape == ref.shape and out.dtype == ref.dtype
    return ((out - ref).abs().max() / ref.abs().max()).item()


@pytest.fixture
def conv_calls(monkeypatch):
    """Counts calls of pybench.ops.conv2d (still running it)."""
    calls = []
    real = ops.conv2d

    def spy(*args, **kwargs):
        calls.append(args[1].shape)
        return real(*args, **kwargs)

    monkeypatch.setattr(ops, "conv2d", spy)
    return calls


def randomize_batchnorm(model: nn.Module, seed: int = 1) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for bn in model.modules():
            if isinstance(bn, nn.BatchNorm2d):
                n = bn.num_features
                bn.running_mean.copy_(0.2 * torch.randn(n, generator=gen))
                bn.running_var.copy_(0.5 + torch.rand(n, generator=gen))
                bn.weight.copy_(0.5 + torch.rand(n, generator=gen))
                bn.bias.copy_(0.2 * torch.randn(n, generator=gen))
    return model


def batchnorms_fed_by_a_conv(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Paths of the BatchNorm2d layers whose input is a Conv2d's output object, found by
    running the model (independent of the fx analysis convert uses)."""
    conv_outputs, found = [], []
    paths = {m: p for p, m in model.named_modules()}
    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(lambda mod, a, out: conv_outputs.append(out)))
        elif isinstance(m, nn.BatchNorm2d):
            handles.append(m.register_forward_pre_hook(
                lambda mod, a: found.append(paths[mod])
                if any(a[0] is t for t in conv_outputs) else None))
    with torch.inference_mode():
        model(x)
    for h in handles:
        h.remove()
    return found


# --- Conv2d -------------------------------------------------------------------------------

CONFIGS = {
    "3x3": dict(in_channels=8, out_channels=16, kernel_size=3, padding=1),
    "no_bias": dict(in_channels=8, out_channels=16, kernel_size=3, padding=1, bias=False),
    "stride2": dict(in_channels=6, out_channels=10, kernel_size=3, stride=2, padding=1),
    "1x1": dict(in_channels=32, out_channels=24, kernel_size=1),
    "7x7_s2_p3": dict(in_channels=3, out_channels=8, kernel_size=7, stride=2, padding=3),
    "groups": dict(in_channels=12, out_channels=18, kernel_size=3, padding=1, groups=3),
    "depthwise": dict(in_channels=16, out_channels=16, kernel_size=3, stride=2, padding=1,
                      groups=16),
    "dilation": dict(in_channels=8, out_channels=8, kernel_size=3, padding=2, dilation=2),
    "same": dict(in_channels=5, out_channels=7, kernel_size=4, padding="same", dilation=(1, 2)),
    "valid": dict(in_channels=5, out_channels=7, kernel_size=(3, 5), padding="valid"),
    "asym_1x7": dict(in_channels=8, out_channels=8, kernel_size=(1, 7), padding=(0, 3)),
    "asym_stride": dict(in_channels=4, out_channels=6, kernel_size=(5, 3), stride=(2, 1),
                        padding=(1, 2)),
}


@pytest.mark.parametrize("bias", [True, False])
def test_state_dict_keys_match_nn_conv2d(bias):
    theirs = nn.Conv2d(4, 8, 3, bias=bias)
    ours = pnn.Conv2d(4, 8, 3, bias=bias)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert isinstance(ours, nn.Conv2d)


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's, on "same"
def test_conv2d_matches_nn_conv2d(name, conv_calls):
    torch.manual_seed(0)
    theirs = nn.Conv2d(**CONFIGS[name])
    ours = pnn.Conv2d(**CONFIGS[name])
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, theirs.in_channels, 13, 17)
    with torch.inference_mode():
        ref, out = theirs(x), ours(x)
    assert conv_calls, "pybench.ops.conv2d did not run"
    assert rel_err(out, ref) <= CONV_RTOL
    # and back: an nn.Conv2d loads a pybench.nn.Conv2d state dict
    theirs2 = nn.Conv2d(**CONFIGS[name])
    theirs2.load_state_dict(ours.state_dict())
    with torch.inference_mode():
        assert torch.equal(theirs2(x), ref)


def test_from_torch_shares_parameters_and_flags():
    conv = nn.Conv2d(4, 8, 3, stride=2, padding=1, dilation=1, groups=2).train()
    ours = pnn.Conv2d.from_torch(conv)
    assert type(ours) is pnn.Conv2d and ours.training
    assert ours.weight is conv.weight and ours.bias is conv.bias
    for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
                 "groups", "padding_mode"):
        assert getattr(ours, attr) == getattr(conv, attr), attr
    assert "pybench.Conv2d(4, 8" in repr(ours)
    meta = pnn.Conv2d.from_torch(nn.Conv2d(4, 8, 3, bias=False, device="meta"))
    assert meta.weight.device.type == "meta" and meta.bias is None


@pytest.mark.parametrize("case", ["float64", "reflect"])
def test_conv2d_falls_back_and_says_why(case, conv_calls):
    torch.manual_seed(0)
    kwargs = dict(in_channels=4, out_channels=6, kernel_size=3, padding=1)
    if case == "reflect":
        kwargs["padding_mode"] = "reflect"
    theirs = nn.Conv2d(**kwargs)
    ours = pnn.Conv2d(**kwargs)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 4, 9, 9)
    if case == "float64":
        theirs, ours, x = theirs.double(), ours.double(), x.double()
    expected = {"float64": "float64", "reflect": "padding_mode='reflect'"}[case]
    assert expected in ours.unsupported_reason(x)

    out = ours(x)
    assert not conv_calls
    assert torch.equal(out, theirs(x))


def test_conv2d_runs_pybench_under_autograd_and_gradients_match(conv_calls):
    torch.manual_seed(0)
    theirs = nn.Conv2d(4, 6, 3, padding=1)
    ours = pnn.Conv2d(4, 6, 3, padding=1)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 4, 9, 9)
    assert ours.unsupported_reason(x) is None
    out = ours(x)
    assert conv_calls
    out.sum().backward()
    theirs(x).sum().backward()
    assert rel_err(ours.weight.grad, theirs.weight.grad) <= 1e-5
    assert rel_err(ours.bias.grad, theirs.bias.grad) <= 1e-5


def test_conv2d_unsupported_reason_by_input():
    conv = pnn.Conv2d(4, 4, 3)
    assert conv.unsupported_reason() is None
    with torch.no_grad():
        assert conv.unsupported_reason(torch.randn(1, 4, 5, 5)) is None
        assert "float16" in conv.unsupported_reason(torch.randn(1, 4, 5, 5).half())
        assert "meta" in conv.unsupported_reason(torch.empty(1, 4, 5, 5, device="meta"))


# --- convert: the model families -------------------------------------------------------------

# BatchNorms that directly follow a convolution, counted from the architectures:
EXPECTED_FOLDS = {
    "googlenet": 57,           # 3 stem + 9 inception blocks x 6 BasicConv2d (conv -> bn)
    "resnet18": 20,            # conv1 + 8 blocks x 2 + 3 downsample
    "resnet50": 53,            # conv1 + 16 bottlenecks x 3 + 4 downsample
    "densenet121": 59,         # conv0 + 58 dense layers' conv1 -> norm2 (norm1 is pre-activation)
    "mobilenet_v1": 27,        # stem + 13 blocks x 2
    "mobilenet_v2": 52,        # every convolution
    "mobilenet_v3_large": 46,  # every convolution but the 16 of the 8 squeeze-excitations
}


FUSED_BLOCKS = (DepthwiseSeparable, TorchInvertedResidual)


@pytest.mark.parametrize("name", models.names())
def test_convert_family_matches_original(name, conv_calls):
    spec = models.get(name)
    model = randomize_batchnorm(spec.build())
    before = copy.deepcopy(model.state_dict())
    x = spec.example_input(1, size=spec.min_size)
    n_convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    n_bns = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    folds = EXPECTED_FOLDS.get(name, 0)
    assert len(batchnorms_fed_by_a_conv(model, x)) == folds

    # MobileNet-v1 / -v2 blocks become fused separable ops (issue 5): their depthwise and
    # pointwise convolutions run there, the report lists the block instead of its convs.
    blocks = [m for m in model.modules() if type(m) in FUSED_BLOCKS]
    block_convs = sum(isinstance(c, nn.Conv2d) for b in blocks for c in b.modules())

    converted = pnn.convert(model)
    report = converted.pybench_report
    with torch.inference_mode():
        ref = model(x)
        conv_calls.clear()
        out = converted(x)
    assert len(conv_calls) == n_convs - 2 * len(blocks), \
        "a convolution did not run pybench's kernel"
    assert rel_err(out, ref) <= MODEL_RTOL

    assert len(report.converted) == n_convs - block_convs + len(blocks) and not report.skipped
    assert len(report.folded) == folds
    assert batchnorms_fed_by_a_conv(converted, x) == []
    assert sum(isinstance(m, nn.BatchNorm2d) for m in converted.modules()) == n_bns - folds
    assert not any(type(m) is nn.Conv2d for m in converted.modules())

    # the original is untouched
    assert all(type(m) is not pnn.Conv2d for m in model.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == n_bns
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_convert_inplace_and_twice():
    model = randomize_batchnorm(models.get("resnet18").build())
    same = pnn.convert(model, inplace=True)
    assert same is model and isinstance(model.conv1, pnn.Conv2d)
    assert isinstance(model.bn1, nn.Identity)
    again = pnn.convert(model)
    assert again.pybench_report.converted == [] and again.pybench_report.folded == []


def test_convert_preserves_device():
    with torch.device("meta"):
        model = models.get("mobilenet_v1").factory().eval()
    converted = pnn.convert(model)
    assert {p.device.type for p in converted.parameters()} == {"meta"}
    assert len(converted.pybench_report.folded) == 27


def test_convert_root_layer():
    conv = nn.Conv2d(3, 4, 3)
    converted = pnn.convert(conv)
    assert type(converted) is pnn.Conv2d and type(conv) is nn.Conv2d
    assert converted.pybench_report.converted == [pnn.Converted("", "conv2d")]


# --- convert: what stays PyTorch --------------------------------------------------------------

def small_cnn(**conv_kwargs) -> nn.Sequential:
    torch.manual_seed(0)
    return randomize_batchnorm(nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, **conv_kwargs), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 4, 3, padding=1), nn.BatchNorm2d(4),
    )).eval()


def test_unsupported_padding_mode_stays_pytorch_and_is_listed(conv_calls):
    model = small_cnn(padding_mode="reflect")
    converted = pnn.convert(model)
    report = converted.pybench_report
    assert type(converted[0]) is nn.Conv2d and type(converted[3]) is pnn.Conv2d
    assert report.skipped == [
        pnn.Skipped("0", "padding_mode='reflect' (pybench pads with zeros only)")]
    assert report.converted == [pnn.Converted("3", "conv2d")]
    # folding is plain PyTorch arithmetic, valid whatever the padding
    assert report.folded == [pnn.Folded("0", "1"), pnn.Folded("3", "4")]
    x = torch.randn(2, 3, 10, 10)
    with torch.inference_mode():
        assert rel_err(converted(x), model(x)) <= MODEL_RTOL
    assert len(conv_calls) == 1
    assert "kept 0: padding_mode='reflect'" in str(report)


def test_float64_model_stays_pytorch_and_is_listed(conv_calls):
    model = small_cnn().double()
    converted = pnn.convert(model)
    report = converted.pybench_report
    assert all(type(m) is nn.Conv2d for m in (converted[0], converted[3]))
    assert [s.path for s in report.skipped] == ["0", "3"]
    assert all("torch.float64" in s.reason for s in report.skipped)
    x = torch.randn(2, 3, 10, 10, dtype=torch.float64)
    with torch.inference_mode():
        assert rel_err(converted(x), model(x)) <= 1e-12
    assert not conv_calls


def test_subclass_of_conv2d_is_listed_not_swapped():
    class MyConv(nn.Conv2d):
        def forward(self, x):
            return super().forward(x) * 2

    model = nn.Sequential(MyConv(3, 4, 3), nn.BatchNorm2d(4)).eval()
    converted = pnn.convert(model)
    report = converted.pybench_report
    assert report.converted == [] and report.folded == []
    assert [s.path for s in report.skipped] == ["0"]
    assert "MyConv subclasses Conv2d" in report.skipped[0].reason
    assert type(converted[0]) is MyConv and isinstance(converted[1], nn.BatchNorm2d)


def test_training_mode_swaps_but_does_not_fold(conv_calls):
    model = small_cnn().train()
    converted = pnn.convert(model)
    assert converted.training and converted[0].training
    assert converted.pybench_report.folded == []
    assert isinstance(converted[1], nn.BatchNorm2d) and isinstance(converted[0], pnn.Conv2d)
    x = torch.randn(4, 3, 6, 6)
    out, ref = converted(x), model(x)  # grad mode: pybench layers run, gradients flow
    assert rel_err(out, ref) <= CONV_RTOL and conv_calls
    out.sum().backward()
    assert converted[0].weight.grad is not None and model[0].weight.grad is None


def test_bn_not_folded_when_conv_output_has_other_users():
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y

    model = randomize_batchnorm(Residual()).eval()
    converted = pnn.convert(model)
    assert converted.pybench_report.folded == [] and isinstance(converted.bn, nn.BatchNorm2d)
    x = torch.randn(1, 4, 5, 5)
    with torch.inference_mode():
        assert rel_err(converted(x), model(x)) <= MODEL_RTOL


def test_bn_not_folded_into_a_conv_called_twice():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)

        def forward(self, x):
            return self.bn(self.conv(torch.relu(self.conv(x))))

    model = randomize_batchnorm(Twice()).eval()
    converted = pnn.convert(model)
    assert converted.pybench_report.folded == []
    x = torch.randn(1, 4, 5, 5)
    with torch.inference_mode():
        assert rel_err(converted(x), model(x)) <= MODEL_RTOL


def test_nothing_folded_when_tracing_fails():
    # Neither a traced child nor adjacency in an nn.Sequential proves how an untraceable
    # parent calls its children, so nothing may be folded; every conv is still swapped.
    class ConvBN(nn.Module):  # conv -> bn in forward, like torchvision's BasicConv2d
        def __init__(self, c_in, c_out):
            super().__init__()
            self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(c_out)

        def forward(self, x):
            return torch.relu(self.bn(self.conv(x)))

    class DataDependent(nn.Module):
        def forward(self, x):
            return x + 1 if x.sum() > 0 else x  # symbolic tracing fails on this branch

    class Untraceable(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = ConvBN(3, 8)
            self.b = nn.Sequential(nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8), DataDependent())
            self.gate = DataDependent()

        def forward(self, x):
            return self.b(self.gate(self.a(x)))

    model = randomize_batchnorm(Untraceable()).eval()
    converted = pnn.convert(model)
    report = converted.pybench_report
    assert report.folded == []
    assert "cannot trace" in report.not_folded and "no BatchNorm folded" in str(report)
    assert sorted(c.path for c in report.converted) == ["a.conv", "b.0"]
    x = torch.randn(2, 3, 8, 8)
    with torch.inference_mode():
        assert rel_err(converted(x), model(x)) <= MODEL_RTOL


def test_no_fold_across_a_function_an_untraceable_parent_calls_between():
    # The issue-17 reproducer: the parent calls its Sequential's children one by one with
    # torch.tanh between them, so conv -> bn is no edge. Pairing by adjacency folded it
    # and changed the output by 0.375 while reporting "1 BatchNorm folded".
    class Parent(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4))

        def forward(self, x):
            if float(x.sum()) > -1e9:
                return self.body[1](torch.tanh(self.body[0](x)))
            return x

    model = randomize_batchnorm(Parent()).eval()
    x = torch.randn(1, 3, 8, 8)
    converted = pnn.convert(model, example_inputs=(x,))
    assert converted.pybench_report.folded == []
    assert isinstance(converted.body[1], nn.BatchNorm2d)
    assert converted.pybench_report.verified_error <= MODEL_RTOL
    with torch.inference_mode():
        assert rel_err(converted(x), model(x)) <= MODEL_RTOL


def test_example_inputs_catch_a_wrong_conversion():
    # A rule that swaps a conv for a wrong layer must be caught on the example inputs, with
    # the largest difference named.
    class Wrong(nn.Module):
        def __init__(self, conv):
            super().__init__()
            self.conv = conv

        def forward(self, x):
            return self.conv(x) * 1.01

    rule = pnn.Rule("wrong", nn.Conv2d, Wrong, Wrong)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    x = torch.randn(2, 3, 9, 9)
    with pytest.raises(pnn.ConversionMismatch, match=r"relative error .* largest difference"):
        pnn.convert(model, rules=(rule,), example_inputs=(x,), choose="all")
    # The same model converted correctly passes, and says by how much it differs.
    converted = pnn.convert(model, example_inputs=(x,))
    assert 0 <= converted.pybench_report.verified_error <= MODEL_RTOL
    assert "checked on example_inputs" in str(converted.pybench_report)


def test_example_inputs_with_inplace_compare_against_the_original():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    model = randomize_batchnorm(model).eval()
    x = torch.randn(1, 3, 7, 7)
    converted = pnn.convert(model, inplace=True, example_inputs=(x,))
    assert converted is model and len(converted.pybench_report.folded) == 1
    assert converted.pybench_report.verified_error <= MODEL_RTOL


def test_block_rule_takes_precedence_over_layer_rules():
    class Fused(nn.Module):
        def __init__(self, block):
            super().__init__()
            self.block = block

        def forward(self, x):
            return self.block(x)

    rule = pnn.Rule("separable", DepthwiseSeparable, Fused, Fused)
    model = randomize_batchnorm(models.get("mobilenet_v1").build())
    converted = pnn.convert(model, rules=(rule, *pnn.RULES))
    report = converted.pybench_report
    assert [c.rule for c in report.converted] == ["conv2d"] + ["separable"] * 13
    assert report.converted[0].path == "features.0.conv"
    assert all(type(b.block.dw) is nn.Conv2d for b in converted.features[1:])
    assert len(report.folded) == 27  # folding runs before the swaps
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        assert rel_err(converted(x), model(x)) <= MODEL_RTOL


@pytest.mark.parametrize("name", ["cifar10_cnn", "resnet18", "mobilenet_v2"])
def test_converted_model_in_training_mode_has_the_originals_gradients(name):
    """A model converted in training mode (nothing folded; pybench's convolutions with
    ATen's backward, PyTorch's layers where pybench's backward is not faster) trains like
    the original: loss and parameter gradients against the float64 model, within 1e-4 or
    8x the float32 original's own error -- where a float32 pre-activation rounds across
    zero a ReLU's mask differs and the gradient jumps (ResNet-18's conv1: 5e-4 between two
    float32 runs), and a wrong backward is off by O(1)."""
    spec = models.get(name)
    size = 32 if spec.min_size else None
    model = models.preserve_signal(spec.build(), spec.example_input(4, seed=5, size=size)).train()
    converted = pnn.convert(model)
    assert converted.pybench_report.converted and not converted.pybench_report.folded
    x = spec.example_input(3, seed=1, size=size)
    runs = []
    for m, inp in ((model, x), (converted, x), (copy.deepcopy(model).double(), x.double())):
        m.zero_grad()
        loss = m(inp).square().mean()
        loss.backward()
        runs.append((loss.item(), torch.cat([p.grad.double().flatten()
                                             for _, p in sorted(m.named_parameters())])))
    (l32, g32), (lc, gc), (l64, g64) = runs

    def rel(a, b):
        return ((a - b).norm() / b.norm()).item()

    assert abs(lc - l64) <= max(1e-4 * abs(l64), 8 * abs(l32 - l64)), (lc, l32, l64)
    assert rel(gc, g64) <= max(1e-4, 8 * rel(g32, g64)), (rel(gc, g64), rel(g32, g64))
