"""pybench::conv2d_maxpool_nchwc, a blocked direct convolution and the max pooling after it
run band by band of pooled rows (issue 14): exactly the two ops run one after the other
(the same kernels on the same sums, so bitwise equal), and through them against float64
F.conv2d -> act -> F.max_pool2d, on every CPU ISA and both blocks, one and two threads
(which change the bands and block groups), on shapes with channel tails, odd sizes, batch 1
to 3, conv stride 1 / 2 / 4, padding, dilation, an NCHW first layer, pool kernels 2 / 3,
stride 1 / 2, pool padding and dilation, ceil_mode, every activation, and seeded random
geometries; its bad inputs; and the conversion pass that uses it (VGG-11 / -16, AlexNet).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import pybench.nn as pnn
import pybench.ops as ops
from pybench import models

ACT = {"none": lambda t: t, "relu": F.relu, "relu6": F.relu6, "hardswish": F.hardswish,
       "sigmoid": torch.sigmoid}

# (n, c_in, c_out, h, w, kernel, stride, padding, dilation, act,
#  pool_kernel, pool_stride, pool_padding, pool_dilation, ceil_mode)
CASES = [
    (1, 16, 24, 23, 19, 3, 1, 1, 1, "relu", 2, 2, 0, 1, False),          # VGG's, odd size
    (2, 5, 17, 12, 13, 3, 2, 1, 1, "relu6", 3, 2, 1, 1, True),           # tails, ceil
    (3, 8, 20, 15, 11, 5, 1, 2, 1, "hardswish", 3, 1, 1, 1, False),      # stride-1 pool
    (1, 24, 40, 14, 14, 3, 1, 2, 2, "sigmoid", 2, 2, 0, 1, True),        # conv dilation
    (2, 3, 32, 67, 61, 11, 4, 2, 1, "relu", 3, 2, 0, 1, False),          # AlexNet's stem
    (1, 8, 8, 5, 4, 1, 1, 0, 1, "none", 2, 1, 1, 2, False),              # 1x1, pool dilation
    (1, 16, 36, 17, 9, 3, 1, (0, 2), 1, "relu", (3, 2), (2, 1), (1, 0), 1, True),
    (1, 8, 64, 56, 56, 3, 1, 1, 1, "relu", 2, 2, 0, 1, False),           # many bands
    (2, 32, 72, 9, 9, 3, 1, 1, 1, "relu", 3, 2, 1, 1, True),             # block groups
]


def _pair(v):
    return tuple(v) if isinstance(v, tuple) else (v, v)


def _operands(case, seed):
    n, c, k, h, w, ks, *_ = case
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=g)
    weight = torch.randn(k, c, ks, ks, generator=g) * (c * ks * ks) ** -0.5
    bias = torch.randn(k, generator=g)
    return x, weight, bias


def _pool_args(case):
    pk, ps, pp, pd, ceil = case[10:]
    return [list(_pair(pk)), list(_pair(ps)), list(_pair(pp)), list(_pair(pd)), ceil]


def _fused_and_separate(case, block, x, weight, bias):
    n, c, k, h, w, ks, stride, padding, dilation, act = case[:10]
    blocked = c >= block
    xb = ops.to_nchwc(x, block) if blocked else x
    wp = ops.pack_conv2d_nchwc(weight, block, blocked_input=blocked)
    bp = ops.pad_bias_nchwc(bias, k, block)
    ph, pw = _pair(padding)
    conv = [k, [stride] * 2, [ph, ph, pw, pw], [dilation] * 2, act]
    pool = _pool_args(case)
    fused = torch.ops.pybench.conv2d_maxpool_nchwc(xb, wp, bp, *conv, *pool)
    mid = torch.ops.pybench.conv2d_nchwc(xb, wp, bp, None, *conv)
    separate = torch.ops.pybench.pool2d_nchwc(mid, "max", *pool[:4], pool[4], True, None)
    return fused, separate


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("block", [8, 16])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:6])) + f"-{c[9]}")
def test_equals_the_two_ops_and_float64(cpu_isa, case, block, threads):
    n, c, k, h, w, ks, stride, padding, dilation, act = case[:10]
    x, weight, bias = _operands(case, seed=h * 100 + k)
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        fused, separate = _fused_and_separate(case, block, x, weight, bias)
    finally:
        torch.set_num_threads(old)
    assert fused.shape == separate.shape
    assert torch.equal(fused, separate)  # padded channels included: exact zeros in both
    pk, ps, pp, pd, ceil = case[10:]
    mid = ACT[act](F.conv2d(x.double(), weight.double(), bias.double(), stride, padding,
                            dilation))
    want = F.max_pool2d(mid, pk, ps, pp, pd, ceil_mode=ceil)
    got = ops.from_nchwc(fused, k).double()
    assert got.shape == want.shape
    assert ((got - want).norm() / want.norm()).item() <= 1e-5


def _random_cases(count, seed):
    """Seeded random geometries that PyTorch accepts: channels off the blocks, odd sizes,
    every activation, pool windows that do and do not overlap."""
    rng = torch.Generator().manual_seed(seed)

    def pick(*values):
        return values[int(torch.randint(len(values), (1,), generator=rng))]

    cases = []
    while len(cases) < count:
        ks, stride, dilation = pick(1, 3, 5), pick(1, 2), pick(1, 1, 2)
        padding = int(torch.randint(0, ks // 2 + 2, (1,), generator=rng))
        pk, ps, pd = pick(2, 3), pick(1, 2), pick(1, 1, 2)
        pp = int(torch.randint(0, pk // 2 + 1, (1,), generator=rng))
        h, w = (int(v) for v in torch.randint(4, 30, (2,), generator=rng))
        c, k = (int(v) for v in torch.randint(1, 41, (2,), generator=rng))
        oh = (h + 2 * padding - dilation * (ks - 1) - 1) // stride + 1
        ow = (w + 2 * padding - dilation * (ks - 1) - 1) // stride + 1
        window = (pk - 1) * pd + 1
        if min(oh, ow) < 1 or min(oh, ow) + 2 * pp < window or pp > window // 2:
            continue
        cases.append((pick(1, 2, 3), c, k, h, w, ks, stride, padding, dilation,
                      pick(*ACT), pk, ps, pp, pd, pick(False, True)))
    return cases


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("block", [8, 16])
def test_random_shapes(cpu_isa, block, threads):
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for i, case in enumerate(_random_cases(6, seed=block * 10 + threads)):
            x, weight, bias = _operands(case, seed=i)
            fused, separate = _fused_and_separate(case, block, x, weight, bias)
            assert torch.equal(fused, separate), case
            n, c, k, h, w, ks, stride, padding, dilation, act, pk, ps, pp, pd, ceil = case
            mid = ACT[act](F.conv2d(x.double(), weight.double(), bias.double(), stride,
                                    padding, dilation))
            want = F.max_pool2d(mid, pk, ps, pp, pd, ceil_mode=ceil)
            got = ops.from_nchwc(fused, k).double()
            assert ((got - want).norm() / want.norm()).item() <= 1e-5, case
    finally:
        torch.set_num_threads(old)


def test_public_wrapper_matches_the_op():
    case = CASES[1]
    x, weight, bias = _operands(case, seed=5)
    xb = ops.to_nchwc(x, 8)
    wp = ops.pack_conv2d_nchwc(weight, 8)
    bp = ops.pad_bias_nchwc(bias, 17, 8)
    got = ops.conv2d_maxpool_nchwc(xb, wp, bp, 17, stride=2, padding=1, activation="relu6",
                                   pool_kernel_size=3, pool_stride=2, pool_padding=1,
                                   ceil_mode=True)
    want = ops.max_pool2d_nchwc(ops.conv2d_nchwc(xb, wp, bp, None, 17, 2, 1, 1, "relu6"), 3, 2,
                                1, 1, True)
    assert torch.equal(got, want)
    # The pool's stride defaults to its kernel, as F.max_pool2d's.
    assert ops.conv2d_maxpool_nchwc(xb, wp, bp, 17, pool_kernel_size=2).shape == (2, 3, 5, 5, 8)


def test_bad_inputs_are_named():
    x, weight, bias = _operands(CASES[2], seed=1)
    xb = ops.to_nchwc(x, 8)
    wp = ops.pack_conv2d_nchwc(weight, 8)
    op = torch.ops.pybench.conv2d_maxpool_nchwc
    good = dict(bias=None, k=20, stride=[1, 1], pads=[2, 2, 2, 2], dil=[1, 1], act="relu",
                pk=[3, 3], ps=[2, 2], pp=[1, 1], pd=[1, 1], ceil=False)

    def call(xb=xb, wp=wp, **kw):
        a = {**good, **kw}
        return op(xb, wp, a["bias"], a["k"], a["stride"], a["pads"], a["dil"], a["act"],
                  a["pk"], a["ps"], a["pp"], a["pd"], a["ceil"])

    assert call().shape == (3, 3, 8, 6, 8)
    with pytest.raises(TypeError, match="float32"):
        call(xb=xb.double())
    with pytest.raises(ValueError, match="blocked layout"):
        call(xb=xb[0, 0])
    with pytest.raises(ValueError, match="does not match the packed weight"):
        call(xb=x)  # NCHW where the weight was packed for a blocked input
    with pytest.raises(ValueError, match="unknown activation"):
        call(act="gelu")
    with pytest.raises(ValueError, match="does not fill"):
        call(k=25)
    with pytest.raises(ValueError, match="kernel_size must be greater than zero"):
        call(pk=[0, 3])
    with pytest.raises(ValueError, match="stride must be greater than zero"):
        call(ps=[2, 0])
    with pytest.raises(ValueError, match="pad should be"):
        call(pp=[2, 1])
    with pytest.raises(ValueError, match="too small"):
        call(pk=[16, 3], pp=[0, 0])
    with pytest.raises(ValueError, match="expected 2 kernel sizes"):
        call(pd=[1])
    # The Python wrapper's own checks.
    with pytest.raises(ValueError, match="pool_kernel_size"):
        ops.conv2d_maxpool_nchwc(xb, wp, None, 20, padding=2, pool_kernel_size="3")
    with pytest.raises(ValueError, match="pad should be"):
        ops.conv2d_maxpool_nchwc(xb, wp, None, 20, padding=2, pool_kernel_size=2,
                                 pool_padding=2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_input_is_refused():
    x, weight, _ = _operands(CASES[2], seed=1)
    xb = ops.to_nchwc(x, 8).cuda()
    with pytest.raises(ValueError, match="CPU layout|on cuda"):
        ops.conv2d_maxpool_nchwc(xb, ops.pack_conv2d_nchwc(weight, 8).cuda(), None, 20,
                                 pool_kernel_size=2)


@pytest.mark.parametrize("case", [CASES[1], CASES[4]], ids=["blocked", "nchw"])
def test_opcheck(case):
    x, weight, bias = _operands(case, seed=2)
    n, c, k, h, w, ks, stride, padding, dilation, act = case[:10]
    blocked = c >= 8
    ph, pw = _pair(padding)
    args = (ops.to_nchwc(x, 8) if blocked else x,
            ops.pack_conv2d_nchwc(weight, 8, blocked_input=blocked),
            ops.pad_bias_nchwc(bias, k, 8), k, [stride] * 2, [ph, ph, pw, pw], [dilation] * 2,
            act, *_pool_args(case))
    torch.library.opcheck(torch.ops.pybench.conv2d_maxpool_nchwc, args)


def _small_classifier(model: nn.Module) -> nn.Module:
    # The classifiers (100M+ parameters in VGG's) have nothing to do with the pools and
    # would dominate the test's time and memory; the feature extractors are the models'.
    first = next(m for m in model.classifier.modules() if isinstance(m, nn.Linear))
    model.classifier = nn.Linear(first.in_features, 10)
    return model


def _pairs_fused(model) -> list:
    return [c for c in model.pybench_report.converted if "maxpool, fused" in c[1]]


@pytest.mark.parametrize("name,size,pairs", [("vgg11", 64, 5), ("vgg16", 64, 5),
                                             ("alexnet", 95, 3)])
def test_convert_fuses_pairs_with_the_same_results(name, size, pairs):
    spec = models.get(name)
    x = spec.example_input(2, seed=3, size=size)
    model = models.preserve_signal(_small_classifier(spec.build()), x)
    kw = dict(example_inputs=(x,), layout="nchwc", winograd="never")
    never = pnn.convert(model, fuse_pool="never", **kw)
    always = pnn.convert(model, fuse_pool="always", **kw)
    auto = pnn.convert(model, **kw)
    assert len(_pairs_fused(always)) == pairs
    assert not _pairs_fused(never)
    # Every pair was timed both ways under "auto", and the choices are listed with times.
    timed = [c for c in auto.pybench_report.choices if c.rule == "conv + maxpool fused"]
    assert len(timed) == pairs and {c.chosen for c in timed} <= {"fused", "separate"}
    assert all(c.pybench_s > 0 and c.torch_s > 0 for c in timed)
    assert len(_pairs_fused(auto)) == sum(c.chosen == "fused" for c in timed)
    with torch.inference_mode():
        want = model(x)
        out = never(x)
        assert torch.equal(always(x), out)
        assert torch.equal(auto(x), out)
    assert ((out - want).norm() / want.norm()).item() <= 1e-4
    with pytest.raises(ValueError, match="fuse_pool must be"):
        pnn.convert(model, fuse_pool="yes", **kw)


def test_convert_leaves_winograd_convolutions_separate():
    spec = models.get("vgg11")
    x = spec.example_input(1, seed=4, size=32)
    model = models.preserve_signal(_small_classifier(spec.build()), x)
    m = pnn.convert(model, example_inputs=(x,), layout="nchwc", winograd="always",
                    fuse_pool="always")
    # Every 3x3 of a blocked input runs Winograd; only the first convolution (NCHW input,
    # direct) is fused with its pool.
    assert [c[0] for c in _pairs_fused(m)] == ["features_0__features_2"]
    with torch.inference_mode():
        want = model(x)
        assert ((m(x) - want).norm() / want.norm()).item() <= 1e-4
