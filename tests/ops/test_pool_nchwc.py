"""pybench.ops.{max,avg,adaptive_avg}_pool2d_nchwc against PyTorch's pooling in float64, on
every CPU ISA and both blocks (8, 16; AVX2 runs B = 16 as two ymm per pixel, AVX-512 runs
B = 8 on ymm).

Max pooling picks one input, so it must match exactly (bitwise, NaN where a window holds
one). Average pooling sums in float32 against the float64 reference: relative 1e-5 of the
window's sum of |x| divided by its divisor. Padded channels of a zero-padded input must
come out exactly zero.
"""
from __future__ import annotations

import dataclasses
import math
import zlib

import pytest
import torch
import torch.nn.functional as F

from conftest import assert_matches_reference
from pybench.ops.nchwc import from_nchwc, to_nchwc
from pybench.ops.pool_nchwc import adaptive_avg_pool2d_nchwc, avg_pool2d_nchwc, max_pool2d_nchwc


@dataclasses.dataclass(frozen=True)
class PoolCase:
    name: str
    n: int
    c: int
    h: int
    w: int
    kernel: int | tuple
    stride: int | tuple | None = None
    padding: int | tuple = 0
    dilation: int | tuple = 1
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor_override: int | None = None


# The models' poolings (GoogLeNet's 3x3 s1 p1 and 3x3 s2 ceil_mode, ResNet's 3x3 s2 p1,
# VGG's 2x2, DenseNet's 2x2 avg), and the edges: ceil_mode windows hanging past the
# padded input (the avg divisor's span), odd sizes, 1-pixel outputs, rectangular
# kernels / strides / paddings, dilation, channel tails, batch > 1.
CASES = [
    PoolCase("googlenet-3x3-s1-p1-ceil", 1, 40, 14, 14, 3, 1, 1, ceil_mode=True),
    PoolCase("googlenet-3x3-s2-ceil", 1, 24, 28, 28, 3, 2, 0, ceil_mode=True),
    PoolCase("resnet-3x3-s2-p1", 2, 16, 15, 17, 3, 2, 1),
    PoolCase("vgg-2x2", 1, 13, 12, 10, 2),
    PoolCase("odd-2x2-ceil", 1, 5, 7, 9, 2, ceil_mode=True),
    PoolCase("rect", 3, 19, 11, 13, (3, 2), (2, 1), (1, 0)),
    PoolCase("rect-ceil-pad", 1, 7, 10, 11, (2, 3), (3, 2), (1, 1), ceil_mode=True),
    PoolCase("whole-image", 1, 9, 5, 6, (5, 6)),
    PoolCase("5x5-s3-p2-ceil", 2, 33, 13, 8, 5, 3, 2, ceil_mode=True),
    PoolCase("one-pixel", 1, 3, 1, 1, 1),
    PoolCase("1x1-s2", 1, 17, 9, 9, 1, 2),
    PoolCase("no-pad-count", 1, 21, 9, 11, 3, 2, 1, count_include_pad=False),
    PoolCase("no-pad-count-ceil", 2, 8, 8, 7, 3, 2, 1, ceil_mode=True, count_include_pad=False),
    PoolCase("divisor", 1, 12, 7, 7, 3, 1, 1, divisor_override=5),
    PoolCase("divisor-negative", 1, 12, 6, 6, 2, divisor_override=-3),
]
DILATED = [
    PoolCase("dil2", 1, 13, 11, 12, 3, 1, 1, dilation=2),
    PoolCase("dil-rect-ceil", 2, 20, 13, 10, (2, 3), (2, 3), (1, 1), dilation=(3, 2),
             ceil_mode=True),
]


def _input(case: PoolCase, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed + zlib.crc32(case.name.encode()))
    return torch.randn(case.n, case.c, case.h, case.w, generator=g)


def _padded_lanes(out: torch.Tensor, channels: int) -> torch.Tensor:
    n, cb, oh, ow, block = out.shape
    return out.permute(0, 1, 4, 2, 3).reshape(n, cb * block, oh, ow)[:, channels:]


@pytest.mark.parametrize("block", (8, 16))
@pytest.mark.parametrize("case", CASES + DILATED, ids=lambda c: c.name)
def test_max_pool_matches_pytorch_exactly(case, block, cpu_isa):
    x = _input(case)
    ref = F.max_pool2d(x.double(), case.kernel, case.stride, case.padding, case.dilation,
                       case.ceil_mode)
    out = max_pool2d_nchwc(to_nchwc(x, block), case.kernel, case.stride, case.padding,
                           case.dilation, case.ceil_mode)
    assert torch.equal(from_nchwc(out, case.c).double(), ref)
    assert not _padded_lanes(out, case.c).any()


@pytest.mark.parametrize("block", (8, 16))
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_avg_pool_matches_float64(case, block, cpu_isa):
    x = _input(case)
    args = (case.kernel, case.stride, case.padding, case.ceil_mode, case.count_include_pad,
            case.divisor_override)
    ref = F.avg_pool2d(x.double(), *args)
    scale = F.avg_pool2d(x.double().abs(), *args).abs()
    out = avg_pool2d_nchwc(to_nchwc(x, block), *args)
    assert_matches_reference(from_nchwc(out, case.c), ref, scale)
    assert not _padded_lanes(out, case.c).any()


@pytest.mark.parametrize("block", (8, 16))
@pytest.mark.parametrize("hw,out_size", [((7, 7), (1, 1)), ((13, 9), (4, 3)), ((6, 6), (6, 6)),
                                         ((5, 11), (7, 2)), ((10, 10), (3, None)),
                                         ((1, 1), (2, 2))])
def test_adaptive_avg_pool_matches_float64(hw, out_size, block, cpu_isa):
    x = torch.randn(2, 21, *hw, generator=torch.Generator().manual_seed(hw[0] * 31 + hw[1]))
    ref = F.adaptive_avg_pool2d(x.double(), out_size)
    out = adaptive_avg_pool2d_nchwc(to_nchwc(x, block), out_size)
    assert_matches_reference(from_nchwc(out, 21), ref,
                             F.adaptive_avg_pool2d(x.double().abs(), out_size))
    assert not _padded_lanes(out, 21).any()


@pytest.mark.parametrize("block", (8, 16))
def test_max_pool_nan_and_inf(block, cpu_isa):
    """A NaN anywhere in a window is that window's result, whichever tap it is (ATen's
    rule; the vector max alone would drop it); infinities pool as numbers."""
    x = torch.randn(1, 19, 9, 10, generator=torch.Generator().manual_seed(3))
    x[0, 0, 0, 0] = math.nan      # first tap of a window
    x[0, 5, 4, 4] = math.nan      # a middle tap, with larger values after it
    x[0, 5, 4, 5] = 100.0
    x[0, 18, 8, 9] = math.nan     # last tap, a channel of the tail block
    x[0, 7, 2, 2] = math.inf
    x[0, 8, 3, 3] = -math.inf
    ref = F.max_pool2d(x, 3, 2, 1, ceil_mode=True)
    out = from_nchwc(max_pool2d_nchwc(to_nchwc(x, block), 3, 2, 1, ceil_mode=True), 19)
    assert torch.equal(out.isnan(), ref.isnan()) and ref.isnan().sum() >= 3
    assert torch.equal(out.nan_to_num(0.0), ref.nan_to_num(0.0))


@pytest.mark.parametrize("block", (8, 16))
def test_threads_agree(block, cpu_isa):
    x = to_nchwc(torch.randn(2, 37, 33, 29, generator=torch.Generator().manual_seed(5)), block)
    before = torch.get_num_threads()
    try:
        outs = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            outs.append((max_pool2d_nchwc(x, 3, 2, 1), avg_pool2d_nchwc(x, 3, 1, 1)))
        assert all(torch.equal(a, outs[0][0]) and torch.equal(b, outs[0][1]) for a, b in outs)
    finally:
        torch.set_num_threads(before)


def test_non_contiguous_input():
    x = to_nchwc(torch.randn(1, 13, 12, 10, generator=torch.Generator().manual_seed(2)), 8)
    big = torch.zeros(1, 2, 12, 20, 8)
    big[:, :, :, ::2] = x
    assert torch.equal(max_pool2d_nchwc(big[:, :, :, ::2], 3, 2, 1), max_pool2d_nchwc(x, 3, 2, 1))


def test_zero_batch():
    assert max_pool2d_nchwc(torch.zeros(0, 2, 6, 6, 8), 2).shape == (0, 2, 3, 3, 8)
    assert adaptive_avg_pool2d_nchwc(torch.zeros(0, 2, 6, 6, 8), 1).shape == (0, 2, 1, 1, 8)


@pytest.mark.parametrize("case", CASES + DILATED, ids=lambda c: c.name)
def test_meta_shapes(case):
    x = torch.empty(case.n, -(-case.c // 16), case.h, case.w, 16, device="meta")
    ref = F.max_pool2d(torch.empty(case.n, case.c, case.h, case.w, device="meta"), case.kernel,
                       case.stride, case.padding, case.dilation, case.ceil_mode)
    out = max_pool2d_nchwc(x, case.kernel, case.stride, case.padding, case.dilation,
                           case.ceil_mode)
    assert out.device.type == "meta" and out.shape[2:4] == ref.shape[2:4]


@pytest.mark.parametrize("block", (8, 16))
def test_opcheck(block):
    x = to_nchwc(torch.randn(2, 13, 9, 8, generator=torch.Generator().manual_seed(4)), block)
    torch.library.opcheck(torch.ops.pybench.pool2d_nchwc.default,
                          (x, "max", [3, 3], [2, 2], [1, 1], [1, 1], True, True, None))
    torch.library.opcheck(torch.ops.pybench.pool2d_nchwc.default,
                          (x, "avg", [3, 2], [1, 2], [1, 0], [1, 1], True, False, None))
    torch.library.opcheck(torch.ops.pybench.adaptive_avg_pool2d_nchwc.default, (x, [3, 2]))


X = torch.zeros(1, 2, 6, 6, 8)


@pytest.mark.parametrize("call,error,match", [
    (lambda: max_pool2d_nchwc(X.double(), 2), TypeError, "float32"),
    (lambda: max_pool2d_nchwc(X[0], 2), ValueError, "blocked layout"),
    (lambda: max_pool2d_nchwc(torch.zeros(1, 2, 6, 6, 4), 2), ValueError, "blocked layout"),
    (lambda: max_pool2d_nchwc(X, 0), ValueError, "kernel_size"),
    (lambda: max_pool2d_nchwc(X, 2, stride=0), ValueError, "stride"),
    (lambda: max_pool2d_nchwc(X, 2, dilation=0), ValueError, "dilation"),
    (lambda: max_pool2d_nchwc(X, 3, padding=2), ValueError, "half"),
    # PyTorch's second bound: half the kernel itself, tighter than the dilated window's.
    (lambda: max_pool2d_nchwc(X, 3, padding=2, dilation=2), ValueError, "half of kernel size"),
    (lambda: max_pool2d_nchwc(X.to("meta"), 3, padding=2, dilation=2), ValueError,
     "half of kernel size"),
    (lambda: max_pool2d_nchwc(X, 2, padding=-1), ValueError, "non-negative"),
    (lambda: max_pool2d_nchwc(X, 7), ValueError, "too small"),
    (lambda: max_pool2d_nchwc(X, "2"), ValueError, "kernel_size"),
    (lambda: avg_pool2d_nchwc(X, 2, divisor_override=0), ValueError, "divisor_override"),
    (lambda: torch.ops.pybench.pool2d_nchwc(X, "min", [2, 2], [2, 2], [0, 0], [1, 1], False,
                                            True, None), ValueError, "unknown mode"),
    (lambda: torch.ops.pybench.pool2d_nchwc(X, "avg", [2, 2], [2, 2], [0, 0], [2, 2], False,
                                            True, None), ValueError, "no dilation"),
    (lambda: adaptive_avg_pool2d_nchwc(X, 0), ValueError, "output_size"),
    (lambda: adaptive_avg_pool2d_nchwc(X, (2, 2, 2)), ValueError, "output_size"),
])
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device to make a CUDA tensor")
def test_cuda_tensor_is_refused():
    with pytest.raises(ValueError, match="CPU layout"):
        max_pool2d_nchwc(X.cuda(), 2)
