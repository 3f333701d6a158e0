"""The output cache of the blocked ops (pybench.ops.output_cache): reuse, limit, poison,
and that the blocked kernels write every element of a reused (NaN-filled) block."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
import torch
import torch.nn.functional as F

import pybench.ops as ops

MIN_BYTES = 256 << 10
LIMIT = 1024 << 20


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts from an empty cache at the default limit, poisoned (as conftest set
    it), and leaves it so."""
    ops.set_output_cache(LIMIT, poison=True)
    ops.empty_output_cache()
    yield
    ops.set_output_cache(LIMIT, poison=True)
    ops.empty_output_cache()


def test_conftest_runs_the_suite_poisoned():
    assert ops.output_cache_info().poison


def test_a_freed_block_is_reused_for_the_same_size():
    a = ops.empty_output((4, 64, 32, 32))  # 1 MiB
    ptr = a.data_ptr()
    before = ops.output_cache_info()
    del a
    assert ops.output_cache_info().cached_bytes == before.cached_bytes + (1 << 20)
    b = ops.empty_output((4, 64, 32, 32))
    after = ops.output_cache_info()
    assert b.data_ptr() == ptr
    assert after.hits == before.hits + 1 and after.misses == before.misses
    assert after.cached_bytes == before.cached_bytes


def test_a_much_larger_block_is_not_taken_by_a_small_request():
    big = ops.empty_output((1 << 20,))  # 4 MiB
    del big
    misses = ops.output_cache_info().misses
    small = ops.empty_output((300_000,))  # 1.2 MB: a 4 MiB block is more than 1/8 larger
    assert ops.output_cache_info().misses == misses + 1
    assert ops.output_cache_info().cached_bytes == 4 << 20
    del small


def test_small_outputs_bypass_the_cache():
    info = ops.output_cache_info()
    t = ops.empty_output((MIN_BYTES // 4 - 1,))
    del t
    after = ops.output_cache_info()
    assert (after.hits, after.misses, after.cached_bytes) == (info.hits, info.misses, 0)


@pytest.mark.parametrize("numel", [10, MIN_BYTES // 4 + 5])
def test_poison_fills_every_output_with_nan(numel):
    t = ops.empty_output((numel,))
    assert torch.isnan(t).all()
    t.fill_(1.0)
    del t
    assert torch.isnan(ops.empty_output((numel,))).all()  # the reused block too


def test_without_poison_a_reused_block_keeps_its_old_values():
    ops.set_output_cache(poison=False)
    t = ops.empty_output((MIN_BYTES,))
    t.fill_(3.0)
    del t
    assert torch.equal(ops.empty_output((MIN_BYTES,)), torch.full((MIN_BYTES,), 3.0))


def test_limit_zero_caches_nothing_and_a_lower_limit_frees_now():
    blocks = [ops.empty_output((1 << 18,)) for _ in range(3)]  # 1 MiB each
    del blocks
    assert ops.output_cache_info().cached_bytes == 3 << 20
    ops.set_output_cache(limit_bytes=(2 << 20) + 1)
    assert ops.output_cache_info().cached_bytes == 2 << 20
    ops.set_output_cache(limit_bytes=0)
    assert ops.output_cache_info().cached_bytes == 0
    t = ops.empty_output((1 << 18,))
    del t
    assert ops.output_cache_info().cached_bytes == 0


def test_empty_output_cache_frees_only_unused_blocks():
    keep = ops.empty_output((1 << 18,))
    drop = ops.empty_output((1 << 18,))
    del drop
    assert ops.output_cache_info().cached_blocks == 1
    ops.empty_output_cache()
    assert ops.output_cache_info().cached_bytes == 0
    keep.fill_(2.0)  # still valid memory
    assert float(keep.sum()) == 2.0 * (1 << 18)


def test_cached_storage_is_resizable():
    t = ops.empty_output((1 << 18,))
    t.resize_(1 << 20)
    t.fill_(1.0)
    assert float(t.sum()) == float(1 << 20)


def test_blocks_freed_on_other_threads():
    """Tensors allocated on one thread and freed on others, concurrently: every block ends
    up cached once (the cache's lock, not the GIL, must hold this up: the frees run in
    C++ as the last reference drops)."""
    made = [ops.empty_output((1 << (16 + i % 3),)) for i in range(24)]
    sizes = sum(t.numel() * 4 for t in made)
    chunks = [made[i::4] for i in range(4)]
    del made

    def free(chunk):
        while chunk:
            chunk.pop()

    threads = [threading.Thread(target=free, args=(c,)) for c in chunks]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    info = ops.output_cache_info()
    assert (info.cached_blocks, info.cached_bytes) == (24, sizes)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="limit_bytes"):
        ops.set_output_cache(limit_bytes=-1)
    with pytest.raises(ValueError, match="limit_bytes"):
        ops.set_output_cache(limit_bytes=1.5)
    with pytest.raises(ValueError, match="negative size"):
        ops.empty_output((2, -3))


def test_malformed_environment_limit_is_a_value_error():
    env = dict(os.environ, PYBENCH_OUTPUT_CACHE_MB="lots")
    code = ("import pybench.ops as o\n"
            "try:\n    o.output_cache_info()\n"
            "except ValueError as e:\n    print('VE', e)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert "VE" in out.stdout and "PYBENCH_OUTPUT_CACHE_MB" in out.stdout, out.stderr


def test_environment_limit_is_read():
    env = dict(os.environ, PYBENCH_OUTPUT_CACHE_MB="3")
    code = "import pybench.ops as o; print(o.output_cache_info().limit_bytes)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip() == str(3 << 20), out.stderr


# --- the blocked kernels write every element of a reused, NaN-filled block --------------

@pytest.mark.parametrize("block", (8, 16))
def test_blocked_ops_overwrite_a_poisoned_reused_block(cpu_isa, block):
    """Large outputs (cached sizes) with channel counts off the block: run each op twice so
    the second call gets the first call's (NaN-refilled) block; the results match float64
    and the padded lanes are zero both times."""
    g = torch.Generator().manual_seed(11)
    n, c, h, w, k = 2, 13, 81, 67, 21
    x = torch.randn(n, c, h, w, generator=g)
    wc = torch.randn(k, c, 3, 3, generator=g)
    wd = torch.randn(c, 1, 3, 3, generator=g)
    xb = ops.to_nchwc(x, block)
    conv_ref = F.conv2d(x.double(), wc.double(), padding=1)
    dw_ref = F.conv2d(x.double(), wd.double(), padding=1, groups=c)
    pool_ref = F.max_pool2d(x.double(), 3, 1, 1)
    packed = ops.pack_conv2d_nchwc(wc, block)
    packed_dw = ops.pack_depthwise_nchwc(wd, block)
    for _ in range(2):
        hits = ops.output_cache_info().hits
        outs = {
            "conv": (ops.conv2d_nchwc(xb, packed, out_channels=k, padding=1), k, conv_ref),
            "depthwise": (ops.depthwise_conv2d_nchwc(xb, packed_dw, padding=1, channels=c), c,
                          dw_ref),
            "maxpool": (ops.max_pool2d_nchwc(xb, 3, 1, 1), c, pool_ref),
        }
        for name, (out, channels, ref) in outs.items():
            assert out.numel() * 4 >= MIN_BYTES, name
            used = channels - (out.shape[1] - 1) * block
            assert torch.equal(out[:, -1, ..., used:], torch.zeros_like(out[:, -1, ..., used:])), name
            got = ops.from_nchwc(out, channels).double()
            assert not torch.isnan(got).any(), name
            torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4, msg=name)
        del outs, out
    assert ops.output_cache_info().hits >= hits + 3
