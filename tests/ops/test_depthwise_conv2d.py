"""pybench.ops.depthwise_conv2d against F.conv2d(groups=C) in float64, on every CPU ISA and
(where present) CUDA.

Accuracy, both at 1e-5 (conftest.assert_matches_reference, as tests/ops/test_conv2d.py): the
norm-wise relative error and the element-wise |out - ref| <= 1e-5 * (|x| * |w| + |b|), so
one wrong element (a missed border tap, an unwritten tail lane) is not diluted by the many
right ones.
Inputs are standard normal, never zeros.
"""
from __future__ import annotations

import dataclasses
import random
import warnings
import zlib

import pytest
import torch
import torch.nn.functional as F

import pybench.ops as ops
from conftest import assert_matches_reference, available_cpu_isas, device_params


@dataclasses.dataclass(frozen=True)
class DwCase:
    """input (n, c, h, w) (n None: unbatched), weight (c*m, 1, kh, kw)."""

    name: str
    n: int | None
    c: int
    h: int
    w: int
    m: int = 1
    kh: int = 3
    kw: int = 3
    stride: int | tuple = 1
    padding: int | tuple | str = 0
    dilation: int | tuple = 1
    bias: bool = True

    def input_shape(self):
        return (self.c, self.h, self.w) if self.n is None else (self.n, self.c, self.h, self.w)

    def weight_shape(self):
        return (self.c * self.m, 1, self.kh, self.kw)

    def kwargs(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation)

    def describe(self):
        return (f"{'u' if self.n is None else self.n}x{self.c}x{self.h}x{self.w}-m{self.m}"
                f"-{self.kh}x{self.kw}-s{self.stride}-p{self.padding}-d{self.dilation}"
                + ("-b" if self.bias else ""))


def _c(name, n, c, h, w, **kw):
    return DwCase(name, n, c, h, w, **kw)


# Every item of the list (odd C, m > 1, 3x3 / 5x5, stride 1-2, dilation 2,
# non-square inputs, batch 1-3) plus the kernels' own boundaries: the 3x3 / 5x5 stride
# 1 / 2 fast paths and their row blocks (4 rows AVX-512, 2 AVX2) with leftover rows, the
# generic path (other sizes, dilation, mixed strides), widths around 8 / 16 lanes (and
# the AVX-512 ymm path for widths <= 8), row chunks of the per-thread planes.
NAMED = [
    _c("3x3-s1", 1, 32, 14, 14, padding=1),
    _c("3x3-s1-odd-c", 2, 17, 13, 11, padding=1),
    _c("3x3-s2", 1, 16, 15, 15, stride=2, padding=1),
    _c("3x3-s2-even", 3, 9, 16, 12, stride=2, padding=1),
    _c("5x5-s1", 1, 7, 12, 19, kh=5, kw=5, padding=2),
    _c("5x5-s2", 2, 5, 17, 14, kh=5, kw=5, stride=2, padding=2),
    _c("3x3-mult2", 1, 17, 9, 10, m=2, padding=1),
    _c("3x3-mult3-dil2", 1, 5, 9, 10, m=3, dilation=2, padding=2),
    _c("5x5-mult2-s2", 1, 3, 13, 13, m=2, kh=5, kw=5, stride=2, padding=2),
    _c("dil2-s1", 2, 6, 14, 15, dilation=2, padding=2),
    _c("dil2-s2", 1, 6, 17, 17, dilation=2, stride=2, padding=1),
    _c("dil2x1-s1x2", 1, 5, 12, 16, dilation=(2, 1), stride=(1, 2), padding=(2, 1)),
    _c("3x3-no-pad", 1, 9, 10, 7),
    _c("3x3-pad2", 1, 4, 6, 8, padding=2),
    _c("3x3-pad-asym", 1, 4, 6, 8, padding=(0, 2)),
    _c("7x7", 1, 4, 15, 13, kh=7, kw=7, padding=3),
    _c("1x1", 2, 5, 7, 9, kh=1, kw=1),
    _c("2x2-same", 1, 5, 8, 9, kh=2, kw=2, padding="same"),
    _c("3x3-same-dil2", 1, 5, 8, 9, padding="same", dilation=2),
    _c("1x5", 1, 5, 8, 9, kh=1, kw=5, padding=(0, 2)),
    _c("5x1", 1, 5, 9, 8, kh=5, kw=1, padding=(2, 0)),
    _c("stride3", 1, 5, 16, 17, stride=3, padding=1),
    _c("valid", 2, 5, 10, 10, padding="valid"),
    _c("no-bias", 1, 16, 8, 8, padding=1, bias=False),
    _c("unbatched", None, 5, 9, 11, padding=1),
    _c("c1", 3, 1, 9, 9, padding=1),
    _c("h1", 1, 4, 1, 37, padding=1),
    _c("w1", 1, 4, 21, 1, padding=1),
    _c("1x1-image", 2, 7, 1, 1, padding=1),
    _c("exact", 1, 4, 3, 3),
    _c("exact-5x5-dil", 1, 4, 9, 9, kh=5, kw=5, dilation=2),
    _c("rows-chunked", 1, 3, 200, 40, padding=1),
    _c("rows-chunked-s2", 1, 3, 301, 41, stride=2, padding=1),
    _c("mobilenet-112", 1, 32, 112, 112, padding=1, bias=False),
    _c("mobilenet-7", 1, 64, 7, 7, padding=1),
    # Planes narrower than two vectors with a block of channels or more run through the
    # blocked kernel on a zero-padded block (depthwise_conv2d_via_nchwc.h): channel tails
    # of 8 and 16 lanes, strides, dilation, 5x5, 1x3 / 2x2 windows, asymmetric and no
    # padding, padding wider than the window needs, no bias, unbatched, batch 3.
    _c("via-tail", 3, 37, 13, 11, padding=1),
    _c("via-s2", 1, 24, 14, 15, stride=2, padding=(0, 1)),
    _c("via-s2-dil2", 1, 24, 14, 15, stride=2, dilation=2, padding=2),
    _c("via-5x5-asym-no-bias", 2, 19, 9, 12, kh=5, kw=5, padding=(1, 2), bias=False),
    _c("via-1x3-asym-no-bias", 2, 19, 9, 12, kh=1, kw=3, padding=(1, 2), bias=False),
    _c("via-2x2", 1, 16, 7, 7, kh=2, kw=2, padding=1),
    _c("via-5x5-c960", 2, 960, 7, 7, kh=5, kw=5, padding=2),
    _c("via-dil2", 1, 24, 14, 15, dilation=2, padding=2),
    _c("via-pad-past-window", 2, 16, 5, 6, kh=3, kw=3, padding=(4, 3)),
    _c("via-5x5-s2-14", 2, 40, 14, 14, kh=5, kw=5, stride=2, padding=2),
    _c("via-5x5-28-wide", 2, 24, 28, 28, kh=5, kw=5, padding=2),  # AVX2 too: rows < 32
    _c("via-mobilenet-7-c960", 2, 960, 7, 7, padding=1),
    _c("via-unbatched", None, 33, 6, 9, padding=1),
    _c("via-valid-s3", 1, 40, 17, 20, stride=3),
    _c("via-1x1-image", 2, 16, 1, 1, padding=1),
    _c("mobilenet-v3-5x5-s2", 1, 40, 28, 28, kh=5, kw=5, stride=2, padding=2),
]
for _w in (5, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 47, 48, 49):
    NAMED.append(_c(f"width-{_w}-s1", 1, 2, 6, _w, padding=1))
    NAMED.append(_c(f"width-{_w}-s2", 1, 2, 7, 2 * _w + 1, stride=2, padding=1))
for _h in (1, 2, 3, 4, 5, 6, 7, 9):  # output rows vs the 4 / 2 row blocks
    NAMED.append(_c(f"rows-{_h}", 1, 2, _h, 19, padding=1))


def random_cases(count: int, seed: int) -> list[DwCase]:
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        k = rng.choice(((3, 3), (3, 3), (5, 5), (1, 1), (2, 2), (7, 7), (1, 3), (3, 1), (3, 5)))
        stride = rng.choice((1, 1, 2, 2, 3, (1, 2), (2, 1)))
        dilation = rng.choice((1, 1, 1, 2, (1, 2)))
        form = rng.choice(("int", "pair", "valid", "same"))
        if form == "same" and stride != 1:
            form = "int"
        padding = {"int": rng.randint(0, 3), "pair": (rng.randint(0, 3), rng.randint(0, 3)),
                   "valid": "valid", "same": "same"}[form]
        case = DwCase(f"random{len(out)}", rng.choice((None, 1, 1, 2, 3)),
                      rng.choice((1, 3, 5, 16, 17, 33)), rng.randint(1, 40), rng.randint(1, 40),
                      m=rng.choice((1, 1, 2, 3)), kh=k[0], kw=k[1], stride=stride,
                      padding=padding, dilation=dilation, bias=rng.random() < 0.7)
        pads = ops.conv2d_padding(padding, k, stride, dilation)
        dh, dw = ops._pair(dilation, "d")
        if dh * (k[0] - 1) + 1 > case.h + pads[0] + pads[1] or \
                dw * (k[1] - 1) + 1 > case.w + pads[2] + pads[3]:
            continue
        out.append(case)
    return out


CASES = NAMED + random_cases(40, seed=5)

_OPERANDS: dict[str, tuple] = {}


def operands(case: DwCase):
    """(x, w, b, ref, scale): float32 operands, the float64 reference and |x|*|w|+|b|."""
    key = repr(case)
    if key not in _OPERANDS:
        g = torch.Generator().manual_seed(zlib.crc32(case.describe().encode()))
        x = torch.randn(case.input_shape(), generator=g)
        w = torch.randn(case.weight_shape(), generator=g)
        b = torch.randn(case.c * case.m, generator=g) if case.bias else None
        _OPERANDS[key] = (x, w, b, *reference_depthwise_conv2d(x, w, b, **case.kwargs()))
    return _OPERANDS[key]


def _f64(t):
    return None if t is None else t.detach().cpu().double()


def reference_depthwise_conv2d(x, w, b=None, **kwargs):
    """F.conv2d(groups=C) on the float64 operands, and on their absolute values."""
    c = x.shape[-3]
    x64, w64, b64 = _f64(x), _f64(w), _f64(b)
    with warnings.catch_warnings():  # "same" with an even kernel: a padded copy, as intended
        warnings.filterwarnings("ignore", "Using padding='same'")
        ref = F.conv2d(x64, w64, b64, groups=c, **kwargs)
        scale = F.conv2d(x64.abs(), w64.abs(), None if b64 is None else b64.abs(), groups=c,
                         **kwargs)
    return ref, scale


def _cuda_once(device, cpu_isa):
    if device == "cuda" and cpu_isa != available_cpu_isas()[0]:
        pytest.skip("the CPU ISA does not affect the CUDA kernel; run it once")


@pytest.mark.parametrize("device", device_params())
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.name}[{c.describe()}]")
def test_depthwise_matches_float64(device, case, cpu_isa):
    _cuda_once(device, cpu_isa)
    x, w, b, ref, scale = operands(case)
    to = lambda t: None if t is None else t.to(device)  # noqa: E731
    xd = to(x)
    before = xd.clone()
    out = ops.depthwise_conv2d(xd, to(w), to(b), **case.kwargs())
    assert out.device == xd.device
    assert torch.equal(xd, before), "depthwise_conv2d modified its input"
    assert_matches_reference(out, ref, scale)


def test_random_cases_cover_the_space():
    rnd = CASES[len(NAMED):]
    assert {c.m > 1 for c in rnd} == {True, False}
    assert {c.bias for c in rnd} == {True, False}
    assert any(c.dilation != 1 for c in rnd) and any(c.stride == 2 for c in rnd)
    assert any(c.kh == 5 for c in rnd) and any(c.n is None for c in rnd)
    assert any(c.n == 3 for c in rnd) and any(c.h != c.w for c in rnd)


@pytest.mark.parametrize("device", device_params())
def test_depthwise_non_contiguous(device, cpu_isa):
    _cuda_once(device, cpu_isa)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 10, 13, 12, generator=g).contiguous(memory_format=torch.channels_last)
    x = x[:, ::2, 1:, :]  # channel and row slices of a channels-last tensor
    w = torch.randn(10, 1, 3, 3, generator=g).transpose(2, 3)
    b = torch.randn(20, generator=g)[::2]
    ref, scale = reference_depthwise_conv2d(x, w, b, stride=(2, 1), padding=1)
    out = ops.depthwise_conv2d(x.to(device), w.to(device), b.to(device), stride=(2, 1), padding=1)
    assert_matches_reference(out, ref, scale)


@pytest.mark.parametrize("case", [
    _c("nan-3x3", 1, 4, 9, 20, padding=1),
    _c("nan-5x5-s2", 1, 4, 13, 21, kh=5, kw=5, stride=2, padding=2),
    _c("nan-generic", 1, 4, 11, 10, kh=3, kw=2, dilation=2, padding=1),
    _c("nan-narrow", 1, 3, 7, 7, padding=1),
    _c("nan-via-blocked", 1, 21, 7, 9, padding=1),
], ids=lambda c: c.name)
def test_depthwise_nan_stays_in_its_windows(case, cpu_isa):
    """A NaN input element reaches exactly the outputs whose window covers it: tail lanes
    and the planes' slack never leak into valid outputs."""
    g = torch.Generator().manual_seed(9)
    x = torch.randn(case.input_shape(), generator=g)
    w = torch.randn(case.weight_shape(), generator=g)
    hole = torch.zeros(x.shape, dtype=torch.bool)
    hole.view(-1)[torch.randperm(hole.numel(), generator=g)[:3]] = True
    hole.view(-1)[-1] = True
    x[hole] = float("nan")
    expected = F.conv2d(hole.double(), torch.ones_like(w, dtype=torch.float64), groups=case.c,
                        **case.kwargs()) > 0
    out = ops.depthwise_conv2d(x, w, **case.kwargs())
    assert expected.any() and not expected.all()
    assert torch.equal(out.isnan(), expected)


@pytest.mark.parametrize("case", [_c("batch", 3, 5, 9, 9, padding=1),
                                  _c("via-blocked", 3, 40, 7, 7, padding=1),
                                  _c("rows", 1, 2, 150, 30, padding=1, m=2)],
                         ids=lambda c: c.name)
def test_depthwise_threads_agree(case, cpu_isa):
    x, w, b, ref, scale = operands(case)
    before = torch.get_num_threads()
    try:
        outs = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            outs.append(ops.depthwise_conv2d(x, w, b, **case.kwargs()))
            assert_matches_reference(outs[-1], ref, scale)
        assert all(torch.equal(o, outs[0]) for o in outs)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("activation", ["relu", "relu6", "hardswish", "sigmoid"])
def test_depthwise_via_blocked_epilogue(activation, cpu_isa):
    """conv2d's depthwise layers hand their activation to the depthwise kernel; on the
    blocked path for small planes the blocked kernel's store applies it."""
    g = torch.Generator().manual_seed(11)
    x = torch.randn(2, 35, 7, 9, generator=g) * 4
    w, b = torch.randn(35, 1, 3, 3, generator=g), torch.randn(35, generator=g)
    out = ops.conv2d(x, w, b, padding=1, groups=35, activation=activation)
    act = {"relu": F.relu, "relu6": F.relu6, "hardswish": F.hardswish,
           "sigmoid": torch.sigmoid}[activation]
    ref = act(F.conv2d(x.double(), w.double(), b.double(), padding=1, groups=35))
    err = ((out.double() - ref).norm() / ref.norm()).item()
    assert err <= 1e-5, err


def test_depthwise_zero_batch():
    out = ops.depthwise_conv2d(torch.randn(0, 3, 5, 5), torch.randn(6, 1, 3, 3), padding=1)
    assert out.shape == (0, 6, 5, 5)


@pytest.mark.parametrize("case", [c for c in NAMED if c.name.startswith(
    ("3x3", "5x5", "dil", "2x2", "unbatched", "stride3", "exact"))], ids=lambda c: c.name)
def test_depthwise_meta_shapes(case):
    x = torch.empty(case.input_shape(), device="meta")
    w = torch.empty(case.weight_shape(), device="meta")
    out = ops.depthwise_conv2d(x, w, **case.kwargs())
    assert out.device.type == "meta"
    assert out.shape == F.conv2d(x, w, groups=case.c, **case.kwargs()).shape


@pytest.mark.parametrize("case", [_c("plain", 2, 5, 7, 9, padding=1),
                                  _c("mult-strided-no-bias", 1, 3, 9, 8, m=2, stride=(2, 1),
                                     bias=False),
                                  _c("unbatched-dilated", None, 4, 8, 8, dilation=2,
                                     padding=(2, 1))],
                         ids=lambda c: c.name)
def test_depthwise_opcheck(case):
    x, w, b, _, _ = operands(case)
    pads = ops.conv2d_padding(case.padding, (case.kh, case.kw), case.stride, case.dilation)
    args = (x, w, b, list(ops._pair(case.stride, "s")), list(pads),
            list(ops._pair(case.dilation, "d")))
    torch.library.opcheck(torch.ops.pybench.depthwise_conv2d.default, args)


def test_depthwise_under_torch_compile():
    torch._dynamo.reset()

    def block(x, w, b):
        return ops.depthwise_conv2d(x, w, b, stride=2, padding=1).relu() * 0.5

    compiled = torch.compile(block, fullgraph=True, dynamic=True)
    g = torch.Generator().manual_seed(4)
    w, b = torch.randn(12, 1, 3, 3, generator=g), torch.randn(12, generator=g)
    for shape in [(2, 6, 13, 11), (1, 6, 8, 17)]:
        x = torch.randn(shape, generator=g)
        ref, scale = reference_depthwise_conv2d(x, w, b, stride=2, padding=1)
        assert_matches_reference(compiled(x, w, b), ref.relu() * 0.5, scale * 0.5)


# --- errors ------------------------------------------------------------------------------

def _t(*shape, dtype=torch.float32):
    return torch.ones(shape, dtype=dtype)


ERRORS = [
    # (id, input, weight, bias, kwargs, exception, match)
    ("input-rank-2", _t(4, 5), _t(4, 1, 3, 3), None, {}, ValueError, r"3-D \(unbatched\) or 4-D"),
    ("input-rank-5", _t(1, 1, 4, 5, 5), _t(4, 1, 3, 3), None, {}, ValueError, "rank 5"),
    ("weight-rank-3", _t(1, 4, 5, 5), _t(4, 3, 3), None, {}, ValueError,
     r"weight of shape \(C\*m, 1, kH, kW\)"),
    ("weight-not-depthwise", _t(1, 4, 6, 6), _t(4, 4, 3, 3), None, {}, ValueError,
     r"\(C\*m, 1, kH, kW\) with C = 4"),
    ("weight-not-multiple-of-c", _t(1, 4, 6, 6), _t(6, 1, 3, 3), None, {}, ValueError,
     r"\(C\*m, 1, kH, kW\) with C = 4.*\[6, 1, 3, 3\]"),
    ("weight-fewer-than-c", _t(1, 4, 6, 6), _t(2, 1, 3, 3), None, {}, ValueError,
     "channel multiplier"),
    ("empty-kernel", _t(1, 4, 6, 6), _t(4, 1, 0, 3), None, {}, ValueError, r"\(C\*m, 1, kH, kW\)"),
    ("kernel-larger-than-input", _t(1, 4, 4, 4), _t(4, 1, 5, 5), None, {}, ValueError,
     "Kernel size can't be greater"),
    ("dilated-kernel-too-large", _t(1, 4, 6, 6), _t(4, 1, 3, 3), None, {"dilation": 3},
     ValueError, "Kernel size can't be greater"),
    ("stride-0", _t(1, 4, 6, 6), _t(4, 1, 3, 3), None, {"stride": 0}, ValueError,
     "non-positive stride"),
    ("padding-negative", _t(1, 4, 6, 6), _t(4, 1, 3, 3), None, {"padding": -1}, ValueError,
     "negative padding"),
    ("dilation-0", _t(1, 4, 6, 6), _t(4, 1, 3, 3), None, {"dilation": 0}, ValueError,
     "dilation should be greater than zero"),
    ("padding-string", _t(1, 4, 6, 6), _t(4, 1, 3, 3), None, {"padding": "full"}, ValueError,
     "invalid padding string"),
    ("same-with-stride-2", _t(1, 4, 6, 6), _t(4, 1, 3, 3), None, {"padding": "same", "stride": 2},
     ValueError, "padding='same' is not supported for strided"),
    ("input-float64", _t(1, 4, 6, 6, dtype=torch.float64), _t(4, 1, 3, 3), None, {}, TypeError,
     "float32 input, got torch.float64"),
    ("input-float16", _t(1, 4, 6, 6, dtype=torch.float16), _t(4, 1, 3, 3), None, {}, TypeError,
     "float32 input"),
    ("weight-float64", _t(1, 4, 6, 6), _t(4, 1, 3, 3, dtype=torch.float64), None, {}, TypeError,
     "float32 weight, got torch.float64"),
    ("bias-float64", _t(1, 4, 6, 6), _t(4, 1, 3, 3), _t(4, dtype=torch.float64), {}, TypeError,
     "float32 bias, got torch.float64"),
    ("bias-wrong-size", _t(1, 4, 6, 6), _t(8, 1, 3, 3), _t(4), {}, ValueError,
     r"bias of shape \(8\), got \[4\]"),
    ("empty-spatial", _t(1, 4, 0, 6), _t(4, 1, 1, 1), None, {}, ValueError, "non-empty"),
]


@pytest.mark.parametrize("x, w, b, kwargs, error, match", [e[1:] for e in ERRORS],
                         ids=[e[0] for e in ERRORS])
def test_depthwise_bad_arguments(x, w, b, kwargs, error, match):
    with pytest.raises(error, match=match):
        ops.depthwise_conv2d(x, w, b, **kwargs)


def test_depthwise_bad_arguments_to_the_raw_op():
    x, w = _t(1, 4, 6, 6), _t(4, 1, 3, 3)
    with pytest.raises(ValueError, match="2 strides, 4 paddings"):
        torch.ops.pybench.depthwise_conv2d(x, w, None, [1, 1], [1, 1], [1, 1])


@pytest.mark.parametrize("device", device_params()[1:])
def test_depthwise_device_mismatch(device):
    x, w, b = _t(1, 4, 6, 6), _t(4, 1, 3, 3), _t(4)
    for xi, wi, bi in [(x.to(device), w, None), (x, w.to(device), None),
                       (x.to(device), w.to(device), b)]:
        with pytest.raises(RuntimeError, match="(?i)cpu|cuda"):
            ops.depthwise_conv2d(xi, wi, bi)
