"""pybench.ops.separable_conv2d against the unfused float64 sequence
act(F.conv2d(act(F.conv2d(x, dw, dw_b, groups=C)), pw, pw_b)), on every CPU ISA and (where
present) CUDA. Accuracy as in test_depthwise_conv2d.py, the element-wise scale being the
same sequence on the absolute operands without activations (an upper bound of what the
float32 rounding of both sums is proportional to).
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
from conftest import assert_matches_reference, assert_stacking_changes_no_bit, device_params
from test_depthwise_conv2d import DwCase, _cuda_once, _f64

ACTS = {"none": lambda t: t, "relu": F.relu, "relu6": F.relu6}


@dataclasses.dataclass(frozen=True)
class SepCase:
    dw: DwCase
    k: int                     # pointwise output channels
    activation: str = "relu"
    pw_activation: str | None = None
    pw_bias: bool = True

    @property
    def name(self):
        return self.dw.name

    def describe(self):
        return (f"{self.dw.describe()}-k{self.k}-{self.activation}"
                f"-{self.pw_activation or 'same'}" + ("-pb" if self.pw_bias else ""))


def _s(name, n, c, h, w, k, activation="relu", pw_activation=None, pw_bias=True, **kw):
    return SepCase(DwCase(name, n, c, h, w, **kw), k, activation, pw_activation, pw_bias)


# The fused kernel's own boundaries on top of the depthwise ones: pointwise register
# tiles (6 x 4 zmm / 4 x 3 ymm) with output-channel and position tails, mid tiles of
# several row groups (kMidBytes), output-channel chunks when there are few tiles (batch 1,
# 2 threads), every activation pair.
NAMED = [
    _s("3x3-s1", 1, 32, 14, 14, 64, padding=1),
    _s("3x3-s2-odd", 2, 17, 15, 13, 23, padding=1, stride=2),
    _s("5x5-s1-mult2", 1, 5, 12, 11, 7, kh=5, kw=5, m=2, padding=2),
    _s("5x5-s2", 1, 8, 17, 17, 9, kh=5, kw=5, stride=2, padding=2),
    _s("dil2-mult3", 3, 3, 11, 10, 5, m=3, dilation=2, padding=2),
    _s("generic-1x3-s1x2", 1, 6, 9, 20, 13, kh=1, kw=3, stride=(1, 2), padding=(0, 1)),
    _s("act-none", 1, 9, 10, 10, 11, "none", padding=1),
    _s("act-relu6", 2, 9, 10, 10, 11, "relu6", padding=1),
    _s("v2-linear-bottleneck", 1, 24, 14, 14, 16, "relu6", "none", padding=1),
    _s("relu-then-relu6", 1, 7, 8, 9, 5, "relu", "relu6", padding=1),
    _s("no-biases", 1, 16, 9, 9, 24, pw_bias=False, bias=False, padding=1),
    _s("k1", 1, 8, 9, 9, 1, padding=1),
    _s("k-tails", 1, 8, 9, 9, 13, padding=1),
    _s("positions-tail", 1, 4, 5, 13, 7, padding=1),
    _s("unbatched", None, 5, 9, 11, 6, padding=1),
    _s("narrow-7", 1, 40, 7, 7, 33, padding=1),
    _s("tiny", 1, 1, 1, 1, 3, padding=1),
    # small images stacked in one work item, the last block shorter, tiles across images
    _s("stack-7x7-b5", 5, 40, 7, 7, 33, padding=1),
    _s("stack-5x5-s2-mult2", 4, 12, 6, 6, 17, kh=5, kw=5, m=2, stride=2, padding=2),
    _s("stack-3x3-b3", 3, 17, 3, 3, 23, "relu6", "none", padding=1),
    _s("mid-tiles", 1, 96, 56, 56, 24, "relu6", "none", padding=1),
    _s("mid-tiles-s2", 2, 64, 57, 45, 10, stride=2, padding=1),
    _s("many-k", 1, 16, 7, 7, 200, padding=1),
    _s("mobilenet-v1-7", 1, 256, 7, 7, 256, padding=1, bias=True),
]


def random_cases(count, seed):
    rng = random.Random(seed)
    out = []
    while len(out) < count:
        k = rng.choice(((3, 3), (3, 3), (5, 5), (1, 1), (3, 1)))
        stride = rng.choice((1, 2, (1, 2)))
        dilation = rng.choice((1, 1, 2))
        padding = rng.randint(0, 2 * dilation)
        case = SepCase(DwCase(f"random{len(out)}", rng.choice((None, 1, 2, 3)),
                              rng.choice((1, 3, 16, 17, 33)), rng.randint(1, 30),
                              rng.randint(1, 30), m=rng.choice((1, 1, 2)), kh=k[0], kw=k[1],
                              stride=stride, padding=padding, dilation=dilation,
                              bias=rng.random() < 0.7),
                       rng.choice((1, 5, 6, 7, 16, 25, 31)),
                       rng.choice(ops.ACTIVATIONS), rng.choice((None,) + ops.ACTIVATIONS),
                       rng.random() < 0.7)
        d = case.dw
        if dilation * (k[0] - 1) + 1 > d.h + 2 * padding or dilation * (k[1] - 1) + 1 > d.w + 2 * padding:
            continue
        out.append(case)
    return out


CASES = NAMED + random_cases(30, seed=55)

_OPERANDS: dict[str, tuple] = {}


def reference_separable_conv2d(x, dw, pw, dw_b, pw_b, activation, pw_activation=None, **kw):
    """The unfused sequence in float64, and its scale (absolute operands, no activations)."""
    act, pw_act = ACTS[activation], ACTS[pw_activation or activation]
    c = x.shape[-3]
    x64, dw64, pw64, db64, pb64 = map(_f64, (x, dw, pw, dw_b, pw_b))
    absn = lambda t: None if t is None else t.abs()  # noqa: E731
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Using padding='same'")
        ref = pw_act(F.conv2d(act(F.conv2d(x64, dw64, db64, groups=c, **kw)), pw64, pb64))
        scale = F.conv2d(F.conv2d(x64.abs(), dw64.abs(), absn(db64), groups=c, **kw), pw64.abs(),
                         absn(pb64))
    return ref, scale


def operands(case: SepCase):
    key = repr(case)
    if key not in _OPERANDS:
        d = case.dw
        g = torch.Generator().manual_seed(zlib.crc32(case.describe().encode()))
        x = torch.randn(d.input_shape(), generator=g)
        dw = torch.randn(d.weight_shape(), generator=g)
        pw = torch.randn(case.k, d.c * d.m, 1, 1, generator=g)
        db = torch.randn(d.c * d.m, generator=g) if d.bias else None
        pb = torch.randn(case.k, generator=g) if case.pw_bias else None
        _OPERANDS[key] = (x, dw, pw, db, pb, *reference_separable_conv2d(
            x, dw, pw, db, pb, case.activation, case.pw_activation, **d.kwargs()))
    return _OPERANDS[key]


def _run(case, device):
    x, dw, pw, db, pb, ref, scale = operands(case)
    to = lambda t: None if t is None else t.to(device)  # noqa: E731
    out = ops.separable_conv2d(to(x), to(dw), to(pw), to(db), to(pb), **case.dw.kwargs(),
                               activation=case.activation, pw_activation=case.pw_activation)
    assert out.device == to(x).device
    assert_matches_reference(out, ref, scale)


@pytest.mark.parametrize("device", device_params())
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.name}[{c.describe()}]")
def test_separable_matches_float64(device, case, cpu_isa):
    _cuda_once(device, cpu_isa)
    _run(case, device)


def test_random_cases_cover_the_space():
    rnd = CASES[len(NAMED):]
    assert {c.activation for c in rnd} == set(ops.ACTIVATIONS)
    assert {c.dw.m > 1 for c in rnd} == {True, False}
    assert any(c.dw.stride == 2 for c in rnd) and any(c.dw.dilation == 2 for c in rnd)


@pytest.mark.parametrize("case", [NAMED[0], NAMED[-3], NAMED[-2]], ids=lambda c: c.name)
def test_separable_threads_agree(case, cpu_isa):
    before = torch.get_num_threads()
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            _run(case, "cpu")
    finally:
        torch.set_num_threads(before)


STACK_CASES = [c for c in NAMED if c.name.startswith("stack-")] + [
    c for c in random_cases(60, seed=77) if (c.dw.n or 1) > 1][:12]


@pytest.mark.parametrize("case", STACK_CASES, ids=lambda c: f"{c.name}[{c.describe()}]")
def test_separable_stacking_changes_no_bit(case, cpu_isa):
    """Stacking small images in one work item (separable_conv2d_fused.h) moves outputs
    between pointwise tiles but never reorders a sum: bitwise one image per item."""
    if cpu_isa == "scalar":
        pytest.skip("the scalar kernel has no work items to stack")
    x, dw, pw, db, pb, _, _ = operands(case)
    assert_stacking_changes_no_bit(lambda: (ops.separable_conv2d(
        x, dw, pw, db, pb, **case.dw.kwargs(), activation=case.activation,
        pw_activation=case.pw_activation),))


def test_separable_nan_propagates_like_torch(cpu_isa):
    """relu / relu6 keep a NaN (as torch.relu does) rather than clamping it away."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 4, 9, 9, generator=g)
    x[0, 1, 4, 4] = float("nan")
    dw, pw = torch.randn(4, 1, 3, 3, generator=g), torch.randn(5, 4, 1, 1, generator=g)
    for act in ops.ACTIVATIONS:
        out = ops.separable_conv2d(x, dw, pw, padding=1, activation=act)
        ref = ACTS[act](F.conv2d(ACTS[act](F.conv2d(x, dw, padding=1, groups=4)), pw))
        assert torch.equal(out.isnan(), ref.isnan()) and out.isnan().any()


def test_separable_non_contiguous(cpu_isa):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 12, 11, 10, generator=g).contiguous(memory_format=torch.channels_last)[:, ::2]
    dw = torch.randn(12, 1, 3, 3, generator=g).transpose(2, 3)
    pw = torch.randn(12, 7, 1, 1, generator=g).transpose(0, 1)
    ref, scale = reference_separable_conv2d(x, dw, pw, None, None, "relu6", padding=1)
    assert_matches_reference(ops.separable_conv2d(x, dw, pw, padding=1, activation="relu6"),
                             ref, scale)


def test_separable_zero_batch():
    out = ops.separable_conv2d(torch.randn(0, 3, 5, 5), torch.randn(3, 1, 3, 3),
                               torch.randn(4, 3, 1, 1), padding=1)
    assert out.shape == (0, 4, 5, 5)


def test_separable_meta_shapes():
    for case in NAMED[:8]:
        d = case.dw
        x = torch.empty(d.input_shape(), device="meta")
        dw = torch.empty(d.weight_shape(), device="meta")
        pw = torch.empty(case.k, d.c * d.m, 1, 1, device="meta")
        out = ops.separable_conv2d(x, dw, pw, **d.kwargs(), activation=case.activation)
        assert out.shape == F.conv2d(F.conv2d(x, dw, groups=d.c, **d.kwargs()), pw).shape


@pytest.mark.parametrize("case", [NAMED[1], NAMED[2], NAMED[8], NAMED[14]], ids=lambda c: c.name)
def test_separable_opcheck(case):
    x, dw, pw, db, pb, _, _ = operands(case)
    d = case.dw
    pads = ops.conv2d_padding(d.padding, (d.kh, d.kw), d.stride, d.dilation)
    args = (x, dw, pw, db, pb, list(ops._pair(d.stride, "s")), list(pads),
            list(ops._pair(d.dilation, "d")), case.activation,
            case.pw_activation or case.activation)
    torch.library.opcheck(torch.ops.pybench.separable_conv2d.default, args)


def test_separable_under_torch_compile():
    torch._dynamo.reset()

    def block(x, dw, pw):
        return ops.separable_conv2d(x, dw, pw, stride=2, padding=1, activation="relu6") + 1.0

    compiled = torch.compile(block, fullgraph=True, dynamic=True)
    g = torch.Generator().manual_seed(4)
    dw, pw = torch.randn(6, 1, 3, 3, generator=g), torch.randn(10, 6, 1, 1, generator=g)
    for shape in [(2, 6, 13, 11), (1, 6, 8, 17)]:
        x = torch.randn(shape, generator=g)
        ref, scale = reference_separable_conv2d(x, dw, pw, None, None, "relu6", stride=2,
                                                padding=1)
        assert_matches_reference(compiled(x, dw, pw) - 1.0, ref, scale)


# --- errors ------------------------------------------------------------------------------

def _t(*shape, dtype=torch.float32):
    return torch.ones(shape, dtype=dtype)


X, DW, PW = _t(1, 4, 6, 6), _t(4, 1, 3, 3), _t(5, 4, 1, 1)
ERRORS = [
    # (id, args, kwargs, exception, match)
    ("unknown-activation", (X, DW, PW), {"activation": "gelu"}, ValueError,
     "unknown activation 'gelu'"),
    ("unknown-pw-activation", (X, DW, PW), {"pw_activation": "tanh"}, ValueError,
     "unknown pw_activation 'tanh'"),
    ("dw-weight-not-depthwise", (X, _t(4, 4, 3, 3), PW), {}, ValueError,
     r"dw_weight of shape \(C\*m, 1, kH, kW\)"),
    ("dw-weight-rank-3", (X, _t(4, 3, 3), PW), {}, ValueError, "dw_weight of shape"),
    ("dw-weight-not-multiple", (X, _t(6, 1, 3, 3), PW), {}, ValueError, "channel multiplier"),
    ("pw-channel-mismatch", (X, DW, _t(5, 3, 1, 1)), {}, ValueError,
     "pw_weight has 3 input channels but the depthwise convolution produces 4"),
    ("pw-channel-mismatch-mult", (X, _t(8, 1, 3, 3), PW), {}, ValueError,
     "pw_weight has 4 input channels but the depthwise convolution produces 8"),
    ("pw-not-1x1", (X, DW, _t(5, 4, 3, 3)), {}, ValueError, r"pw_weight of shape \(out_channels, 4, 1, 1\)"),
    ("pw-rank-2", (X, DW, _t(5, 4)), {}, ValueError, "pw_weight of shape"),
    ("input-float64", (X.double(), DW, PW), {}, TypeError, "float32 input, got torch.float64"),
    ("dw-float64", (X, DW.double(), PW), {}, TypeError, "float32 dw_weight"),
    ("pw-float64", (X, DW, PW.double()), {}, TypeError, "float32 pw_weight"),
    ("dw-bias-shape", (X, DW, PW, _t(5)), {}, ValueError, r"dw_bias of shape \(4\)"),
    ("pw-bias-shape", (X, DW, PW, None, _t(4)), {}, ValueError, r"pw_bias of shape \(5\)"),
    ("pw-bias-float64", (X, DW, PW, None, _t(5, dtype=torch.float64)), {}, TypeError,
     "float32 pw_bias"),
    ("input-rank-2", (_t(4, 6), DW, PW), {}, ValueError, r"3-D \(unbatched\) or 4-D"),
    ("kernel-too-large", (_t(1, 4, 2, 2), DW, PW), {}, ValueError, "Kernel size can't be greater"),
    ("stride-0", (X, DW, PW), {"stride": 0}, ValueError, "non-positive stride"),
]


@pytest.mark.parametrize("args, kwargs, error, match", [e[1:] for e in ERRORS],
                         ids=[e[0] for e in ERRORS])
def test_separable_bad_arguments(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        ops.separable_conv2d(*args, **kwargs)


def test_separable_bad_activation_to_the_raw_op():
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        torch.ops.pybench.separable_conv2d(X, DW, PW, None, None, [1, 1], [0, 0, 0, 0], [1, 1],
                                           "swish", "none")


@pytest.mark.parametrize("device", device_params()[1:])
def test_separable_device_mismatch(device):
    for args in [(X.to(device), DW, PW), (X, DW, PW.to(device)),
                 (X.to(device), DW.to(device), PW)]:
        with pytest.raises(RuntimeError, match="(?i)cpu|cuda"):
            ops.separable_conv2d(*args)
