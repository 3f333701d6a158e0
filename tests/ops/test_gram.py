"""pybench.ops.gram against a float64 reference, on every CPU ISA and (where present) CUDA."""
import random

import pytest
import torch

import pybench.ops as ops
from conftest import available_cpu_isas, device_params

RTOL = 1e-5  # relative Frobenius error bound for float32 results


def reference_gram(features: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """G = F Fᵀ in float64 with stock PyTorch on the upcast input."""
    f = features.detach().to("cpu", torch.float64)
    if f.dim() == 4:
        f = f.reshape(f.shape[0], f.shape[1], -1)
    g = f @ f.transpose(-1, -2)
    if normalize:
        g = g / (f.shape[-2] * f.shape[-1])
    return g


def rel_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    diff = (out.detach().cpu().double() - ref).norm().item()
    scale = ref.norm().item()
    return diff / scale if scale > 0 else diff


def random_shapes(n, seed):
    """(N, C, H, W) with C from the issue's list and odd / tail sizes of H*W."""
    rng = random.Random(seed)
    shapes = []
    for c in (1, 3, 17, 129, 513):
        for _ in range(n):
            h, w = rng.randint(1, 37), rng.randint(1, 37)
            if c == 513:  # keep the float64 reference quick
                h, w = rng.randint(1, 9), rng.randint(1, 9)
            shapes.append((rng.randint(1, 3), c, h, w))
    # vector-width tails around 16 / 8 lanes and the L-chunk / split boundaries
    shapes += [(1, 4, 1, 15), (1, 5, 1, 16), (2, 8, 1, 17), (1, 64, 1, 1023),
               (1, 65, 1, 1025), (1, 33, 3, 700), (1, 7, 1, 4099)]
    return shapes


SHAPES = random_shapes(3, seed=2026)


@pytest.mark.parametrize("device", device_params())
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_gram_matches_float64(device, shape, cpu_isa):
    if device == "cuda" and cpu_isa != available_cpu_isas()[0]:
        pytest.skip("the CPU ISA does not affect the CUDA kernel; run it once")
    torch.manual_seed(hash(shape) % 2**31)
    x = torch.randn(shape, device=device)
    for normalize in (False, True):
        out = ops.gram(x, normalize=normalize)
        assert out.shape == (shape[0], shape[1], shape[1])
        assert out.dtype == torch.float32 and out.device == x.device
        ref = reference_gram(x, normalize)
        assert rel_error(out, ref) <= RTOL
        assert torch.equal(out, out.transpose(-1, -2)), "result is not exactly symmetric"


@pytest.mark.parametrize("device", device_params())
def test_gram_2d(device, cpu_isa):
    torch.manual_seed(1)
    x = torch.randn(19, 333, device=device)
    out = ops.gram(x)
    assert out.shape == (19, 19)
    assert rel_error(out, reference_gram(x)) <= RTOL
    norm = ops.gram(x, normalize=True)
    assert rel_error(norm, reference_gram(x) / (19 * 333)) <= RTOL


@pytest.mark.parametrize("device", device_params())
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda x: x[:, ::2], id="channel-slice"),  # rows strided, L contiguous
        pytest.param(lambda x: x[::2], id="batch-slice"),
        pytest.param(lambda x: x.transpose(2, 3), id="hw-transposed"),  # L not contiguous
        pytest.param(lambda x: x.contiguous(memory_format=torch.channels_last), id="channels-last"),
        pytest.param(lambda x: x[..., 1:-2], id="w-slice"),
    ],
)
def test_gram_non_contiguous(device, make, cpu_isa):
    torch.manual_seed(2)
    base = torch.randn(4, 21, 13, 11, device=device)
    x = make(base)
    assert not x.is_contiguous()
    out = ops.gram(x)
    assert rel_error(out, reference_gram(x)) <= RTOL
    assert torch.equal(out, out.transpose(-1, -2))


@pytest.mark.parametrize("device", device_params())
def test_gram_empty(device):
    assert ops.gram(torch.randn(2, 0, 3, 3, device=device)).shape == (2, 0, 0)
    zero_l = ops.gram(torch.randn(2, 5, 0, 3, device=device))
    assert zero_l.shape == (2, 5, 5) and torch.equal(zero_l, torch.zeros_like(zero_l))
    assert ops.gram(torch.randn(0, 5, 3, 3, device=device)).shape == (0, 5, 5)
    assert ops.gram(torch.randn(5, 0, device=device), normalize=True).abs().sum() == 0


@pytest.mark.parametrize(
    "x, error, match",
    [
        (torch.randn(7), ValueError, "rank"),
        (torch.randn(3, 4, 5), ValueError, "rank"),
        (torch.randn(1, 2, 3, 4, 5), ValueError, "rank"),
        (torch.randint(0, 5, (2, 3, 4, 4)), TypeError, "float32"),
        (torch.randn(2, 3, 4, 4).half(), TypeError, "float32"),
        (torch.randn(2, 3, 4, 4).double(), TypeError, "float32"),
    ],
    ids=["1d", "3d", "5d", "int64", "float16", "float64"],
)
def test_gram_bad_input(x, error, match):
    with pytest.raises(error, match=match):
        ops.gram(x)


def test_gram_meta_shapes():
    # The fake kernel (torch.compile, meta tensors) agrees with the real one on shapes.
    assert ops.gram(torch.empty(2, 3, 4, 4, device="meta")).shape == (2, 3, 3)
    assert ops.gram(torch.empty(5, 7, device="meta")).shape == (5, 5)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_gram_cuda_tensor_without_gpu_raises():
    with pytest.raises((RuntimeError, AssertionError)):
        ops.gram(torch.randn(2, 3, 4, 4, device="cuda"))


def test_gram_opcheck(cpu_isa):
    torch.manual_seed(3)
    for shape in [(2, 5, 3, 7), (1, 17, 1, 33)]:
        torch.library.opcheck(torch.ops.pybench.gram.default, (torch.randn(shape),))
    torch.library.opcheck(torch.ops.pybench.gram.default, (torch.randn(6, 40), True))


def test_gram_under_torch_compile():
    torch.manual_seed(4)
    x = torch.randn(2, 9, 5, 5)
    compiled = torch.compile(lambda t: ops.gram(t, normalize=True) * 2.0, fullgraph=True)
    assert rel_error(compiled(x), reference_gram(x, True) * 2.0) <= RTOL


def test_gram_threads_agree():
    """Any thread count gives the float64 result (threads split L or an image's rows)."""
    torch.manual_seed(5)
    x = torch.randn(1, 70, 1, 3001)
    before = torch.get_num_threads()
    try:
        outs = []
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            outs.append(ops.gram(x))
    finally:
        torch.set_num_threads(before)
    for out in outs:
        assert rel_error(out, reference_gram(x)) <= RTOL


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("shape", [(1, 77, 1, 2627), (2, 77, 1, 2627), (3, 130, 14, 14),
                                   (3, 20, 1, 3001), (5, 33, 7, 9), (1, 512, 1, 196),
                                   (2, 16, 1, 1000), (1, 9, 1, 20000)],
                         ids=lambda s: "x".join(map(str, s)))
def test_gram_work_splits(shape, threads, cpu_isa):
    """Every way of threading (a thread per image; images split along L, summed at the end;
    threads sharing an image's column groups over shared packed panels, in several passes
    when the packed F exceeds the pass size; small products on the calling thread) under
    small caches (short panels, a 256 KiB pass) and the machine's own."""
    torch.manual_seed(6)
    x = torch.randn(shape)
    ref = reference_gram(x)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        for spec in ("", "l1d=16K,l2=256K,l3=256K"):
            torch.ops.pybench._set_cpu_caches_for_testing(spec)
            out = ops.gram(x)
            assert rel_error(out, ref) <= RTOL, spec
            assert torch.equal(out, out.transpose(-1, -2)), spec
    finally:
        torch.ops.pybench._set_cpu_caches_for_testing("")
        torch.set_num_threads(before)


def test_gram_executed_flops():
    """The suites' "% HW" count: the useful triangle plus the tiles' padding, never less."""
    useful = 2 * 77 * 78 * 1000
    with ops.use_cpu_isa("scalar"):
        assert torch.ops.pybench._gram_executed_flops(2, 77, 1000) == useful
    for isa in available_cpu_isas():
        with ops.use_cpu_isa(isa):
            executed = torch.ops.pybench._gram_executed_flops(2, 77, 1000)
            assert useful <= executed <= 2 * 2 * 77 * 77 * 1000 * 1.3, isa
    with pytest.raises(ValueError, match="must be >= 0"):
        torch.ops.pybench._gram_executed_flops(1, -1, 5)
