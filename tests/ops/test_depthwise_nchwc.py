"""pybench.ops.depthwise_nchwc against F.conv2d(groups=C) + residual + activation in float64,
on every CPU ISA and both blocks (8, 16): the SIMD variants run B = their vector width (and
AVX-512 B = 8 on ymm); the rest goes to the ref kernel, so every pairing is covered.

Accuracy at 1e-5 with conftest.assert_matches_reference: the norm-wise relative error and
the element-wise bound |out - ref| <= 1e-5 * scale. scale is the convolution on absolute
operands plus |residual| (what float32 rounding of the sum can cost), times the
activation's Lipschitz constant (hardswish 1.5, sigmoid 1/4, else 1), plus |act(ref)| for
the activation's own rounding (the vector sigmoid's exp).
Padded channels of every output must be exactly zero.
"""
from __future__ import annotations

import dataclasses
import random
import zlib

import pytest
import torch
import torch.nn.functional as F

from conftest import assert_matches_reference
from pybench.ops.checks import _pair
from pybench.ops.depthwise_nchwc import (ACTIVATIONS, _nchwc_padding, depthwise_conv2d_nchwc,
                                         pack_depthwise_nchwc)
from pybench.ops.nchwc import from_nchwc, to_nchwc

ACT64 = {"none": lambda t: t, "relu": F.relu, "relu6": F.relu6, "hardswish": F.hardswish,
         "sigmoid": torch.sigmoid}
LIPSCHITZ = {"none": 1.0, "relu": 1.0, "relu6": 1.0, "hardswish": 1.5, "sigmoid": 0.25}


@dataclasses.dataclass(frozen=True)
class NchwcCase:
    name: str
    n: int
    c: int
    h: int
    w: int
    kh: int = 3
    kw: int = 3
    stride: int | tuple = 1
    padding: int | tuple | str = 1
    dilation: int | tuple = 1
    bias: bool = True
    residual: bool = False
    act: str = "none"
    explicit_channels: bool = False  # pass channels=C (else the wrapper infers it)

    def kwargs(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation)

    def pads(self):
        return _nchwc_padding(self.padding, (self.kh, self.kw), self.stride, self.dilation)

    def describe(self):
        return (f"{self.n}x{self.c}x{self.h}x{self.w}-{self.kh}x{self.kw}-s{self.stride}"
                f"-p{self.padding}-d{self.dilation}-{self.act}" + ("-b" if self.bias else "")
                + ("-r" if self.residual else "") + ("-C" if self.explicit_channels else ""))


def _c(name, n, c, h, w, **kw):
    return NchwcCase(name, n, c, h, w, **kw)


# The kernel's boundaries: the 8 / 4 / 1 pixel interior tiles and their leftovers (widths
# around 8, 12, 16), left / right border columns, kernel rows clipped at the top / bottom,
# outputs whose whole window is padding, channel tails (C % B != 0), stride 2, dilation 2,
# asymmetric padding, 1x1 / 5x5 / 7x7, MobileNet-v2 shapes.
NAMED = [
    _c("3x3-s1", 1, 32, 14, 14),
    _c("3x3-s1-c3", 1, 3, 9, 11),
    _c("3x3-s1-c13", 2, 13, 13, 17, act="relu6", residual=True),
    _c("3x3-s2-c40", 1, 40, 15, 15, stride=2, act="relu"),
    _c("3x3-s2-even", 3, 8, 16, 12, stride=2),
    _c("3x3-no-pad", 1, 13, 10, 9, padding=0),
    _c("3x3-pad2", 1, 13, 6, 8, padding=2, act="sigmoid"),
    _c("3x3-pad-asym-pair", 1, 5, 7, 9, padding=(0, 2)),
    _c("3x3-pad-asym-4", 1, 13, 9, 10, padding=(2, 0, 1, 2), act="hardswish", residual=True),
    _c("3x3-same-dil2", 1, 13, 9, 19, padding="same", dilation=2),
    _c("3x3-dil2-s2", 1, 21, 17, 17, dilation=2, stride=2, padding=2),
    _c("dil2x1-s1x2", 1, 5, 12, 16, dilation=(2, 1), stride=(1, 2), padding=(2, 1)),
    _c("5x5-s1", 1, 13, 12, 19, kh=5, kw=5, padding=2, act="hardswish"),
    _c("5x5-s2", 2, 40, 17, 14, kh=5, kw=5, stride=2, padding=2, act="sigmoid",
       residual=True),
    _c("5x5-pad0", 1, 8, 9, 25, kh=5, kw=5, padding=0),
    _c("7x7", 1, 13, 15, 13, kh=7, kw=7, padding=3, act="relu"),
    _c("7x7-pad1", 1, 16, 9, 30, kh=7, kw=7, padding=1),
    _c("1x1", 2, 13, 7, 9, kh=1, kw=1, padding=0, residual=True),
    _c("1x1-s2", 1, 32, 9, 9, kh=1, kw=1, stride=2, padding=0, act="relu6"),
    _c("1x5", 1, 5, 8, 9, kh=1, kw=5, padding=(0, 2)),
    _c("stride3", 1, 13, 16, 17, stride=3),
    _c("valid", 2, 13, 10, 10, padding="valid"),
    _c("no-bias", 1, 16, 8, 8, bias=False),
    _c("no-bias-sigmoid", 1, 13, 8, 8, bias=False, act="sigmoid", explicit_channels=True),
    _c("h1", 1, 13, 1, 37),
    _c("w1", 1, 13, 21, 1),
    _c("1x1-image", 2, 13, 1, 1),
    _c("exact", 1, 13, 3, 3, padding=0),
    _c("window-in-padding", 1, 13, 2, 2, padding=4, act="sigmoid"),
    _c("rows-chunked", 1, 3, 120, 20),
    _c("mobilenet-v2-28", 1, 192, 28, 28, act="relu6"),
    _c("mobilenet-v2-7-s1", 1, 40, 7, 7, act="relu6", residual=True),
    _c("mobilenet-v2-112-s2", 1, 32, 56, 56, stride=2, act="relu6"),
]
for _w in (1, 2, 3, 4, 5, 7, 8, 9, 11, 12, 13, 16, 17, 21):  # interior widths vs 8 / 4 / 1
    NAMED.append(_c(f"width-{_w}", 1, 13, 4, _w + 2, padding=1))
    NAMED.append(_c(f"width-{_w}-s2", 1, 13, 4, 2 * _w + 1, stride=2, padding=1))

# Every activation with and without residual and bias, on one shape with a channel tail.
GRID = [_c(f"grid-{a}{'-b' if b else ''}{'-r' if r else ''}", 2, 13, 9, 23, act=a, bias=b,
           residual=r, explicit_channels=(a == "sigmoid" and not b))
        for a in ACTIVATIONS for b in (False, True) for r in (False, True)]


def random_cases(count: int, seed: int) -> list[NchwcCase]:
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        kh, kw = rng.choice(((3, 3), (3, 3), (5, 5), (1, 1), (7, 7), (3, 5)))
        stride = rng.choice((1, 1, 2, 2, (1, 2)))
        dilation = rng.choice((1, 1, 2))
        padding = rng.choice((0, 1, 2, (1, 0), (0, 2, 1, 3), "same" if stride == 1 else 1))
        act = rng.choice(ACTIVATIONS)
        bias = rng.random() < 0.7
        case = NchwcCase(f"random{len(out)}", rng.choice((1, 1, 2)),
                         rng.choice((3, 8, 13, 16, 24, 32, 40)), rng.randint(1, 31),
                         rng.randint(1, 31), kh=kh, kw=kw, stride=stride, padding=padding,
                         dilation=dilation, bias=bias, residual=rng.random() < 0.5, act=act,
                         explicit_channels=(act == "sigmoid" and not bias) or rng.random() < 0.3)
        pt, pb, pl, pr = case.pads()
        if dilation * (kh - 1) + 1 > case.h + pt + pb or dilation * (kw - 1) + 1 > case.w + pl + pr:
            continue
        out.append(case)
    return out


CASES = NAMED + GRID + random_cases(30, seed=24)
_OPERANDS: dict[str, tuple] = {}


def operands(case: NchwcCase):
    """(x, w, b, r, ref, scale) in NCHW: float32 operands, the float64 reference and its
    element-wise error scale."""
    key = repr(case)
    if key not in _OPERANDS:
        g = torch.Generator().manual_seed(zlib.crc32(case.describe().encode()))
        x = torch.randn(case.n, case.c, case.h, case.w, generator=g)
        w = torch.randn(case.c, 1, case.kh, case.kw, generator=g)
        b = torch.randn(case.c, generator=g) if case.bias else None
        pt, pb, pl, pr = case.pads()
        xp = F.pad(x.double(), (pl, pr, pt, pb))
        conv = F.conv2d(xp, w.double(), None if b is None else b.double(),
                        stride=case.stride, dilation=case.dilation, groups=case.c)
        scale = F.conv2d(xp.abs(), w.double().abs(), None if b is None else b.double().abs(),
                         stride=case.stride, dilation=case.dilation, groups=case.c)
        r = torch.randn(conv.shape, generator=g) if case.residual else None
        if r is not None:
            conv, scale = conv + r.double(), scale + r.double().abs()
        ref = ACT64[case.act](conv)
        _OPERANDS[key] = (x, w, b, r, ref, LIPSCHITZ[case.act] * scale + ref.abs())
    return _OPERANDS[key]


def run_case(case: NchwcCase, block: int):
    x, w, b, r, _, _ = operands(case)
    return depthwise_conv2d_nchwc(
        to_nchwc(x, block), pack_depthwise_nchwc(w, block), b,
        None if r is None else to_nchwc(r, block), activation=case.act,
        channels=case.c if case.explicit_channels else None, **case.kwargs())


def padded_lanes(out: torch.Tensor, channels: int) -> torch.Tensor:
    n, cb, oh, ow, block = out.shape
    return out.permute(0, 1, 4, 2, 3).reshape(n, cb * block, oh, ow)[:, channels:]


@pytest.mark.parametrize("block", (8, 16))
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.name}[{c.describe()}]")
def test_depthwise_nchwc_matches_float64(case, block, cpu_isa):
    x, w, b, r, ref, scale = operands(case)
    out = run_case(case, block)
    assert out.shape == (case.n, -(-case.c // block), ref.shape[2], ref.shape[3], block)
    lanes = padded_lanes(out, case.c)
    assert torch.equal(lanes, torch.zeros_like(lanes)), "padded channels are not exactly zero"
    assert_matches_reference(from_nchwc(out, case.c), ref, scale)


def test_cases_cover_the_space():
    assert {c.act for c in CASES} == set(ACTIVATIONS)
    assert any(c.c % 16 == 0 for c in CASES) and any(c.c % 8 for c in CASES)
    assert {(c.kh, c.kw) for c in CASES} >= {(1, 1), (3, 3), (5, 5), (7, 7)}
    assert any(c.dilation == 2 for c in CASES) and any(c.stride == 2 for c in CASES)
    assert any(len(c.padding) == 4 for c in CASES if isinstance(c.padding, tuple))


def test_pack_layout():
    w = torch.randn(13, 1, 3, 5)
    for block in (8, 16):
        p = pack_depthwise_nchwc(w, block)
        assert p.shape == (-(-13 // block), 3, 5, block) and p.is_contiguous()
        for c in range(13):
            assert torch.equal(p[c // block, :, :, c % block], w[c, 0])
        assert not p.reshape(-1, 3, 5, block).permute(0, 3, 1, 2).reshape(-1, 3, 5)[13:].any()


@pytest.mark.parametrize("block", (8, 16))
def test_threads_agree(block, cpu_isa):
    """Row chunks move with the thread count, never the order of a sum: bitwise equal."""
    case = _c("threads", 1, 13, 40, 23, act="hardswish", residual=True)
    _, _, _, _, ref, scale = operands(case)
    before = torch.get_num_threads()
    try:
        outs = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            outs.append(run_case(case, block))
        assert all(torch.equal(o, outs[0]) for o in outs)
        assert_matches_reference(from_nchwc(outs[0], case.c), ref, scale)
    finally:
        torch.set_num_threads(before)


def test_non_contiguous_operands():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(1, 13, 12, 10, generator=g)
    w = torch.randn(13, 1, 3, 3, generator=g)
    xb = to_nchwc(x, 8)
    big = torch.zeros(1, 2, 12, 20, 8)
    big[:, :, :, ::2] = xb  # a strided view holding the same values
    res = to_nchwc(torch.randn(1, 13, 12, 10, generator=g), 8)
    wide = torch.zeros(1, 2, 12, 10, 16)
    wide[..., :8] = res
    out = depthwise_conv2d_nchwc(big[:, :, :, ::2], pack_depthwise_nchwc(w, 8),
                                 residual=wide[..., :8], padding=1)
    expect = depthwise_conv2d_nchwc(xb, pack_depthwise_nchwc(w, 8), residual=res, padding=1)
    assert torch.equal(out, expect)


def test_zero_batch():
    out = depthwise_conv2d_nchwc(torch.zeros(0, 2, 5, 5, 8),
                                 pack_depthwise_nchwc(torch.randn(13, 1, 3, 3), 8), padding=1)
    assert out.shape == (0, 2, 5, 5, 8)


@pytest.mark.parametrize("case", [c for c in NAMED if c.name.startswith(("3x3", "5x5", "7x7"))],
                         ids=lambda c: c.name)
def test_meta_shapes(case):
    x = torch.empty(case.n, -(-case.c // 8), case.h, case.w, 8, device="meta")
    wp = torch.empty(x.shape[1], case.kh, case.kw, 8, device="meta")
    out = depthwise_conv2d_nchwc(x, wp, activation=case.act, channels=case.c, **case.kwargs())
    ref = operands(case)[4]
    assert out.device.type == "meta" and out.shape == (case.n, x.shape[1], *ref.shape[2:], 8)


@pytest.mark.parametrize("case", [_c("plain", 2, 13, 7, 9, act="relu6", residual=True),
                                  _c("s2-no-bias", 1, 16, 9, 8, stride=(2, 1), bias=False,
                                     act="hardswish"),
                                  _c("dilated-sigmoid", 1, 5, 8, 8, dilation=2, padding=(2, 1),
                                     act="sigmoid", residual=True)],
                         ids=lambda c: c.name)
@pytest.mark.parametrize("block", (8, 16))
def test_opcheck(case, block):
    x, w, b, r, _, _ = operands(case)
    cb = -(-case.c // block)
    bp = None if b is None else F.pad(b, (0, cb * block - case.c))
    args = (to_nchwc(x, block), pack_depthwise_nchwc(w, block), bp,
            None if r is None else to_nchwc(r, block), case.c, list(_pair(case.stride, "s")),
            list(case.pads()), list(_pair(case.dilation, "d")), case.act)
    torch.library.opcheck(torch.ops.pybench.depthwise_conv2d_nchwc.default, args)


# --- errors ------------------------------------------------------------------------------

def _x(c=13, block=8, h=6, w=6, dtype=torch.float32):
    return torch.zeros(1, -(-c // block), h, w, block, dtype=dtype)


def _w(c=13, block=8, k=3):
    return pack_depthwise_nchwc(torch.ones(c, 1, k, k), block)


ERRORS = [
    # (id, kwargs of depthwise_conv2d_nchwc, exception, match)
    ("input-float64", dict(input=_x(dtype=torch.float64)), TypeError,
     "float32 input, got torch.float64"),
    ("input-rank-4", dict(input=torch.zeros(1, 13, 6, 6)), ValueError, "blocked layout"),
    ("input-block-4", dict(input=torch.zeros(1, 4, 6, 6, 4)), ValueError, r"block B .*got 4"),
    ("weight-unpacked", dict(weight_packed=torch.ones(13, 1, 3, 3)), ValueError,
     "packed by pack_depthwise_nchwc"),
    ("weight-other-block", dict(weight_packed=_w(block=16)), ValueError,
     "packed by pack_depthwise_nchwc"),
    ("weight-float64", dict(weight_packed=_w().double()), TypeError, "float32 weight"),
    ("bias-wrong-length", dict(bias=torch.ones(12), channels=13), ValueError,
     r"bias of shape \(13\) or \(16\), got \(12,\)"),
    ("bias-too-short-for-the-blocks", dict(bias=torch.ones(7)), ValueError,
     "7 channels do not fit"),
    ("bias-rank-2", dict(bias=torch.ones(2, 8), channels=13), ValueError, "bias of shape"),
    ("residual-wrong-shape", dict(residual=_x(h=5)), ValueError,
     "residual of the output's shape"),
    ("residual-float64", dict(residual=_x(dtype=torch.float64)), TypeError, "float32 residual"),
    ("activation-unknown", dict(activation="gelu"), ValueError, "unknown activation 'gelu'"),
    ("sigmoid-without-channels", dict(activation="sigmoid"), ValueError, "channels=C"),
    ("channels-too-many", dict(channels=17), ValueError, "17 channels do not fit"),
    ("channels-too-few", dict(channels=8), ValueError, "8 channels do not fit"),
    ("kernel-too-large", dict(input=_x(h=2, w=2), padding=0), ValueError,
     "Kernel size can't be greater"),
    ("stride-0", dict(stride=0), ValueError, "non-positive stride"),
    ("padding-negative", dict(padding=-1), ValueError, "negative padding"),
    ("dilation-0", dict(dilation=0), ValueError, "dilation should be greater than zero"),
]


@pytest.mark.parametrize("kwargs, error, match", [e[1:] for e in ERRORS],
                         ids=[e[0] for e in ERRORS])
def test_bad_arguments(kwargs, error, match):
    args = dict(input=_x(), weight_packed=_w(), padding=1)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        depthwise_conv2d_nchwc(**args)


RAW_ERRORS = [
    # (id, replaced positional arguments of the raw op, match)
    ("block-4", {0: torch.zeros(1, 4, 6, 6, 4), 1: torch.zeros(4, 3, 3, 4)}, "block B"),
    ("bias-not-padded", {2: torch.ones(13)}, r"bias padded to the blocks, of shape \(16\)"),
    ("channels-mismatch", {4: 20}, "channels = 20 does not fit"),
    ("activation-unknown", {8: "tanh"}, "unknown activation 'tanh'"),
    ("paddings-2", {6: [1, 1]}, "2 strides, 4 paddings"),
    ("weight-rank-3", {1: torch.zeros(2, 3, 8)}, "packed by pack_depthwise_nchwc"),
]


@pytest.mark.parametrize("replace, match", [e[1:] for e in RAW_ERRORS],
                         ids=[e[0] for e in RAW_ERRORS])
def test_bad_arguments_to_the_raw_op(replace, match):
    args = [_x(), _w(), None, None, 13, [1, 1], [1, 1, 1, 1], [1, 1], "none"]
    for i, v in replace.items():
        args[i] = v
    with pytest.raises(ValueError, match=match):
        torch.ops.pybench.depthwise_conv2d_nchwc(*args)


@pytest.mark.parametrize("weight, block, error, match", [
    (torch.ones(13, 2, 3, 3), 8, ValueError, r"\(C, 1, kH, kW\)"),
    (torch.ones(13, 1, 3), 8, ValueError, r"\(C, 1, kH, kW\)"),
    (torch.ones(13, 1, 3, 3), 12, ValueError, "block must be one of"),
    (torch.ones(13, 1, 3, 3, dtype=torch.int32), 8, TypeError, "floating-point"),
])
def test_pack_bad_arguments(weight, block, error, match):
    with pytest.raises(error, match=match):
        pack_depthwise_nchwc(weight, block)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensor_is_refused():
    with pytest.raises(ValueError, match="the blocked layout is a CPU layout"):
        depthwise_conv2d_nchwc(_x().cuda(), _w().cuda(), padding=1)
    with pytest.raises(ValueError, match="the blocked layout is a CPU layout"):
        depthwise_conv2d_nchwc(_x(), _w(), residual=_x().cuda(), padding=1)
