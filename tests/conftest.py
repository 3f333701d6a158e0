import contextlib
import os
import tempfile

import pytest
import torch

import pybench.ops as ops

# convert()'s measured layer choices are cached on disk; tests must neither read a
# developer's cache nor leave one behind. Set before any test (and any worker it starts).
os.environ["PYBENCH_CACHE_DIR"] = tempfile.mkdtemp(prefix="pybench-test-cache-")
# Every block the output cache hands out is NaN first: an output element a blocked kernel
# leaves unwritten fails its test instead of passing on a stale or fresh-zero page.
os.environ["PYBENCH_OUTPUT_CACHE_POISON"] = "1"


@pytest.fixture(autouse=True)
def _allocator_left_alone(monkeypatch):
    """`pybench run` keeps freed memory mapped (pybench.allocator): process-wide and
    irreversible, so a CLI test would do it to the whole test session and, through
    GLIBC_TUNABLES, to every process started after it. tests/test_allocator.py checks the
    real thing in subprocesses of its own."""
    from pybench import allocator
    monkeypatch.setattr(allocator, "_keep_pages", lambda libc: None)


def available_cpu_isas():
    """Every CPU ISA variant this machine can run, best first."""
    best = ops.CPU_ISAS.index(ops.detected_cpu_isa())
    return list(ops.CPU_ISAS[best:])


CUDA_SKIP_REASON = (
    "no CUDA device: torch.cuda.is_available() is False"
    if not torch.cuda.is_available()
    else "pybench was built without CUDA kernels (PYBENCH_CUDA=0 or no nvcc at build time)"
)


def device_params():
    """cpu always; cuda where a device and the CUDA kernels exist, else skipped with why."""
    runnable = torch.cuda.is_available() and ops.has_cuda_kernels()
    return [
        pytest.param("cpu", id="cpu"),
        pytest.param(
            "cuda", id="cuda", marks=pytest.mark.skipif(not runnable, reason=CUDA_SKIP_REASON)
        ),
    ]


def assert_matches_reference(out: torch.Tensor, ref: torch.Tensor, scale: torch.Tensor,
                             rtol: float = 1e-5):
    """A convolution's float32 ``out`` against its float64 reference ``ref``.

    Two bounds, both ``rtol``: the relative Frobenius error over the whole output, and
    every element's error relative to ``scale``, the same convolution on absolute
    operands (|x| * |w| + |b|), which bounds what float32 rounding can cost that element.
    """
    assert out.dtype == torch.float32
    assert tuple(out.shape) == tuple(ref.shape), (
        f"shape {tuple(out.shape)}, the reference gives {tuple(ref.shape)}")
    out64 = out.detach().cpu().double()
    assert torch.isfinite(out64).all(), "non-finite output (unwritten memory or a stray read?)"
    diff_norm, ref_norm = (out64 - ref).norm().item(), ref.norm().item()
    err = diff_norm / ref_norm if ref_norm > 0 else (0.0 if diff_norm == 0 else float("inf"))
    assert err <= rtol, f"relative Frobenius error {err:.3g} > {rtol}"
    diff = (out64 - ref).abs()
    # scale 0: an output whose window lies wholly in the padding, with no bias -- exactly 0
    excess = torch.where(scale > 0, diff / scale, torch.where(diff == 0, 0.0, float("inf")))
    worst = int(excess.argmax())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), excess.shape))
    assert excess.flatten()[worst] <= rtol, (
        f"element {index}: out {out64[index].item():.7g}, ref {ref[index].item():.7g}, "
        f"|diff| / (|x|*|w| + |b|) = {excess.flatten()[worst].item():.3g} > {rtol}")


@pytest.fixture(params=available_cpu_isas())
def cpu_isa(request):
    """Runs the test once per CPU ISA variant, switching pybench's dispatch in-process."""
    with ops.use_cpu_isa(request.param):
        yield request.param


@contextlib.contextmanager
def scoped_hook(setter, value, restore):
    """``setter(value)`` -- one of pybench's ``_set_*_for_testing`` ops -- for the block,
    ``setter(restore)`` after it however the block ends."""
    setter(value)
    try:
        yield
    finally:
        setter(restore)


@contextlib.contextmanager
def cache_override(spec: str):
    """The kernels block for ``spec`` (PYBENCH_CPU_CACHES syntax, over the detected
    caches) inside the block, which gets the blocking sizes they derive from it."""
    with scoped_hook(torch.ops.pybench._set_cpu_caches_for_testing, spec, ""):
        yield torch.ops.pybench._cpu_cache_blocking()


def assert_stacking_changes_no_bit(run):
    """Calls ``run()`` (a tuple of tensors) with the CPU kernels' image stacking on and off
    (torch.ops.pybench._set_image_stacking_for_testing), on 1 and 2 threads, and asserts
    the results bitwise equal: stacking moves outputs between tiles, never reorders a sum."""
    set_stacking = torch.ops.pybench._set_image_stacking_for_testing
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            set_stacking(True)
            stacked = run()
            set_stacking(False)
            alone = run()
            for a, b in zip(stacked, alone, strict=True):
                assert torch.equal(a, b), f"stacking changed the result on {threads} threads"
    finally:
        set_stacking(True)
        torch.set_num_threads(before)
