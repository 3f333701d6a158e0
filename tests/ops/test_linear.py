"""pybench.ops.linear (the packed fully connected layer) against float64 PyTorch.

Every case runs under every CPU ISA the machine has: batches around the register tile's rows
(AVX-512 8, AVX2 2), out_features around the 48-column panel, in_features from 1 to 9216 (the
last in many K chunks of ``linear_k_chunk``: half the L1d in panel rows), every activation
with and without bias, (*, in_features) inputs, non-contiguous operands, NaN / inf, 1 to 3
threads, K cut short by a small L1d (in-process through the test hook, and through
PYBENCH_CPU_CACHES in a subprocess). Accuracy: conftest.assert_matches_reference at 1e-5,
the scale being |x| @ |W|^T + |b| times the activation's largest slope (plus |ref| for the
activations computed on the rounded sum). Then pack_linear's layout, the fake kernel, opcheck
and the argument checks.
"""
from __future__ import annotations

import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import pybench.ops as ops
from conftest import assert_matches_reference, cache_override

ROOT = Path(__file__).resolve().parents[2]
RTOL = 1e-5
P = ops.LINEAR_PANEL

ACTIVATION_FN = {"none": lambda t: t, "relu": F.relu, "relu6": F.relu6,
                 "hardswish": F.hardswish, "sigmoid": torch.sigmoid}
SLOPE = {"none": 1.0, "relu": 1.0, "relu6": 1.0, "hardswish": 1.5, "sigmoid": 0.25}


def test_activations_are_the_documented_ones():
    assert P == 48 and set(ops.LINEAR_ACTIVATIONS) == set(ACTIVATION_FN)


def _operands(m, n, k, seed, bias=True):
    """x (m, k), W (n, k), b (n): randn, W scaled by 3 / sqrt(k) so that the sums spread
    over every activation's bends (relu6's 6, hardswish's -3 and 3)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(m, k, generator=g)
    w = torch.randn(n, k, generator=g) * (3 / math.sqrt(k))
    b = torch.randn(n, generator=g) if bias else None
    return x, w, b


def reference_linear(x, w, b, activation="none"):
    """act(F.linear(x, w, b)) in float64, and the scale its float32 rounding is bounded by."""
    b64 = None if b is None else b.double()
    ref = ACTIVATION_FN[activation](F.linear(x.double(), w.double(), b64))
    scale = F.linear(x.double().abs(), w.double().abs(), None if b64 is None else b64.abs())
    scale = scale * SLOPE[activation]
    if activation in ("hardswish", "sigmoid"):
        scale = scale + ref.abs()
    return ref, scale


def _run(m, n, k, activation="none", bias=True, seed=0):
    x, w, b = _operands(m, n, k, seed, bias)
    out = ops.linear(x, ops.pack_linear(w), b, n, activation)
    assert out.shape == (m, n)
    assert_matches_reference(out, *reference_linear(x, w, b, activation), RTOL)
    return out


def k_chunk(k: int) -> int:
    """linear_k_chunk (linear.h) for the caches the kernels see now."""
    return min(max(ops.cpu_caches()["l1d"] // 2 // (4 * P), 16), max(16, k))


# ---- against float64 --------------------------------------------------------------------
MS, NS, KS = (1, 2, 3, 7, 8, 9, 17, 33), (1, 47, 48, 49, 100, 1000), (1, 3, 17, 64, 1000)
SHAPES = [
    (1, 1, 1), (1, 1000, 64), (2, 47, 17), (3, 49, 3), (7, 100, 1), (8, 48, 64), (9, 1, 1000),
    (17, 100, 17), (33, 49, 1000), (17, 1000, 3), (32, 96, 300), (8, 4096, 64),
    (1, 7, 9216), (9, 50, 9216),  # AlexNet's in_features: 72 K chunks on a 48 KiB L1d
]
_rng = random.Random(20240611)
SHAPES += [(_rng.choice(MS), _rng.choice(NS), _rng.choice(KS)) for _ in range(8)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "M{}-N{}-K{}".format(*s))
def test_matches_float64(cpu_isa, shape):
    _run(*shape, seed=sum(shape))


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("activation", ops.LINEAR_ACTIVATIONS)
@pytest.mark.parametrize("shape", [(1, 47, 5), (3, 49, 17), (9, 100, 300)],
                         ids=lambda s: "M{}-N{}-K{}".format(*s))
def test_epilogues(cpu_isa, shape, activation, bias):
    _run(*shape, activation, bias, seed=1)


def test_several_k_chunks_at_the_detected_l1d(cpu_isa):
    """K of two and a half chunks for the detected caches, whatever they are."""
    kc = k_chunk(10**9)
    k = 2 * kc + kc // 2 + 3
    assert k_chunk(k) < k
    _run(9, 5, k, "relu", seed=2)


@pytest.mark.parametrize("spec, chunk", [("l1d=6K", 16), ("l1d=32K", 85)])
def test_short_k_chunks_match_one_chunk(cpu_isa, spec, chunk):
    """A small L1d cuts K into many chunks whose partial sums go through the scratch as
    floats: the same chain of FMAs per output, so the same bits as one chunk."""
    shapes = [(9, 100, 1000), (1, 47, 300), (17, 49, 200), (3, 1, 171)]
    with cache_override("l1d=64M"):
        whole = [_run(*s, "hardswish", seed=3) for s in shapes]
    with cache_override(spec):
        assert k_chunk(10**9) == chunk
        for s, one_chunk in zip(shapes, whole):
            assert torch.equal(_run(*s, "hardswish", seed=3), one_chunk), s


_CHILD = """
import sys, torch, pybench.ops as ops
assert ops.cpu_caches()["l2"] == 64 * 1024 and ops.cpu_caches()["source"] == "override"
x, w, b = torch.load(sys.argv[1])
packed = ops.pack_linear(w)
isas = ops.CPU_ISAS[ops.CPU_ISAS.index(ops.detected_cpu_isa()):]
outs = {}
for isa in isas:
    with ops.use_cpu_isa(isa):
        outs[isa] = ops.linear(x, packed, b, w.shape[0], "relu6")
torch.save(outs, sys.argv[2])
"""


def test_short_k_chunks_from_the_environment(tmp_path):
    """PYBENCH_CPU_CACHES=l1d=32K,l2=64K,l3=1M: K chunks of 85, in a fresh process (the
    variable is read once); every ISA there matches float64 and this process's result."""
    x, w, b = _operands(11, 130, 1000, seed=4)
    torch.save((x, w, b), tmp_path / "in.pt")
    env = {**os.environ, "PYBENCH_CPU_CACHES": "l1d=32K,l2=64K,l3=1M",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "in.pt"),
                           str(tmp_path / "out.pt")], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    outs = torch.load(tmp_path / "out.pt")
    ref, scale = reference_linear(x, w, b, "relu6")
    packed = ops.pack_linear(w)
    assert set(outs) == set(ops.CPU_ISAS[ops.CPU_ISAS.index(ops.detected_cpu_isa()):])
    for isa, out in outs.items():
        assert_matches_reference(out, ref, scale, RTOL)
        with ops.use_cpu_isa(isa):
            assert torch.equal(out, ops.linear(x, packed, b, 130, "relu6")), isa


# ---- shapes and strides -----------------------------------------------------------------
def test_leading_dimensions_are_the_batch(cpu_isa):
    g = torch.Generator().manual_seed(5)
    x, w = torch.randn(2, 3, 17, generator=g), torch.randn(49, 17, generator=g)
    b = torch.randn(49, generator=g)
    packed = ops.pack_linear(w)
    out = ops.linear(x, packed, b, 49, "relu")
    assert out.shape == (2, 3, 49)
    assert torch.equal(out, ops.linear(x.reshape(6, 17), packed, b, 49, "relu").reshape(2, 3, 49))
    assert_matches_reference(out, *reference_linear(x, w, b, "relu"), RTOL)
    one = ops.linear(x[1, 2], packed, b, 49, "relu")  # (K,) -> (N,), as F.linear
    assert one.shape == (49,) and torch.equal(one, out[1, 2])
    assert ops.linear(torch.randn(2, 0, 17), packed, b, 49).shape == (2, 0, 49)
    assert ops.linear(torch.randn(0, 17), packed, b, 49).shape == (0, 49)


def test_non_contiguous_operands(cpu_isa):
    g = torch.Generator().manual_seed(6)
    xt = torch.randn(64, 9, generator=g).t()                   # (9, 64), strides (1, 9)
    x3 = torch.randn(64, 3, 5, generator=g).permute(1, 2, 0)   # (3, 5, 64)
    w = torch.randn(100, 64, generator=g)
    b2 = torch.randn(200, generator=g)[::2]                    # stride 2
    assert not (xt.is_contiguous() or x3.is_contiguous() or b2.is_contiguous())
    packed = ops.pack_linear(w)
    packed_nc = packed.transpose(0, 1).contiguous().transpose(0, 1)
    assert not packed_nc.is_contiguous() and torch.equal(packed_nc, packed)
    for x in (xt, x3):
        want = ops.linear(x.contiguous(), packed, b2.contiguous(), 100, "sigmoid")
        assert torch.equal(ops.linear(x, packed_nc, b2, 100, "sigmoid"), want)
        assert_matches_reference(want, *reference_linear(x, w, b2, "sigmoid"), RTOL)
    # pack_linear reads any strides: an (N, K) view of a (K, N) matrix.
    wt = torch.randn(64, 100, generator=g)
    assert torch.equal(ops.pack_linear(wt.t()), ops.pack_linear(wt.t().contiguous()))


def test_out_features_is_required():
    """The packed weight is padded to whole panels, so it cannot say how many of its
    columns are real: a bias of another length in the same panel count would pass."""
    x, w, b = _operands(4, 50, 7, seed=7)
    with pytest.raises(ValueError, match="out_features is required"):
        ops.linear(x, ops.pack_linear(w), b)


def test_pack_linear_detaches():
    lin = torch.nn.Linear(7, 5)
    packed = ops.pack_linear(lin.weight)
    assert not packed.requires_grad and packed.grad_fn is None


def test_nan_and_inf_propagate_like_pytorch(cpu_isa):
    """relu keeps NaN (max's operand order); an infinite input makes its row +-inf, a NaN
    weight its column NaN; everything else stays finite and right."""
    x, w, b = _operands(9, 100, 33, seed=8)
    x[2, 5] = math.nan
    x[4, 0] = math.inf
    x[6, 32] = -math.inf
    w[97, 3] = math.nan       # a column in the last, partial panel
    for activation in ("relu", "none", "relu6"):
        out = ops.linear(x, ops.pack_linear(w), b, 100, activation)
        ref = ACTIVATION_FN[activation](F.linear(x.double(), w.double(), b.double()))
        assert ref.isnan().sum() == 100 + 8  # row 2 and column 97
        assert ref.isinf().any() == (activation != "relu6")
        torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-4, equal_nan=True)


def test_threads_agree(cpu_isa):
    """1, 2 and 3 threads (panels split between them) give the same bits."""
    x, w, b = _operands(9, 1000, 300, seed=9)
    packed = ops.pack_linear(w)
    before = torch.get_num_threads()
    try:
        outs = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            outs.append(ops.linear(x, packed, b, 1000, "relu6"))
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(o, outs[0]) for o in outs[1:])


# ---- pack_linear ------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 47, 48, 49, 100])
def test_pack_layout(n):
    k = 5
    w = torch.randn(n, k, generator=torch.Generator().manual_seed(n))
    packed = ops.pack_linear(w)
    panels = -(-n // P)
    assert packed.shape == (panels, k, P) and packed.dtype == torch.float32
    assert packed.is_contiguous()
    for p in range(panels):
        for j in range(P):
            row = p * P + j
            want = w[row] if row < n else torch.zeros(k)
            assert torch.equal(packed[p, :, j], want), (p, j)
    assert torch.equal(packed.transpose(1, 2).reshape(panels * P, k)[n:],
                       torch.zeros(panels * P - n, k))


@pytest.mark.parametrize("weight, error, match", [
    (torch.randn(5), ValueError, "2-D weight"),
    (torch.randn(0, 5), ValueError, "non-empty"),
    (torch.randn(5, 0), ValueError, "non-empty"),
    (torch.randn(5, 3, dtype=torch.float64), TypeError, "float32 weight"),
])
def test_pack_rejects(weight, error, match):
    with pytest.raises(error, match=match):
        ops.pack_linear(weight)


# ---- the op's contract ------------------------------------------------------------------
def test_opcheck():
    x, w, b = _operands(5, 60, 17, seed=10)
    packed = ops.pack_linear(w)
    torch.library.opcheck(torch.ops.pybench.linear.default, (x, packed, b, 60, "relu"))
    torch.library.opcheck(torch.ops.pybench.linear.default, (x, packed, None, 50, "sigmoid"))


def test_meta_shapes():
    x, w, b = (torch.empty(5, 17, device="meta"), torch.empty(2, 17, P, device="meta"),
               torch.empty(60, device="meta"))
    out = torch.ops.pybench.linear(x, w, b, 60, "hardswish")
    assert out.device.type == "meta" and out.shape == (5, 60) and out.dtype == torch.float32
    assert torch.ops.pybench.linear(x, w, None, 49, "relu").shape == (5, 49)
    for args, match in [((x, w, b, 97, "relu"), "out_features=97"),
                        ((torch.empty(5, 16, device="meta"), w, b, 60, "relu"), "in_features"),
                        ((x, w, b, 60, "gelu"), "unknown activation"),
                        ((x, w, torch.empty(59, device="meta"), 60, "relu"), "bias")]:
        with pytest.raises(ValueError, match=match):
            torch.ops.pybench.linear(*args)


def test_fake_kernel_takes_the_default_activation():
    """The dispatcher drops trailing arguments equal to the schema's default before it
    calls a Python kernel, so activation="none" reaches the fake kernel as no argument:
    the fake kernel needs the default too (else meta calls, opcheck's test_faketensor and
    torch.compile fail on every layer without an activation)."""
    x, w = torch.empty(5, 17, device="meta"), torch.empty(2, 17, P, device="meta")
    assert torch.ops.pybench.linear(x, w, None, 49, "none").shape == (5, 49)
    assert torch.ops.pybench.linear(x, w, None, 49).shape == (5, 49)
    x, w, _ = _operands(5, 49, 17, seed=12)
    torch.library.opcheck(torch.ops.pybench.linear.default, (x, ops.pack_linear(w), None, 49,
                                                             "none"))


def test_torch_compile():
    x, w, b = _operands(6, 60, 17, seed=13)
    packed = ops.pack_linear(w)
    fn = torch.compile(lambda t: ops.linear(t, packed, b, 60, "relu6"), fullgraph=True)
    x3 = x.reshape(2, 3, 17)
    assert torch.equal(fn(x3), ops.linear(x3, packed, b, 60, "relu6"))


def _bad(**changes):
    g = torch.Generator().manual_seed(11)
    args = dict(input=torch.randn(3, 17, generator=g),
                weight_packed=ops.pack_linear(torch.randn(60, 17, generator=g)),
                bias=torch.randn(60, generator=g), out_features=60)
    args.update(changes)
    return args


_META = dict(input=torch.empty(3, 17, device="meta"),
             weight_packed=torch.empty(2, 17, P, device="meta"),
             bias=torch.empty(60, device="meta"))


@pytest.mark.parametrize("changes, error, match", [
    (dict(input=torch.randn(3, 17, dtype=torch.float64)), TypeError, "float32 input"),
    (dict(weight_packed=torch.randn(2, 17, P, dtype=torch.float16)), TypeError, "float32 weight"),
    (dict(bias=torch.ones(60, dtype=torch.int32)), TypeError, "float32 bias"),
    (dict(input=torch.randn(3, 17).to_sparse()), TypeError, "dense"),
    (_META, ValueError, "CPU only"),
    (dict(weight_packed=_META["weight_packed"]), RuntimeError, "input is on cpu but weight"),
    (dict(weight_packed=torch.randn(60, 17)), ValueError, "packed weight"),
    (dict(weight_packed=torch.randn(2, 17, 32)), ValueError, "packed weight"),
    (dict(input=torch.randn(3, 16)), ValueError, "does not match the packed weight's 17"),
    (dict(out_features=40), ValueError, "out_features=40 does not match"),
    (dict(out_features=97), ValueError, "out_features=97 does not match"),
    (dict(out_features=0, bias=None), ValueError, "out_features=0 does not match"),
    (dict(out_features=-5, bias=None), ValueError, "does not match"),
    (dict(bias=torch.randn(59)), ValueError, r"expected bias of shape \(60\)"),
    (dict(bias=torch.randn(1, 60)), ValueError, r"expected bias of shape \(60\)"),
    (dict(activation="gelu"), ValueError, "unknown activation 'gelu'"),
    (dict(activation="gelu", input=torch.randn(0, 17)), ValueError, "unknown activation"),
    (dict(input=torch.tensor(1.0)), ValueError, "0-d"),
])
def test_bad_input_raises(changes, error, match):
    with pytest.raises(error, match=match):
        ops.linear(**_bad(**changes))


def test_op_wants_a_2d_input():
    args = _bad()
    with pytest.raises(ValueError, match="2-D input"):
        torch.ops.pybench.linear(args["input"][None], args["weight_packed"], args["bias"], 60,
                                 "none")


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="needs a CUDA device to make a CUDA tensor")
def test_cuda_tensor_is_refused():
    args = {k: v.cuda() if isinstance(v, torch.Tensor) else v for k, v in _bad().items()}
    with pytest.raises(ValueError, match="CPU only"):
        ops.linear(**args)
