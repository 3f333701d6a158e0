"""pybench.nn.convert on MobileNet-v1 / -v2 blocks: fused depthwise-separable ops with folded
BatchNorms, against the original models (<= 1e-4 relative), and the modules' fallbacks.

A spy on ``pybench.ops.separable_conv2d`` counts its calls, so a test cannot pass by
silently running PyTorch's sequence. BatchNorm statistics are randomised first, so a
folding error shows.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual as TorchInvertedResidual

import pybench.nn as pnn
from pybench import models, ops
from pybench.models.mobilenet import DepthwiseSeparable
from test_nn import randomize_batchnorm

MODEL_RTOL = 1e-4


def rel(out, ref):
    """Norm-wise relative error ||out - ref|| / ||ref||."""
    return (torch.linalg.vector_norm(out.double() - ref.double()) /
            torch.linalg.vector_norm(ref.double())).item()


@pytest.fixture
def separable_calls(monkeypatch):
    calls = []
    real = ops.separable_conv2d

    def spy(*args, **kwargs):
        calls.append(tuple(args[1].shape))
        return real(*args, **kwargs)

    monkeypatch.setattr(ops, "separable_conv2d", spy)
    return calls


@pytest.mark.parametrize("name, block_type, blocks", [("mobilenet_v1", DepthwiseSeparable, 13),
                                                      ("mobilenet_v2", TorchInvertedResidual, 17)])
@pytest.mark.parametrize("batch, size", [(1, 64), (2, 40)])
def test_converted_mobilenet_matches_original(name, block_type, blocks, batch, size,
                                              separable_calls):
    torch.manual_seed(0)
    model = randomize_batchnorm(models.get(name).build().eval(), seed=3)
    assert sum(type(m) is block_type for m in model.modules()) == blocks
    x = torch.randn(batch, 3, size, size)
    converted = pnn.convert(model)
    report = converted.pybench_report
    rule = {"mobilenet_v1": "mobilenet_v1_block", "mobilenet_v2": "mobilenet_v2_block"}[name]
    assert sum(c.rule == rule for c in report.converted) == blocks
    assert not report.skipped
    assert not any(type(m) is block_type for m in converted.modules())
    assert sum(isinstance(m, pnn.SeparableConv2d) for m in converted.modules()) == blocks
    with torch.inference_mode():
        ref = model(x)
        out = converted(x)
    assert len(separable_calls) == blocks, "a block did not run the fused op"
    assert rel(out, ref) <= MODEL_RTOL


def test_converted_v2_block_float64_reference(separable_calls):
    """One inverted residual with a residual connection against its float64 self."""
    torch.manual_seed(1)
    block = randomize_batchnorm(TorchInvertedResidual(24, 24, 1, 6).eval(), seed=5)
    x = torch.randn(2, 24, 13, 11)
    converted = pnn.convert(block)
    assert isinstance(converted, pnn.InvertedResidual) and converted.use_res_connect
    with torch.inference_mode():
        out = converted(x)
        ref = block.double()(x.double())
    assert separable_calls and rel(out, ref) <= 1e-5


def test_training_mode_blocks_are_not_fused_but_their_convs_are(separable_calls):
    model = models.get("mobilenet_v1").build().train()
    converted = pnn.convert(model)
    report = converted.pybench_report
    assert not any(isinstance(m, pnn.SeparableConv2d) for m in converted.modules())
    refused = [s for s in report.skipped if "not folded" in s.reason]
    assert len(refused) == 13 and refused[0].path == "features.1"
    # ... but every convolution is still swapped one by one
    assert not any(type(m) is nn.Conv2d for m in converted.modules())
    # (no numeric comparison: with batch statistics over 2 images of 1x1 maps the deep
    # layers amplify any rounding difference; the swapped layers are tested in test_nn.py)
    out = converted(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 1000) and torch.isfinite(out).all()
    assert not separable_calls


def test_v1_block_with_other_activation_is_refused():
    block = DepthwiseSeparable(8, 16).eval()
    block.dw_relu = nn.GELU()
    converted = pnn.convert(block)
    assert any("activation" in s.reason for s in converted.pybench_report.skipped)
    assert not isinstance(converted, pnn.SeparableConv2d)


def test_separable_module_fallbacks_match_the_op(separable_calls):
    torch.manual_seed(2)
    dw = nn.Conv2d(6, 12, 3, stride=2, padding=1, groups=6)
    pw = nn.Conv2d(12, 5, 1)
    module = pnn.SeparableConv2d(dw, pw, "relu6", "none")
    x = torch.randn(2, 6, 9, 10)
    ref = pw(F.relu6(dw(x)))
    # grad mode with parameters that require grad: PyTorch's sequence, gradients flow
    assert "autograd" in module.unsupported_reason(x)
    out = module(x)
    torch.testing.assert_close(out, ref)
    out.sum().backward()
    assert dw.weight.grad is not None and not separable_calls
    with torch.inference_mode():
        assert module.unsupported_reason(x) is None
        torch.testing.assert_close(module(x), ref.detach(), rtol=1e-5, atol=1e-5)
    assert len(separable_calls) == 1
    assert "float32" in module.unsupported_reason(x.double())


@pytest.mark.parametrize("dw, pw, match", [
    (nn.Conv2d(6, 6, 3, groups=3), nn.Conv2d(6, 4, 1), "not depthwise"),
    (nn.Conv2d(6, 6, 3, groups=6), nn.Conv2d(6, 4, 3), "not a plain 1x1"),
    (nn.Conv2d(6, 6, 3, groups=6), nn.Conv2d(5, 4, 1), "reads 5 channels"),
    (nn.Conv2d(6, 6, 3, groups=6, padding_mode="reflect", padding=1), nn.Conv2d(6, 4, 1),
     "padding_mode"),
])
def test_separable_module_rejects_what_it_cannot_fuse(dw, pw, match):
    with pytest.raises(ValueError, match=match):
        pnn.SeparableConv2d(dw, pw, "relu")
