"""pybench::conv1x1_depthwise_nchwc, the blocked 1x1 -> depthwise pair run band by band of
rows (issue 24): exactly the two ops run one after the other (the same kernels on the same
sums, so bitwise equal), and through them against float64 F.conv2d, on every CPU ISA and
both blocks, on shapes with channel tails, odd sizes, batch 1 and 3, stride 1 and 2,
asymmetric padding, dilation, every activation, one and two threads (which change the
bands); the conversion pass that uses it; and its bad inputs.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import pybench.nn as pnn
import pybench.ops as ops
from pybench import models
from pybench.ops.depthwise_nchwc import _nchwc_padding

ACT = {"none": lambda t: t, "relu": F.relu, "relu6": F.relu6, "hardswish": F.hardswish,
       "sigmoid": torch.sigmoid}

# (n, c_in, c_mid, h, w, kernel, stride, padding, dilation, act1, act2)
CASES = [
    (1, 16, 96, 23, 19, 3, 2, 1, 1, "relu6", "relu6"),
    (3, 8, 20, 9, 7, 3, 1, 1, 1, "none", "hardswish"),
    (1, 24, 40, 31, 5, 3, 1, (0, 2), 1, "hardswish", "relu"),
    (2, 5, 17, 12, 13, 5, 2, 2, 1, "relu", "sigmoid"),
    (1, 32, 48, 14, 14, 3, 1, 2, 2, "relu6", "none"),
    (1, 16, 16, 1, 9, 3, 1, 1, 1, "relu", "relu6"),
    (1, 8, 144, 56, 56, 3, 1, 1, 1, "relu6", "relu6"),
]


def _operands(case, block, seed):
    n, c, m, h, w, k, *_ = case
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=g)
    w1 = torch.randn(m, c, 1, 1, generator=g) * c ** -0.5
    b1 = torch.randn(m, generator=g)
    wd = torch.randn(m, 1, k, k, generator=g) / k
    bd = torch.randn(m, generator=g)
    return x, w1, b1, wd, bd


def _fused_and_separate(case, block, x, w1, b1, wd, bd):
    n, c, m, h, w, k, stride, padding, dilation, act1, act2 = case
    xb = ops.to_nchwc(x, block)
    pw = ops.pack_conv2d_nchwc(w1, block)
    pb = ops.pad_bias_nchwc(b1, m, block)
    dw = ops.pack_depthwise_nchwc(wd, block)
    db = ops.pad_bias_nchwc(bd, m, block)
    s, d = (stride, stride), (dilation, dilation)
    pads = list(_nchwc_padding(padding, (k, k), s, d))
    fused = torch.ops.pybench.conv1x1_depthwise_nchwc(xb, pw, pb, m, act1, dw, db, list(s),
                                                      pads, list(d), act2)
    mid = torch.ops.pybench.conv2d_nchwc(xb, pw, pb, None, m, [1, 1], [0, 0, 0, 0], [1, 1],
                                         act1)
    separate = torch.ops.pybench.depthwise_conv2d_nchwc(mid, dw, db, None, m, list(s), pads,
                                                        list(d), act2)
    return fused, separate


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("block", [8, 16])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:5])) + f"-s{c[6]}")
def test_equals_the_two_ops_and_float64(cpu_isa, case, block, threads):
    n, c, m, h, w, k, stride, padding, dilation, act1, act2 = case
    x, w1, b1, wd, bd = _operands(case, block, seed=h * 100 + m)
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        fused, separate = _fused_and_separate(case, block, x, w1, b1, wd, bd)
    finally:
        torch.set_num_threads(old)
    assert fused.shape == separate.shape
    assert torch.equal(fused, separate)  # padded channels included: exact zeros in both
    pad = padding if isinstance(padding, tuple) else (padding, padding)
    mid = ACT[act1](F.conv2d(x.double(), w1.double(), b1.double()))
    want = ACT[act2](F.conv2d(mid, wd.double(), bd.double(), stride, pad, dilation, groups=m))
    got = ops.from_nchwc(fused, m).double()
    assert ((got - want).norm() / want.norm()).item() <= 1e-5


def test_bad_inputs_are_named():
    case = CASES[1]
    x, w1, b1, wd, bd = _operands(case, 8, seed=1)
    xb = ops.to_nchwc(x, 8)
    pw = ops.pack_conv2d_nchwc(w1, 8)
    dw = ops.pack_depthwise_nchwc(wd, 8)
    op = torch.ops.pybench.conv1x1_depthwise_nchwc
    good = dict(bias=None, m=20, act1="none", dw=dw, stride=[1, 1], pads=[1, 1, 1, 1],
                dil=[1, 1], act2="none")

    def call(xb=xb, pw=pw, **kw):
        a = {**good, **kw}
        return op(xb, pw, a["bias"], a["m"], a["act1"], a["dw"], None, a["stride"], a["pads"],
                  a["dil"], a["act2"])

    assert call().shape == (3, 3, 9, 7, 8)
    with pytest.raises(ValueError, match="expected a 1x1 weight"):
        call(pw=ops.pack_conv2d_nchwc(torch.randn(20, 8, 3, 3), 8))
    with pytest.raises(ValueError, match="pack_depthwise_nchwc"):
        call(dw=ops.pack_depthwise_nchwc(torch.randn(28, 1, 3, 3), 8))
    with pytest.raises(ValueError, match="unknown activation"):
        call(act2="gelu")
    with pytest.raises(ValueError, match="does not fill"):
        call(m=25)
    with pytest.raises(TypeError, match="float32"):
        call(xb=xb.double())
    with pytest.raises(ValueError, match="does not match the packed weight"):
        call(xb=x)  # NCHW where the 1x1 was packed for a blocked input


def test_opcheck():
    case = CASES[1]
    x, w1, b1, wd, bd = _operands(case, 8, seed=2)
    args = (ops.to_nchwc(x, 8), ops.pack_conv2d_nchwc(w1, 8), ops.pad_bias_nchwc(b1, 20, 8),
            20, "relu6", ops.pack_depthwise_nchwc(wd, 8), ops.pad_bias_nchwc(bd, 20, 8),
            [2, 2], [1, 1, 1, 1], [1, 1], "hardswish")
    torch.library.opcheck(torch.ops.pybench.conv1x1_depthwise_nchwc, args)


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v1"])
def test_convert_fuses_pairs_with_the_same_results(name):
    spec = models.get(name)
    x = spec.example_input(2, seed=3, size=96)
    model = models.preserve_signal(spec.build(), x)
    never = pnn.convert(model, example_inputs=(x,), layout="nchwc", fuse_depthwise="never")
    always = pnn.convert(model, example_inputs=(x,), layout="nchwc", fuse_depthwise="always")
    auto = pnn.convert(model, example_inputs=(x,), layout="nchwc")
    fused = [c for c in always.pybench_report.converted if "fused by row bands" in c[1]]
    assert len(fused) >= 10
    assert not [c for c in never.pybench_report.converted if "fused by row bands" in c[1]]
    # Every pair was timed both ways under "auto", and the choices are listed.
    timed = [c for c in auto.pybench_report.choices if c.rule == "conv1x1 + depthwise fused"]
    assert len(timed) == len(fused) and {c.chosen for c in timed} <= {"fused", "separate"}
    with torch.inference_mode():
        assert torch.equal(always(x), never(x))
        assert torch.equal(auto(x), never(x))
    with pytest.raises(ValueError, match="fuse_depthwise must be"):
        pnn.convert(model, example_inputs=(x,), layout="nchwc", fuse_depthwise="yes")
