"""pybench.ops.max_pool2d / avg_pool2d / adaptive_avg_pool2d against PyTorch's pooling in
float64, on every CPU ISA (and CUDA where a device exists).

Max pooling picks one input, so it must match exactly (bitwise, NaN where a window holds
one). Average pooling sums in float32 against the float64 reference: relative 1e-5 of the
window's sum of |x| divided by its divisor (conftest.assert_matches_reference).

The geometry grid walks every kernel / stride / padding / dilation / ceil_mode
combination PyTorch accepts for kernels 1-4 and strides 1-3 on two odd shapes, one
narrower than a vector and one wider with a tail; the named cases are the models'
poolings and the edges.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import zlib

import pytest
import torch
import torch.nn.functional as F

import pybench.ops as ops
from conftest import CUDA_SKIP_REASON, assert_matches_reference, device_params

CUDA_OK = torch.cuda.is_available() and ops.has_cuda_kernels()


@dataclasses.dataclass(frozen=True)
class PoolCase:
    name: str
    shape: tuple
    kernel: int | tuple
    stride: int | tuple | None = None
    padding: int | tuple = 0
    dilation: int | tuple = 1
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor_override: int | None = None

    def max_args(self):
        return (self.kernel, self.stride, self.padding, self.dilation, self.ceil_mode)

    def avg_args(self):
        return (self.kernel, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                self.divisor_override)


# The models' poolings (AlexNet's 3x3 s2, VGG's 2x2 s2, GoogLeNet's 3x3 s2 ceil_mode and
# its branches' 3x3 s1 p1 ceil_mode, ResNet's 3x3 s2 p1, DenseNet's 2x2 avg) at reduced
# channel counts, and the edges: batch 1, odd sizes, ceil_mode windows hanging past the
# padded input, 1-pixel outputs, rectangular kernels / strides / paddings, dilation.
CASES = [
    PoolCase("alexnet-3x3-s2", (2, 6, 55, 55), 3, 2),
    PoolCase("alexnet-3x3-s2-13", (1, 16, 13, 13), 3, 2),
    PoolCase("vgg-2x2-s2", (1, 4, 56, 56), 2, 2),
    PoolCase("vgg-2x2-s2-odd", (2, 5, 15, 15), 2),
    PoolCase("googlenet-3x3-s2-ceil", (1, 8, 112, 112), 3, 2, ceil_mode=True),
    PoolCase("googlenet-3x3-s1-p1-ceil", (2, 12, 14, 14), 3, 1, 1, ceil_mode=True),
    PoolCase("googlenet-2x2-s2-ceil", (1, 9, 7, 7), 2, 2, ceil_mode=True),
    PoolCase("resnet-3x3-s2-p1", (1, 8, 112, 112), 3, 2, 1),
    PoolCase("resnet-3x3-s2-p1-odd", (3, 3, 15, 17), 3, 2, 1),
    PoolCase("3x3-s1-p1", (2, 7, 9, 41), 3, 1, 1),
    PoolCase("densenet-avg-2x2", (1, 6, 28, 28), 2, 2),
    PoolCase("rect", (3, 5, 11, 13), (3, 2), (2, 1), (1, 0)),
    PoolCase("rect-ceil-pad", (1, 7, 10, 11), (2, 3), (3, 2), (1, 1), ceil_mode=True),
    PoolCase("whole-image", (1, 9, 5, 6), (5, 6)),
    PoolCase("5x5-s3-p2-ceil", (2, 3, 13, 38), 5, 3, 2, ceil_mode=True),
    PoolCase("one-pixel", (1, 3, 1, 1), 1),
    PoolCase("1x1-s2", (1, 4, 9, 9), 1, 2),
    PoolCase("no-pad-count", (1, 5, 9, 11), 3, 2, 1, count_include_pad=False),
    PoolCase("no-pad-count-ceil", (2, 4, 8, 7), 3, 2, 1, ceil_mode=True,
             count_include_pad=False),
    PoolCase("divisor", (1, 6, 7, 7), 3, 1, 1, divisor_override=5),
    PoolCase("divisor-negative", (1, 6, 6, 6), 2, divisor_override=-3),
    PoolCase("divisor-ceil-no-pad-count", (2, 3, 10, 19), 3, 2, 1, ceil_mode=True,
             count_include_pad=False, divisor_override=4),
]
DILATED = [
    PoolCase("dil2", (1, 5, 11, 12), 3, 1, 1, dilation=2),
    # Windows holding no input (PyTorch gives -inf), in a narrow row and a wide one.
    PoolCase("dil-empty-window", (1, 2, 1, 3), 2, 1, 1, dilation=2),
    PoolCase("dil-empty-row-wide", (1, 2, 3, 37), 2, (1, 2), 1, dilation=(4, 1),
             ceil_mode=True),
    PoolCase("dil-rect-ceil", (2, 4, 13, 30), (2, 3), (2, 3), (1, 1), dilation=(3, 2),
             ceil_mode=True),
]


def _input(shape, seed: int = 0, name: str = "") -> torch.Tensor:
    g = torch.Generator().manual_seed(seed + zlib.crc32(name.encode()))
    return torch.randn(shape, generator=g)


def _avg_check(out, x, args):
    ref = F.avg_pool2d(x.double(), *args)
    scale = F.avg_pool2d(x.double().abs(), *args).abs()
    assert_matches_reference(out, ref, scale)


def _grid():
    """Every (kernel, stride, padding, dilation, ceil_mode) PyTorch accepts for kernels 1-4
    and strides 1-3, given an input large enough: padding up to half the kernel (PyTorch's
    tighter bound; half the dilated window is the other)."""
    for k, s, d, ceil in itertools.product((1, 2, 3, 4), (1, 2, 3), (1, 2), (False, True)):
        for p in range(k // 2 + 1):
            yield k, s, p, d, ceil


GRID_SHAPES = [(2, 3, 11, 13), (1, 2, 9, 37)]


@pytest.mark.parametrize("shape", GRID_SHAPES, ids=str)
def test_max_pool_grid_matches_pytorch_exactly(shape, cpu_isa):
    x = _input(shape, 1)
    runs = 0
    for k, s, p, d, ceil in _grid():
        try:
            ref = F.max_pool2d(x.double(), k, s, p, d, ceil)
        except RuntimeError:  # the input is smaller than the window
            with pytest.raises(ValueError, match="too small"):
                ops.max_pool2d(x, k, s, p, d, ceil)
            continue
        out = ops.max_pool2d(x, k, s, p, d, ceil)
        assert torch.equal(out.double(), ref), (k, s, p, d, ceil)
        runs += 1
    assert runs >= 90


@pytest.mark.parametrize("shape", GRID_SHAPES, ids=str)
def test_avg_pool_grid_matches_float64(shape, cpu_isa):
    x = _input(shape, 2)
    runs = 0
    for k, s, p, d, ceil in _grid():
        if d != 1:
            continue
        for include_pad in (True, False):
            args = (k, s, p, ceil, include_pad, None)
            try:
                F.avg_pool2d(x.double(), *args)
            except RuntimeError:
                continue
            _avg_check(ops.avg_pool2d(x, *args), x, args)
            runs += 1
    assert runs >= 90


@pytest.mark.parametrize("case", CASES + DILATED, ids=lambda c: c.name)
def test_max_pool_matches_pytorch_exactly(case, cpu_isa):
    x = _input(case.shape, name=case.name)
    out = ops.max_pool2d(x, *case.max_args())
    assert torch.equal(out.double(), F.max_pool2d(x.double(), *case.max_args()))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_avg_pool_matches_float64(case, cpu_isa):
    x = _input(case.shape, name=case.name)
    _avg_check(ops.avg_pool2d(x, *case.avg_args()), x, case.avg_args())


ADAPTIVE = [((7, 7), (1, 1)), ((7, 7), 1), ((6, 6), (6, 6)), ((14, 28), (7, 7)),
            ((13, 9), (4, 3)), ((5, 11), (7, 2)), ((10, 10), (3, None)), ((1, 1), (2, 2)),
            ((64, 64), (1, 1)), ((9, 40), (3, 7)), ((12, 17), (None, 5))]


@pytest.mark.parametrize("hw,out_size", ADAPTIVE, ids=str)
def test_adaptive_avg_pool_matches_float64(hw, out_size, cpu_isa):
    x = torch.randn(2, 5, *hw, generator=torch.Generator().manual_seed(hw[0] * 31 + hw[1]))
    ref = F.adaptive_avg_pool2d(x.double(), out_size)
    out = ops.adaptive_avg_pool2d(x, out_size)
    assert_matches_reference(out, ref, F.adaptive_avg_pool2d(x.double().abs(), out_size))


def test_adaptive_avg_pool_to_zero_is_empty():
    x = torch.randn(2, 3, 5, 5)
    assert ops.adaptive_avg_pool2d(x, (0, 3)).shape == F.adaptive_avg_pool2d(x, (0, 3)).shape


def test_max_pool_nan_and_inf(cpu_isa):
    """A NaN anywhere in a window is that window's result, whichever tap it is (ATen's
    rule; the vector max alone would drop it); infinities pool as numbers."""
    x = torch.randn(2, 3, 9, 37, generator=torch.Generator().manual_seed(3))
    x[0, 0, 0, 0] = math.nan       # first tap of a window
    x[0, 1, 4, 4] = math.nan       # a middle tap, with larger values after it
    x[0, 1, 4, 5] = 100.0
    x[1, 2, 8, 36] = math.nan      # last tap, in the last vector's tail
    x[1, 0, 5, 20] = math.nan      # a column a stride-2 window shares with its neighbour
    x[0, 2, 2, 2] = math.inf
    x[1, 1, 3, 3] = -math.inf
    x[1, 1, 6, :] = -math.inf      # a whole row of -inf
    for args in ((3, 2, 1, 1, True), (2, 2, 0, 1, False), (3, 1, 1, 1, False),
                 (3, 3, 1, 2, True), (2, 1, 0, 1, False)):
        ref = F.max_pool2d(x, *args)
        out = ops.max_pool2d(x, *args)
        assert torch.equal(out.isnan(), ref.isnan()) and ref.isnan().any(), args
        assert torch.equal(out.nan_to_num(0.0), ref.nan_to_num(0.0)), args


def test_unbatched_input(cpu_isa):
    x = torch.randn(5, 13, 17)
    assert torch.equal(ops.max_pool2d(x, 3, 2, 1), F.max_pool2d(x, 3, 2, 1))
    out = ops.avg_pool2d(x, 3, 2, 1, ceil_mode=True)
    assert out.shape == (5, 7, 9)
    _avg_check(out, x, (3, 2, 1, True, True, None))
    assert ops.adaptive_avg_pool2d(x, (4, 5)).shape == (5, 4, 5)


@pytest.mark.parametrize("layout", ["channels_last", "strided", "transposed"])
def test_non_contiguous_input(layout, cpu_isa):
    base = torch.randn(2, 6, 19, 23, generator=torch.Generator().manual_seed(2))
    if layout == "channels_last":
        x = base.contiguous(memory_format=torch.channels_last)
    elif layout == "strided":
        x = base[:, ::2, :, 1::2]
    else:
        x = base.transpose(2, 3)
    assert not x.is_contiguous()
    assert torch.equal(ops.max_pool2d(x, 3, 2, 1), F.max_pool2d(x.contiguous(), 3, 2, 1))
    _avg_check(ops.avg_pool2d(x, 2, 1), x, (2, 1, 0, False, True, None))
    assert torch.equal(ops.adaptive_avg_pool2d(x, 3), ops.adaptive_avg_pool2d(x.contiguous(), 3))


def test_zero_batch():
    assert ops.max_pool2d(torch.zeros(0, 2, 6, 6), 2).shape == (0, 2, 3, 3)
    assert ops.avg_pool2d(torch.zeros(0, 2, 6, 6), 3, 1, 1).shape == (0, 2, 6, 6)
    assert ops.adaptive_avg_pool2d(torch.zeros(0, 2, 6, 6), 1).shape == (0, 2, 1, 1)


def test_threads_agree(cpu_isa):
    x = torch.randn(2, 37, 33, 29, generator=torch.Generator().manual_seed(5))
    before = torch.get_num_threads()
    try:
        outs = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            outs.append((ops.max_pool2d(x, 3, 2, 1), ops.avg_pool2d(x, 3, 1, 1),
                         ops.adaptive_avg_pool2d(x, (5, 4))))
        assert all(torch.equal(a, b) for o in outs for a, b in zip(o, outs[0]))
    finally:
        torch.set_num_threads(before)


def test_every_isa_gives_the_same_max():
    x = torch.randn(2, 4, 29, 35, generator=torch.Generator().manual_seed(6))
    results = []
    for isa in ops.CPU_ISAS[ops.CPU_ISAS.index(ops.detected_cpu_isa()):]:
        with ops.use_cpu_isa(isa):
            results.append(ops.max_pool2d(x, 3, 2, 1, ceil_mode=True))
    assert all(torch.equal(r, results[0]) for r in results)


@pytest.mark.parametrize("case", [c for c in CASES + DILATED if c.shape[-1] < 60],
                         ids=lambda c: c.name)
def test_meta_shapes(case):
    x = torch.empty(case.shape, device="meta")
    assert ops.max_pool2d(x, *case.max_args()).shape == F.max_pool2d(x, *case.max_args()).shape
    if case.dilation == 1:
        assert (ops.avg_pool2d(x, *case.avg_args()).shape
                == F.avg_pool2d(x, *case.avg_args()).shape)


def test_opcheck():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, 9, 8, generator=g, requires_grad=True)
    u = torch.randn(3, 11, 7, generator=g, requires_grad=True)
    torch.library.opcheck(torch.ops.pybench.max_pool2d.default,
                          (x, [3, 3], [2, 2], [1, 1], [1, 1], True))
    torch.library.opcheck(torch.ops.pybench.max_pool2d.default,
                          (u, [2, 3], [1, 2], [1, 0], [2, 1], False))
    torch.library.opcheck(torch.ops.pybench.avg_pool2d.default,
                          (x, [3, 2], [1, 2], [1, 0], True, False, None))
    torch.library.opcheck(torch.ops.pybench.avg_pool2d.default,
                          (u, [3, 3], [2, 2], [1, 1], False, True, 4))
    torch.library.opcheck(torch.ops.pybench.adaptive_avg_pool2d.default, (x, [3, 2]))
    torch.library.opcheck(torch.ops.pybench.adaptive_avg_pool2d.default, (u, [4, 4]))


def test_under_torch_compile():
    x = torch.randn(2, 4, 15, 15)
    fn = torch.compile(lambda t: ops.max_pool2d(t, 3, 2, 1) + ops.avg_pool2d(t, 3, 2, 1),
                       fullgraph=True)
    want = F.max_pool2d(x, 3, 2, 1) + F.avg_pool2d(x, 3, 2, 1)
    torch.testing.assert_close(fn(x), want, rtol=1e-6, atol=1e-6)


GRAD_CASES = [
    ("max", (2, 3, 11, 13), (3, 2, 1, 1, True)),
    ("max", (4, 9, 10), (2, 1, 0, 2, False)),
    ("avg", (2, 3, 11, 13), (3, 2, 1, True, False, None)),
    ("avg", (4, 9, 10), (2, 1, 1, False, True, 3)),
    ("adaptive", (2, 3, 11, 13), ((4, 5),)),
    ("adaptive", (4, 9, 10), (1,)),
]
_OPS = {"max": (ops.max_pool2d, F.max_pool2d), "avg": (ops.avg_pool2d, F.avg_pool2d),
        "adaptive": (ops.adaptive_avg_pool2d, F.adaptive_avg_pool2d)}


@pytest.mark.parametrize("device", device_params())
@pytest.mark.parametrize("kind,shape,args", GRAD_CASES, ids=str)
def test_gradients_match_float64(kind, shape, args, device):
    """The ops' inputs are float32 only, so gradcheck's finite differences (float64) are
    replaced by the float64 reference's analytic gradients. Each input's gradient sums
    grad (/ divisor) over the windows that hold it (for max: whose maximum it is; random
    inputs hold no ties, so both route to the same inputs), bound by the same sum of
    |grad| / |divisor|."""
    ours, theirs = _OPS[kind]
    g = torch.Generator().manual_seed(len(shape) + 10 * len(args))
    x0 = torch.randn(shape, generator=g)
    x = x0.to(device).requires_grad_(True)
    out = ours(x, *args)
    grad = torch.randn(out.shape, generator=g)
    out.backward(grad.to(device))
    x64 = x0.double().requires_grad_(True)
    (want,) = torch.autograd.grad(theirs(x64, *args), x64, grad.double())
    (scale,) = torch.autograd.grad(theirs(x64, *args), x64, grad.double().abs())
    assert_matches_reference(x.grad, want, scale.abs(), 1e-6)
    if kind == "max":
        assert torch.equal(x.grad != 0, want.to(device) != 0)


def test_double_backward():
    x0 = torch.randn(2, 3, 8, 9)
    for ours, theirs, args in ((ops.max_pool2d, F.max_pool2d, (3, 2, 1)),
                               (ops.avg_pool2d, F.avg_pool2d, (3, 2, 1)),
                               (ops.adaptive_avg_pool2d, F.adaptive_avg_pool2d, (3,))):
        x = x0.clone().requires_grad_(True)
        (dx,) = torch.autograd.grad((ours(x, *args) ** 2).sum(), x, create_graph=True)
        (ddx,) = torch.autograd.grad((dx * dx).sum(), x)
        x64 = x0.double().requires_grad_(True)
        (dx64,) = torch.autograd.grad((theirs(x64, *args) ** 2).sum(), x64, create_graph=True)
        (ddx64,) = torch.autograd.grad((dx64 * dx64).sum(), x64)
        torch.testing.assert_close(dx.double(), dx64, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(ddx.double(), ddx64, rtol=1e-5, atol=1e-6)


X = torch.zeros(1, 2, 6, 6)


@pytest.mark.parametrize("call,error,match", [
    (lambda: ops.max_pool2d(X.double(), 2), TypeError, "float32"),
    (lambda: ops.max_pool2d(X.to(torch.int32), 2), TypeError, "float32"),
    (lambda: ops.avg_pool2d(X.half(), 2), TypeError, "float32"),
    (lambda: ops.max_pool2d(X.to_sparse(), 2), TypeError, "strided"),
    (lambda: ops.max_pool2d(X[0, 0], 2), ValueError, "3-D .* or 4-D"),
    (lambda: ops.max_pool2d(X[None], 2), ValueError, "3-D .* or 4-D"),
    (lambda: ops.max_pool2d(torch.zeros(1, 0, 6, 6), 2), ValueError, "non-empty"),
    (lambda: ops.avg_pool2d(torch.zeros(2, 6, 0), 2), ValueError, "non-empty"),
    (lambda: ops.max_pool2d(X, 0), ValueError, "kernel_size must be greater than zero"),
    (lambda: ops.max_pool2d(X, (2, -1)), ValueError, "kernel_size must be greater than zero"),
    (lambda: ops.max_pool2d(X, 2, stride=0), ValueError, "stride must be greater than zero"),
    (lambda: ops.avg_pool2d(X, 2, stride=(1, -2)), ValueError, "stride must be greater"),
    (lambda: ops.max_pool2d(X, 2, dilation=0), ValueError, "dilation must be greater"),
    (lambda: ops.max_pool2d(X, 3, padding=2), ValueError, "pad should be at most half"),
    (lambda: ops.max_pool2d(X, 3, padding=2, dilation=2), ValueError, "half of kernel size"),
    (lambda: ops.avg_pool2d(X, 2, padding=(0, 2)), ValueError, "pad should be at most half"),
    (lambda: ops.max_pool2d(X, 2, padding=-1), ValueError, "padding must be non-negative"),
    (lambda: ops.max_pool2d(X, 7), ValueError, "too small"),
    (lambda: ops.avg_pool2d(X, (2, 9)), ValueError, "too small"),
    (lambda: ops.max_pool2d(X, "2"), ValueError, "kernel_size"),
    (lambda: ops.max_pool2d(X, (1, 2, 3)), ValueError, "kernel_size"),
    (lambda: ops.max_pool2d(X, 2, return_indices=True), NotImplementedError, "return_indices"),
    (lambda: ops.avg_pool2d(X, 2, divisor_override=0), ValueError, "divisor_override"),
    (lambda: ops.avg_pool2d(X, 2, divisor_override=2.5), ValueError, "divisor_override"),
    (lambda: ops.adaptive_avg_pool2d(X, -1), ValueError, "output_size"),
    (lambda: ops.adaptive_avg_pool2d(X, (2, 2, 2)), ValueError, "output_size"),
    (lambda: ops.adaptive_avg_pool2d(X.double(), 2), TypeError, "float32"),
    (lambda: torch.ops.pybench.max_pool2d(X, [2], [2, 2], [0, 0], [1, 1], False),
     ValueError, "expected 2 kernel sizes"),
    (lambda: torch.ops.pybench.max_pool2d(X, [3, 3], [1, 1], [2, 2], [1, 1], False),
     ValueError, "pad should be at most half"),
    (lambda: torch.ops.pybench.adaptive_avg_pool2d(X, [2, -2]), ValueError, "output_size"),
])
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("call", [
    lambda x: ops.max_pool2d(x, 7),
    lambda x: ops.max_pool2d(x, 3, padding=2),
    lambda x: ops.max_pool2d(x, 3, padding=2, dilation=2),
    lambda x: ops.avg_pool2d(x, 2, divisor_override=0),
    lambda x: ops.adaptive_avg_pool2d(x[0, 0], 2),
])
def test_meta_refuses_what_the_kernels_refuse(call):
    with pytest.raises((ValueError, RuntimeError)):
        call(torch.empty(1, 2, 6, 6, device="meta"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_cuda_tensor_without_gpu_raises():
    with pytest.raises((RuntimeError, AssertionError)):
        ops.max_pool2d(torch.zeros(1, 2, 6, 6, device="cuda"), 2)


@pytest.mark.skipif(not CUDA_OK, reason=CUDA_SKIP_REASON)
@pytest.mark.parametrize("case", CASES + DILATED, ids=lambda c: c.name)
def test_cuda_matches_pytorch(case):
    x = _input(case.shape, name=case.name)
    x[(0,) * (x.dim() - 1) + (0,)] = math.nan
    xc = x.cuda()
    out = ops.max_pool2d(xc, *case.max_args())
    ref = F.max_pool2d(x.double(), *case.max_args())
    assert out.is_cuda
    assert torch.equal(out.cpu().double().nan_to_num(7.0), ref.nan_to_num(7.0))
    if case.dilation == 1:
        y = _input(case.shape, name=case.name)
        _avg_check(ops.avg_pool2d(y.cuda(), *case.avg_args()), y, case.avg_args())


@pytest.mark.skipif(not CUDA_OK, reason=CUDA_SKIP_REASON)
@pytest.mark.parametrize("hw,out_size", ADAPTIVE, ids=str)
def test_cuda_adaptive_matches_float64(hw, out_size):
    x = torch.randn(2, 5, *hw)
    out = ops.adaptive_avg_pool2d(x.cuda(), out_size)
    assert_matches_reference(out, F.adaptive_avg_pool2d(x.double(), out_size),
                             F.adaptive_avg_pool2d(x.double().abs(), out_size))


@pytest.mark.skipif(not CUDA_OK, reason=CUDA_SKIP_REASON)
def test_cuda_grid_unbatched_and_non_contiguous():
    x = torch.randn(2, 3, 11, 37)
    for k, s, p, d, ceil in _grid():
        try:
            ref = F.max_pool2d(x, k, s, p, d, ceil)
        except RuntimeError:
            continue
        assert torch.equal(ops.max_pool2d(x.cuda(), k, s, p, d, ceil).cpu(), ref)
    u = torch.randn(4, 13, 9).cuda().transpose(1, 2)
    assert torch.equal(ops.max_pool2d(u, 3, 2, 1), F.max_pool2d(u, 3, 2, 1))
    assert ops.max_pool2d(torch.zeros(0, 2, 6, 6, device="cuda"), 2).shape == (0, 2, 3, 3)
