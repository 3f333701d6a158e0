"""The raw LSTM ops' cache of packed weights (pybench.ops.pack_cache, issue 15): results match
float64 torch.nn on every CPU ISA, a repeated call packs once, and every change that makes a
pack stale -- an in-place update, a new tensor in a freed weight's memory, another CPU ISA, a
write past the version counter (issue 20) -- repacks, while the cache never keeps a weight
alive and stays bounded."""
import gc
import math
import random
import weakref

import numpy as np
import pytest
import torch

import pybench.ops as ops
from conftest import available_cpu_isas, device_params
from pybench.ops import lstm_ops, pack_cache
from test_lstm import (CELL_ATOL, SEQ_ATOL, make_weights, max_abs, reference_lstm,
                       reference_lstm_cell)

PACKING_ISAS = [isa for isa in available_cpu_isas() if isa != "scalar"]


@pytest.fixture(autouse=True)
def packs(monkeypatch):
    """An empty cache per test, and a list recording every pack the cache makes."""
    made = []
    real = lstm_ops._pack

    def counting(w_ih, w_hh):
        made.append((w_ih.shape, w_hh.shape, ops.cpu_isa()))
        return real(w_ih, w_hh)

    monkeypatch.setattr(lstm_ops, "_pack", counting)
    ops.clear_pack_cache()
    yield made
    ops.clear_pack_cache()


def size():
    return ops.pack_cache_info()["lstm_pack_weights"].size


def operands(b, i, h, bias=True, seed=0, t=None):
    torch.manual_seed(seed)
    x = torch.randn(b, i) if t is None else torch.randn(t, b, i)
    return x, torch.randn(b, h), torch.randn(b, h), make_weights(i, h, bias, seed)


def check_cell(x, hx, cx, w):
    hy, cy = ops.lstm_cell(x, hx, cx, *w)
    rh, rc = reference_lstm_cell(x, hx, cx, *w)
    assert max_abs(hy, rh) <= CELL_ATOL and max_abs(cy, rc) <= CELL_ATOL
    return hy, cy


def check_seq(x, hx, cx, w, batch_first=False):
    out, (hn, cn) = ops.lstm(x, hx, cx, *w, batch_first=batch_first)
    ro, (rh, rc) = reference_lstm(x, hx, cx, *w, batch_first=batch_first)
    assert max_abs(out, ro) <= SEQ_ATOL and max_abs(hn, rh) <= SEQ_ATOL
    assert max_abs(cn, rc) <= SEQ_ATOL
    return out, hn, cn


def shapes(seed):
    """(B, I, H): batch 1, odd sizes, H below / between / above the 8 and 16 lane panels."""
    rng = random.Random(seed)
    fixed = [(1, 1, 1), (1, 7, 5), (3, 17, 129), (2, 300, 33), (5, 9, 20), (1, 64, 95),
             (4, 700, 12)]
    return fixed + [(rng.randint(1, 9), rng.randint(1, 90), rng.randint(1, 90)) for _ in range(4)]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("shape", shapes(15), ids=lambda s: "B{}_I{}_H{}".format(*s))
def test_cell_cached_matches_float64_and_packs_once(shape, bias, cpu_isa, packs):
    b, i, h = shape
    x, hx, cx, w = operands(b, i, h, bias, seed=hash(shape) % 2**31)
    first = check_cell(x, hx, cx, w)
    second = check_cell(x, hx, cx, w)
    assert all(torch.equal(a, c) for a, c in zip(first, second))
    uncached = ops.lstm_cell(x, hx, cx, *w, packed_ih=None, packed_hh=None)
    assert all(torch.equal(a, c) for a, c in zip(first, uncached))
    # The scalar kernel reads the raw weights: nothing to pack or cache.
    assert len(packs) == (0 if cpu_isa == "scalar" else 1)
    check_cell(x[0], hx[0], cx[0], w)  # unbatched, the same weights: still the one pack
    assert len(packs) == (0 if cpu_isa == "scalar" else 1)


@pytest.mark.parametrize("batch_first", [False, True], ids=["tbi", "bti"])
@pytest.mark.parametrize("shape", [(1, 1, 3, 5), (9, 1, 7, 9), (6, 4, 30, 40), (5, 3, 1, 129),
                                   (4, 2, 33, 17)], ids=lambda s: "T{}_B{}_I{}_H{}".format(*s))
def test_sequence_cached_matches_float64(shape, batch_first, cpu_isa, packs):
    t, b, i, h = shape
    x, hx, cx, w = operands(b, i, h, seed=hash(shape) % 2**31, t=t)
    if batch_first:
        x = x.transpose(0, 1).contiguous()
    first = check_seq(x, hx, cx, w, batch_first)
    second = check_seq(x, hx, cx, w, batch_first)
    assert all(torch.equal(a, c) for a, c in zip(first, second))
    # The cell and the sequence op pack the same way and share the cache.
    check_cell(x[:, 0] if batch_first else x[0], hx, cx, w)
    assert len(packs) == (0 if cpu_isa == "scalar" else 1)


@pytest.mark.parametrize("cpu_isa", PACKING_ISAS, indirect=True)
def test_second_call_is_a_hit(cpu_isa, packs):
    x, hx, cx, w = operands(3, 10, 24)
    before = ops.pack_cache_info()["lstm_pack_weights"]
    for _ in range(3):
        ops.lstm_cell(x, hx, cx, *w)
    after = ops.pack_cache_info()["lstm_pack_weights"]
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 2)
    assert len(packs) == 1 and size() == 1


@pytest.mark.parametrize("cpu_isa", PACKING_ISAS, indirect=True)
@pytest.mark.parametrize("update", [
    pytest.param(lambda w: w[1].add_(0.5), id="w_hh.add_"),
    pytest.param(lambda w: w[0].mul_(-1.5), id="w_ih.mul_"),
    pytest.param(lambda w: w[0][:8].fill_(0.3), id="w_ih-view.fill_"),
    pytest.param(lambda w: w[1].copy_(torch.randn_like(w[1])), id="w_hh.copy_"),
    pytest.param(lambda w: torch.nn.init.uniform_(w[1]), id="nn.init"),
    # Same shape and storage, new strides: metadata-only in-place ops bump the version too.
    pytest.param(lambda w: w[0].t_(), id="square-w_ih.t_"),
])
def test_in_place_update_repacks(update, cpu_isa, packs):
    x, hx, cx, w = operands(4, 84, 21)  # I = 4H: w_ih is square
    stale = check_cell(x, hx, cx, w)
    with torch.no_grad():
        update(w)
    fresh = check_cell(x, hx, cx, w)  # against the reference of the updated weights
    assert not torch.equal(stale[0], fresh[0])
    assert len(packs) == 2
    check_seq(x[None].expand(3, -1, -1), hx, cx, w)
    assert len(packs) == 2


@pytest.mark.parametrize("cpu_isa", PACKING_ISAS, indirect=True)
def test_optimizer_step_repacks(cpu_isa, packs):
    """A training loop: SGD updates the parameters in place between no-grad evaluations."""
    x, hx, cx, w = operands(2, 6, 10)
    params = [torch.nn.Parameter(t) for t in w]
    opt = torch.optim.SGD(params, lr=0.5)
    for step in range(3):
        with torch.no_grad():
            check_cell(x, hx, cx, params)
        hy, _ = torch._VF.lstm_cell(x, (hx, cx), *params)
        opt.zero_grad()
        hy.square().sum().backward()
        opt.step()
    assert len(packs) == 3


@pytest.mark.parametrize("cpu_isa", PACKING_ISAS, indirect=True)
def test_new_tensor_at_a_dead_weights_address_misses(cpu_isa, packs):
    """What the allocator does when it hands a freed weight's memory to a new tensor: a
    different tensor object at the same address, shape and version (0), with new values.
    Made deterministic here by an alias with its own version counter (``.data``), written
    through numpy; a key of data_ptr + version + shape would hand back the dead one's pack."""
    x, hx, cx, (w_ih, w_hh, b_ih, b_hh) = operands(3, 11, 40)
    check_cell(x, hx, cx, (w_ih, w_hh, b_ih, b_hh))
    successor = w_hh.data
    del w_hh
    successor.numpy()[:] = torch.randn(successor.shape).numpy()
    assert successor._version == 0
    check_cell(x, hx, cx, (w_ih, successor, b_ih, b_hh))
    assert len(packs) == 2


def test_identity_check_refuses_a_colliding_key(monkeypatch):
    """Forced: even when a new tensor's whole key matches a dead entry's (here by a key of
    the shape alone) and the death went unnoticed, the weakref identity check misses."""
    cache = pack_cache.PackCache("test", maxsize=4)
    monkeypatch.setattr(pack_cache.PackCache, "_key",
                        staticmethod(lambda sources, extra: tuple(t.shape for t in sources)))
    monkeypatch.setattr(pack_cache.PackCache, "_remove", lambda self, key, token: None)
    a = torch.ones(5)
    assert cache.get((a,), lambda t: t * 2)[0].item() == 2
    del a
    b = torch.full((5,), 3.0)
    assert cache.get((b,), lambda t: t * 2)[0].item() == 6
    assert cache.get((b,), lambda t: t * 100)[0].item() == 6  # and b itself now hits
    assert cache.info().misses == 2


@pytest.mark.skipif(len(PACKING_ISAS) < 2, reason="needs two CPU ISAs that pack differently")
def test_isa_switch_repacks(packs):
    x, hx, cx, w = operands(5, 19, 37)
    for isa in PACKING_ISAS + ["scalar"] + PACKING_ISAS:
        with ops.use_cpu_isa(isa):
            check_cell(x, hx, cx, w)
            check_seq(x[None], hx, cx, w)
    # One pack per packing ISA; coming back to an ISA finds its pack still cached.
    assert sorted(isa for _, _, isa in packs) == sorted(PACKING_ISAS)


@pytest.mark.parametrize("cpu_isa", PACKING_ISAS, indirect=True)
def test_inference_tensors_are_not_cached(cpu_isa, packs):
    x, hx, cx, w = operands(3, 9, 17)
    with torch.inference_mode():
        wi = [t.clone() for t in w]
        assert wi[0].is_inference()
        check_cell(x, hx, cx, wi)
        check_cell(x, hx, cx, wi)
    check_cell(x, hx, cx, wi)
    check_seq(x[None], hx, cx, wi)
    assert packs == [] and size() == 0


@pytest.mark.parametrize("cpu_isa", PACKING_ISAS, indirect=True)
def test_grad_recording_is_not_cached(cpu_isa, packs):
    """Weights that require grad while grad mode is on go through as before (no cache);
    under no_grad the same weights are cached."""
    x, hx, cx, w = operands(2, 8, 12)
    params = [t.requires_grad_() for t in w]
    hy, _ = ops.lstm_cell(x, hx, cx, *params)
    assert hy.requires_grad  # as without the cache: the op's outputs join the graph
    assert packs == [] and size() == 0
    with torch.no_grad():
        check_cell(x, hx, cx, params)
        check_cell(x, hx, cx, params)
    assert len(packs) == 1


@pytest.mark.parametrize("cpu_isa", PACKING_ISAS, indirect=True)
def test_cache_does_not_keep_weights_alive(cpu_isa, packs):
    x, hx, cx, (w_ih, w_hh, b_ih, b_hh) = operands(3, 9, 17)
    check_cell(x, hx, cx, (w_ih, w_hh, b_ih, b_hh))
    assert size() == 1
    ref_ih, ref_hh = weakref.ref(w_ih), weakref.ref(w_hh)
    pack = weakref.ref(lstm_ops._PACKS._entries[next(iter(lstm_ops._PACKS._entries))].value[0])
    del w_ih
    assert ref_ih() is None and ref_hh() is not None
    assert size() == 0
    assert pack() is None  # the entry, with its packs, is gone too
    del w_hh
    gc.collect()
    assert ref_hh() is None


@pytest.mark.parametrize("cpu_isa", PACKING_ISAS, indirect=True)
def test_lru_bound(cpu_isa, packs):
    maxsize = lstm_ops._PACKS.maxsize
    x, hx, cx, _ = operands(2, 6, 9)
    weights = [make_weights(6, 9, True, seed) for seed in range(maxsize + 2)]
    for w in weights:
        ops.lstm_cell(x, hx, cx, *w)
    assert size() == maxsize and len(packs) == maxsize + 2
    check_cell(x, hx, cx, weights[-1])  # recent: a hit
    assert len(packs) == maxsize + 2
    check_cell(x, hx, cx, weights[0])  # evicted: packed again
    assert len(packs) == maxsize + 3 and size() == maxsize


@pytest.mark.parametrize("cpu_isa", PACKING_ISAS, indirect=True)
def test_non_contiguous_weights(cpu_isa, packs):
    x, hx, cx, w = operands(4, 10, 14)
    strided = [w[0].t().contiguous().t(), w[1][:, :].t().contiguous().t(), w[2], w[3]]
    assert not strided[0].is_contiguous()
    check_cell(x, hx, cx, strided)
    check_cell(x, hx, cx, w)  # the same values, another layout: its own entry
    check_cell(x, hx, cx, strided)
    assert len(packs) == 2


@pytest.mark.parametrize("cpu_isa", PACKING_ISAS, indirect=True)
@pytest.mark.parametrize("write", [
    pytest.param(lambda w: w.data.copy_(torch.randn_like(w)), id="data.copy_"),
    pytest.param(lambda w: w.data.mul_(2), id="data.mul_"),
    pytest.param(lambda w: w.numpy().__setitem__(..., torch.randn(w.shape).numpy()), id="numpy"),
    pytest.param(lambda w: w.data[5].zero_(), id="one-row"),
    pytest.param(lambda w: w.data[:, 3].fill_(7.0), id="one-column"),
    pytest.param(lambda w: torch.from_numpy(w.numpy())[-1, -1:].fill_(3.0), id="from_numpy-last"),
])
def test_writes_the_version_counter_misses_are_caught(write, cpu_isa, packs):
    """Writes through aliases without w's version counter (issue 20): the key matches, the
    content probe does not, so the next call packs the new values."""
    x, hx, cx, w = operands(3, 7, 11)
    stale = check_cell(x, hx, cx, w)
    version = w[1]._version
    write(w[1])
    assert w[1]._version == version  # why the key alone cannot notice
    fresh = check_cell(x, hx, cx, w)  # against the reference of the new values
    assert not torch.equal(stale[0], fresh[0])
    info = ops.pack_cache_info()["lstm_pack_weights"]
    assert len(packs) == 2 and info.stale == 1 and info.size == 1


@pytest.mark.parametrize("cpu_isa", PACKING_ISAS, indirect=True)
def test_clear_after_a_scattered_write_through_data(cpu_isa, packs):
    """The documented gap: a write through .data of elements off the probe is not seen;
    clear_pack_cache makes the next call pack the new values."""
    x, hx, cx, w = operands(3, 7, 11)
    check_cell(x, hx, cx, w)
    w[1].data[0, 1] += 1.0  # w_hh (44, 11): row i is probed at column i // 4, so not (0, 1)
    ops.lstm_cell(x, hx, cx, *w)
    assert len(packs) == 1  # the old pack: stale, as documented
    ops.clear_pack_cache()
    assert size() == 0
    check_cell(x, hx, cx, w)
    assert len(packs) == 2


def test_content_probe_spreads_over_rows_and_columns():
    limit = pack_cache.PROBE_SIZE
    for shape in [(44, 7), (44, 11), (8, 300), (16, 16), (1, 5), (5,), (), (0, 4), (3, 4, 5),
                  (4096, 1024), (160, 300), (1024, 4096)]:
        t = torch.arange(math.prod(shape), dtype=torch.float32).reshape(shape)
        probed = pack_cache._probe_index(tuple(shape))
        assert len(probed) <= limit
        if t.numel() == 0:
            assert probed.size == 0
            continue
        rows = shape[0] if t.dim() >= 2 else 1
        cols = t.numel() // rows
        r, c = probed // cols, probed % cols
        if max(rows, cols) <= limit:  # every row and every column
            assert set(r.tolist()) == set(range(rows)) and set(c.tolist()) == set(range(cols))
        # no run of ceil(n / PROBE_SIZE) whole rows or columns escapes the probe
        for seen, n in ((r, rows), (c, cols)):
            gaps = np.diff(np.concatenate([[-1], np.unique(seen), [n]]))
            assert gaps.max() <= -(-n // limit), (shape, gaps.max())
        assert pack_cache.content_probe(t) == pack_cache.content_probe(t.clone())
    w = torch.randn(40, 10)
    assert pack_cache.content_probe(w.t().contiguous().t()) == pack_cache.content_probe(w)
    assert pack_cache.content_probe(w.bfloat16()) == pack_cache.content_probe(w.bfloat16())
    nan = torch.full((4, 4), float("nan"))
    assert pack_cache.content_probe(nan) == pack_cache.content_probe(nan.clone())
    assert pack_cache.content_probe(torch.zeros(3)) != pack_cache.content_probe(-torch.zeros(3))


@pytest.mark.parametrize("cpu_isa", PACKING_ISAS, indirect=True)
def test_disabled(cpu_isa, packs, monkeypatch):
    monkeypatch.setattr(pack_cache, "ENABLED", False)
    x, hx, cx, w = operands(3, 7, 11)
    check_cell(x, hx, cx, w)
    check_cell(x, hx, cx, w)
    assert packs == [] and size() == 0


@pytest.mark.parametrize("cpu_isa", PACKING_ISAS, indirect=True)
def test_explicit_packs_bypass_the_cache(cpu_isa, packs):
    x, hx, cx, w = operands(3, 7, 11)
    p_ih, p_hh = ops.lstm_pack_weights(w[0], w[1])
    ops.lstm_cell(x, hx, cx, *w, packed_ih=p_ih, packed_hh=p_hh)
    assert packs == [] and size() == 0


def test_meta_and_bad_shapes_are_not_cached(packs):
    m = lambda *s: torch.empty(*s, device="meta")  # noqa: E731
    ops.lstm_cell(m(3, 6), m(3, 5), m(3, 5), m(20, 6), m(20, 5))
    with pytest.raises(ValueError, match="pybench.lstm_cell: .*w_hh"):
        ops.lstm_cell(torch.randn(3, 6), torch.randn(3, 5), torch.randn(3, 5),
                      torch.randn(20, 6), torch.randn(21, 5))
    assert packs == [] and size() == 0


def test_torch_compile_is_not_cached(packs):
    x, hx, cx, w = operands(2, 8, 6)
    compiled = torch.compile(lambda *a: ops.lstm_cell(*a)[0] * 2.0, fullgraph=True)
    rh, _ = reference_lstm_cell(x, hx, cx, *w)
    for _ in range(2):
        assert max_abs(compiled(x, hx, cx, *w), rh * 2.0) <= 2 * CELL_ATOL
    assert packs == [] and size() == 0


@pytest.mark.parametrize("device", [p for p in device_params() if p.id == "cuda"])
def test_cuda_is_not_cached(device, packs):
    x, hx, cx, w = operands(3, 7, 11)
    x, hx, cx = x.to(device), hx.to(device), cx.to(device)
    w = [t.to(device) for t in w]
    check_cell(x, hx, cx, w)
    check_cell(x, hx, cx, w)
    assert packs == [] and size() == 0
