"""Property-based fuzzing of ``pybench.nn.convert`` over random small CNNs (hypothesis).

Nets are eval-mode stacks of Conv2d (random kernel, stride, padding form and mode,
dilation, groups, bias), BatchNorm2d (random running statistics and affine parameters,
never the defaults), ReLU / ReLU6 / Tanh / Identity, max and average pooling, residual
blocks and a block whose convolution output feeds both a BatchNorm and a sum. Some have
plain functions (``torch.tanh``) between layers. Two flavours:

- traceable: an ``nn.Sequential``, or a module whose forward calls its layers one by one;
- untraceable: the same forward behind a data-dependent check, so ``torch.fx`` cannot
  trace it, while its ``nn.Sequential`` child -- which it never calls as a whole -- can be.

Properties: the converted model matches the float64 original; every BatchNorm folded
sits on a conv -> BatchNorm edge the model really runs, where the BatchNorm is the
convolution's only consumer -- all of them in a traceable model, none in an untraceable
one, whose report says why; every zero-padded convolution is swapped; the original is
left untouched; ``example_inputs`` verifies a conversion and refuses a wrong one.
"""
from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import pybench.nn
import pybench.ops as ops
from conftest import assert_matches_reference  # tests/conftest.py

from .conftest import expect_error, expect_result, examples
from .test_fuzz_ops import isas, layouts, relayout, seeds

# Each pybench convolution is within 1e-5 of its float64 result relative to |W|*|x| + |b|
# (tests/ops). Folding rounds the weight and bias once more (~6e-8 relative each), and
# the stock layers between (BatchNorm, pools, activations) add a rounding each. Through
# linear layers and 1-Lipschitz activations and pools, every layer's error is carried to
# the output at most by the absolute network below (|W|, |BN scale|, |BN shift|, no
# activations), so the output's error is at most the sum of the layers' own bounds times
# that scale: with at most 8 convolutions, under 1e-4. The norm-wise half of
# assert_matches_reference is not implied by that where ReLU and saturated tanh leave the
# output far below the scale (up to ~1500x in the ci cases), but errors seen are ~2e-7.
RTOL = 1e-4
MAX_STAGES = 4  # a residual block holds two convolutions: at most 8 in all
# padding="same" with an even kernel: PyTorch warns that it pads a copy, as intended.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")


class Net(nn.Module):
    """Calls ``layers`` one by one, applying ``fns[i]`` (a plain function) after layer i.

    With ``untraceable``, the forward first checks its input's values -- Python control
    flow on data, which ``torch.fx`` cannot trace.
    """

    def __init__(self, layers, fns, untraceable):
        super().__init__()
        self.layers = nn.Sequential(*layers)
        self.fns, self.untraceable, self.absolute = fns, untraceable, False

    def extra_repr(self):
        fns = {i: f.__name__ for i, f in self.fns.items()}
        return f"fns after layers={fns}, untraceable={self.untraceable}"

    def forward(self, x):
        if self.untraceable and bool(x.isnan().any()):
            raise ValueError("NaN input")
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.fns and not self.absolute:
                x = self.fns[i](x)
        return x


class Residual(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


class Tap(nn.Module):
    """The convolution's output feeds the BatchNorm and the sum: not foldable."""

    def __init__(self, conv, bn):
        super().__init__()
        self.conv, self.bn = conv, bn

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


class Affine(nn.Module):
    def __init__(self, scale, shift):
        super().__init__()
        self.scale, self.shift = scale[:, None, None], shift[:, None, None]

    def forward(self, x):
        return x * self.scale + self.shift


def absolute(m: nn.Module) -> nn.Module:
    """The absolute network of a float64 copy: |W| and |b|; BatchNorm as |s| x + |beta -
    mean * s|; no activations. Run on |x|, it bounds every layer's |output| elementwise."""
    if isinstance(m, nn.Conv2d):
        with torch.no_grad():
            m.weight.abs_()
            if m.bias is not None:
                m.bias.abs_()
        return m
    if isinstance(m, nn.BatchNorm2d):
        s = torch.rsqrt(m.running_var + m.eps)
        s = s * m.weight if m.affine else s
        shift = -m.running_mean * s + (m.bias if m.affine else 0)
        return Affine(s.abs().detach(), shift.abs().detach())
    if isinstance(m, (nn.ReLU, nn.ReLU6, nn.Tanh)):
        return nn.Identity()
    for name, child in m.named_children():
        setattr(m, name, absolute(child))
    if isinstance(m, Net):
        m.absolute = True
    return m


class Sample:
    """A net and its input; ``foldable``: the (conv path, bn path) edges a fold may use;
    ``convs``: the zero-padded convolutions, all of which convert swaps."""

    def __init__(self, model, x, foldable, convs, traceable):
        self.model, self.x, self.foldable, self.convs = model, x, foldable, convs
        self.traceable = traceable

    def __repr__(self):  # what hypothesis prints for a failing case
        return (f"Sample(x={tuple(self.x.shape)}, traceable={self.traceable}, "
                f"foldable={sorted(self.foldable)},\n{self.model})")


class _Builder:
    """Draws layers for a running (channels, height, width), with seeded parameters."""

    def __init__(self, draw, c, h, w):
        self.draw, self.c, self.h, self.w = draw, c, h, w
        self.gen = torch.Generator().manual_seed(draw(seeds))
        self.convs = 0

    def _rand(self, *shape):
        return torch.randn(shape, generator=self.gen)

    def conv(self, same_shape=False):
        d, c = self.draw, self.c
        if same_shape:  # inside a residual block: stride 1, C -> C, output size = input size
            k, groups, kernel, stride, dilation = c, 1, d(st.sampled_from([1, 3])), 1, 1
            padding = d(st.sampled_from(["same", kernel // 2]))
        else:
            groups = d(st.sampled_from([g for g in (1, 1, 2, 3, c) if c % g == 0]))
            k = groups * d(st.integers(1, max(1, 12 // groups)))
            kernel = (d(st.integers(1, 4)), d(st.integers(1, 4)))
            stride, dilation = d(st.sampled_from([1, 1, 2, (1, 2)])), d(st.sampled_from([1, 1, 2]))
            forms = [0, 1, 2, (1, 0), "valid"] + (["same"] if stride == 1 else [])
            padding = d(st.sampled_from(forms))
        pads = ops.conv2d_padding(padding, kernel, stride, dilation)
        kh, kw = ops._pair(kernel, "")
        dh, dw = ops._pair(dilation, "")
        if (dh * (kh - 1) >= self.h + pads[0] + pads[1]
                or dw * (kw - 1) >= self.w + pads[2] + pads[3]):
            kernel, pads, padding = 1, (0, 0, 0, 0), 0  # too large for what is left
            kh = kw = 1
        mode = "zeros"
        if isinstance(padding, int) and 0 < padding < min(self.h, self.w) and not d(
                st.integers(0, 3)):
            mode = d(st.sampled_from(["reflect", "replicate", "circular"]))  # kept as PyTorch
        conv = nn.Conv2d(c, k, kernel, stride, padding, dilation, groups, d(st.booleans()), mode)
        with torch.no_grad():
            conv.weight.copy_(self._rand(*conv.weight.shape) / (conv.weight[0].numel() ** 0.5))
            if conv.bias is not None:
                conv.bias.copy_(self._rand(k))
        sh, sw = ops._pair(stride, "")
        self.h = (self.h + pads[0] + pads[1] - dh * (kh - 1) - 1) // sh + 1
        self.w = (self.w + pads[2] + pads[3] - dw * (kw - 1) - 1) // sw + 1
        self.c, self.convs = k, self.convs + (mode == "zeros")
        return conv

    def bn(self):
        affine = self.draw(st.booleans())
        bn = nn.BatchNorm2d(self.c, eps=self.draw(st.sampled_from([1e-5, 1e-3, 0.1])),
                            affine=affine).eval()
        with torch.no_grad():
            bn.running_mean.copy_(self._rand(self.c))
            bn.running_var.copy_(torch.rand(self.c, generator=self.gen) * 3 + 0.05)
            if affine:
                bn.weight.copy_(self._rand(self.c))
                bn.bias.copy_(self._rand(self.c))
        return bn

    def act(self):
        return self.draw(st.sampled_from([nn.ReLU, nn.ReLU6, nn.Tanh, nn.Identity]))()

    def pool(self):
        if min(self.h, self.w) < 2:
            return nn.MaxPool2d(3, stride=1, padding=1)
        pool = self.draw(st.sampled_from([nn.MaxPool2d(2), nn.AvgPool2d(2),
                                          nn.MaxPool2d(3, stride=1, padding=1)]))
        if isinstance(pool, (nn.MaxPool2d, nn.AvgPool2d)) and pool.stride == 2:
            self.h, self.w = self.h // 2, self.w // 2
        return pool


@st.composite
def samples(draw, traceable: bool):
    c, h, w = draw(st.integers(1, 12)), draw(st.integers(3, 12)), draw(st.integers(3, 12))
    b = _Builder(draw, c, h, w)
    layers, fns = [], {}
    for _ in range(draw(st.integers(1, MAX_STAGES))):
        kind = draw(st.sampled_from(["conv-bn", "conv-fn-bn", "conv", "bn", "act", "pool",
                                     "residual", "tap"]))
        if kind in ("conv-bn", "conv-fn-bn"):
            layers.append(b.conv())
            if kind == "conv-fn-bn":  # the BatchNorm's input is not the conv's output
                fns[len(layers) - 1] = torch.tanh
            layers.append(b.bn())
        elif kind == "residual":
            body = [b.conv(same_shape=True)]
            body += [b.bn()] if draw(st.booleans()) else []
            body += [b.act(), b.conv(same_shape=True), b.bn()]
            layers.append(Residual(nn.Sequential(*body)))
        elif kind == "tap":
            conv = b.conv(same_shape=True)
            layers.append(Tap(conv, b.bn()))
        else:
            layers.append({"conv": b.conv, "bn": b.bn, "act": b.act, "pool": b.pool}[kind]())
        if draw(st.integers(0, 4)) == 0 and kind != "conv-fn-bn":
            # Only functions f with |f(x)| <= |x|: the absolute network leaves them out.
            fns[len(layers) - 1] = draw(st.sampled_from([torch.tanh, torch.relu]))
    plain = traceable and not fns and draw(st.booleans())
    model = (nn.Sequential(*layers) if plain else Net(layers, fns, not traceable)).eval()
    x = relayout(torch.randn((draw(st.sampled_from([1, 2])), c, h, w), generator=b.gen),
                 draw(layouts))
    return Sample(model, x, _edges(layers, fns, "" if plain else "layers."), b.convs, traceable)


def _edges(layers, fns, prefix):
    """Adjacent (conv, BatchNorm) with no function between, here and in residual bodies."""
    edges = {(f"{prefix}{i}", f"{prefix}{i + 1}") for i in range(len(layers) - 1)
             if isinstance(layers[i], nn.Conv2d) and isinstance(layers[i + 1], nn.BatchNorm2d)
             and i not in fns}
    for i, layer in enumerate(layers):
        if isinstance(layer, Residual):
            edges |= _edges(list(layer.body), {}, f"{prefix}{i}.body.")
    return edges


def _reference(sample):
    model64 = copy.deepcopy(sample.model).double()
    x64 = sample.x.double()
    with torch.no_grad():
        return model64(x64), absolute(model64)(x64.abs())


def _run(model, x, isa):
    with ops.use_cpu_isa(isa), torch.inference_mode():
        return model(x)


@examples(40)
@given(data=st.data(), traceable=st.booleans())
def test_convert_matches_the_float64_model(data, traceable):
    sample = data.draw(samples(traceable), label="net")
    isa = data.draw(isas, label="isa")
    ref, scale = _reference(sample)
    before = copy.deepcopy(sample.model.state_dict())

    def convert_and_run():
        converted = pybench.nn.convert(sample.model)
        return converted, _run(converted, sample.x, isa)

    def check(result):
        converted, out = result
        report = converted.pybench_report
        folded = {tuple(f) for f in report.folded}
        assert not folded - sample.foldable, (
            f"folded BatchNorms not fed by their conv alone: {folded - sample.foldable}")
        # Traced, every proven edge is folded; untraced, none is (no edge is proven).
        expected = sample.foldable if traceable else set()
        assert folded == expected, f"edges left unfolded: {expected - folded}\n{report}"
        swapped = sum(type(m) is pybench.nn.Conv2d for m in converted.modules())
        assert swapped == sample.convs, f"{swapped} of {sample.convs} convs swapped\n{report}"
        if not traceable and any(isinstance(m, nn.BatchNorm2d) for m in sample.model.modules()):
            assert "trac" in str(report).lower(), f"no word of the failed trace:\n{report}"
        assert_matches_reference(out, ref, scale, rtol=RTOL)
        after = sample.model.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before), "convert changed the model"

    expect_result("convert", convert_and_run, check)


@examples(20)
@given(data=st.data(), traceable=st.booleans())
def test_convert_verifies_example_inputs(data, traceable):
    sample = data.draw(samples(traceable), label="net")
    isa = data.draw(isas, label="isa")
    ref, scale = _reference(sample)

    def convert():
        with ops.use_cpu_isa(isa):
            return pybench.nn.convert(sample.model, example_inputs=(sample.x,))

    expect_result("convert(example_inputs)", convert,
                  lambda converted: assert_matches_reference(_run(converted, sample.x, isa),
                                                             ref, scale, rtol=RTOL))


@examples(20)
@given(data=st.data(), traceable=st.booleans())
def test_convert_refuses_a_wrong_conversion(data, traceable):
    """A swap that adds 1 to the last convolution's output must be caught by the check on
    example_inputs, whose message names the largest difference."""
    sample = data.draw(samples(traceable), label="net")
    with torch.no_grad():
        c, h, w = sample.model(sample.x).shape[1:]
    # Appended last, so nothing after it can hide the change (a changed weight could be
    # hidden before it: a ReLU may leave it nothing but zeros to multiply).
    last = _Builder(data.draw, c, h, w).conv(same_shape=True)
    last.broken = True  # survives convert's deep copy
    model = nn.Sequential(sample.model, last).eval()

    def swap(conv):
        new = pybench.nn.Conv2d.from_torch(conv)
        if getattr(conv, "broken", False):
            bias = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
            new.bias = nn.Parameter(bias + 1)
        return new

    rule = pybench.nn.Rule("conv2d", nn.Conv2d, pybench.nn.Conv2d, swap)
    expect_error("convert(example_inputs)",
                 lambda: pybench.nn.convert(model, rules=(rule,),
                                            example_inputs=(sample.x,), choose="all"),
                 "a convolution whose swap adds 1", errors=(ValueError, RuntimeError),
                 match="(?i)largest difference")
