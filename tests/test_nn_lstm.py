"""pybench.nn.LSTMCell / pybench.nn.LSTM against torch.nn's modules, and convert() swapping
them in. Spies on pybench.ops count the kernel calls, so a test cannot pass by silently
running PyTorch's LSTM."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import pybench.nn as pnn
from pybench import ops

ATOL = 1e-4


@pytest.fixture
def lstm_calls(monkeypatch):
    calls = []
    for name in ("lstm", "lstm_cell"):
        real = getattr(ops, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(ops, name, spy)
    return calls


def max_abs(a, b):
    return (a.double() - b.double()).abs().max().item()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch", [1, 5])
def test_lstm_cell_module_matches_torch(bias, batch, cpu_isa, lstm_calls):
    torch.manual_seed(1)
    ref = nn.LSTMCell(13, 21, bias=bias)
    mine = pnn.LSTMCell(13, 21, bias=bias)
    mine.load_state_dict(ref.state_dict())
    assert mine.state_dict().keys() == ref.state_dict().keys()
    x, h, c = torch.randn(batch, 13), torch.randn(batch, 21), torch.randn(batch, 21)
    with torch.inference_mode():
        for hx in ((h, c), None):
            out, want = mine(x, hx), ref(x, hx)
            assert max_abs(out[0], want[0]) <= 1e-5 and max_abs(out[1], want[1]) <= 1e-5
        hy, cy = mine(x[0], (h[0], c[0]))  # unbatched
        rh, rc = ref(x[0], (h[0], c[0]))
        assert hy.shape == rh.shape and max_abs(hy, rh) <= 1e-5
    assert lstm_calls.count("lstm_cell") == 3


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_lstm_module_matches_torch(batch_first, bias, cpu_isa, lstm_calls):
    torch.manual_seed(2)
    ref = nn.LSTM(17, 23, bias=bias, batch_first=batch_first)
    mine = pnn.LSTM(17, 23, bias=bias, batch_first=batch_first)
    mine.load_state_dict(ref.state_dict())
    x = torch.randn((4, 30, 17) if batch_first else (30, 4, 17))
    h, c = torch.randn(1, 4, 23), torch.randn(1, 4, 23)
    with torch.inference_mode():
        for hx in ((h, c), None):
            out, (hn, cn) = mine(x, hx)
            ro, (rh, rc) = ref(x, hx)
            assert out.shape == ro.shape and hn.shape == rh.shape == (1, 4, 23)
            assert max_abs(out, ro) <= ATOL and max_abs(hn, rh) <= ATOL and max_abs(cn, rc) <= ATOL
        xu = x[0] if batch_first else x[:, 0]  # unbatched (T, I)
        out, (hn, _) = mine(xu, (h[:, 0], c[:, 0]))
        ro, (rh, _) = ref(xu, (h[:, 0], c[:, 0]))
        assert out.shape == ro.shape and hn.shape == rh.shape and max_abs(out, ro) <= ATOL
    assert lstm_calls.count("lstm") == 3


def test_packed_weights_cached_and_refreshed(lstm_calls):
    torch.manual_seed(3)
    mine = pnn.LSTM(8, 9)
    x = torch.randn(5, 2, 8)
    with torch.inference_mode():
        mine(x)
        mine(x)
        assert mine._pybench_pack.info()[:2] == (1, 1)  # packed once, then reused
    with torch.no_grad():
        mine.weight_hh_l0.mul_(0.5)  # in place: the version counter moves
    ref = nn.LSTM(8, 9)
    ref.load_state_dict(mine.state_dict())
    with torch.inference_mode():
        out, _ = mine(x)
        assert mine._pybench_pack.info().misses == 2
        assert max_abs(out, ref(x)[0]) <= ATOL


# --- every way of editing a parameter (issue 20) -----------------------------------------
# Each edit happens after a first forward has packed the weights; the next forward must
# run pybench's kernel on the new values, as a torch.nn module given the same state_dict.

def _edit_copy(m, w):
    with torch.no_grad():
        m.weight_ih_l0.copy_(w) if isinstance(m, nn.LSTM) else m.weight_ih.copy_(w)


def _edit_data_copy(m, w):  # the reproducer: .data has its own version counter
    (m.weight_ih_l0 if isinstance(m, nn.LSTM) else m.weight_ih).data.copy_(w)


def _edit_numpy(m, w):  # a numpy alias: no version counter at all
    (m.weight_ih_l0 if isinstance(m, nn.LSTM) else m.weight_ih).detach().numpy()[:] = w.numpy()


def _edit_load_state_dict(m, w):
    state = m.state_dict()
    state["weight_ih_l0" if isinstance(m, nn.LSTM) else "weight_ih"] = w
    m.load_state_dict(state)


def _edit_load_state_dict_assign(m, w):  # new Parameter objects, maybe at the old address
    state = {k: v.clone() for k, v in m.state_dict().items()}
    state["weight_ih_l0" if isinstance(m, nn.LSTM) else "weight_ih"] = w.clone()
    m.load_state_dict(state, assign=True)


def _edit_optimizer_step(m, w):
    m.train()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    shape = (2, m.input_size) if isinstance(m, nn.LSTMCell) else (3, 2, m.input_size)
    out = m(torch.randn(shape))  # grad mode: a graph to backward through
    out[0].square().sum().backward()
    opt.step()
    m.eval()


def _edit_to(m, w):  # .to() away and back, edited in between
    m.double()
    with torch.no_grad():
        (m.weight_ih_l0 if isinstance(m, nn.LSTM) else m.weight_ih).copy_(w.double())
    m.float()


def _edit_to_data(m, w):  # .to() round trip, the edit through .data: same address, version
    m.double()
    (m.weight_ih_l0 if isinstance(m, nn.LSTM) else m.weight_ih).data.copy_(w.double())
    m.float()


def _edit_to_overwrite(m, w):  # .to() making new Parameter objects
    torch.__future__.set_overwrite_module_params_on_conversion(True)
    try:
        _edit_to(m, w)
    finally:
        torch.__future__.set_overwrite_module_params_on_conversion(False)


def _edit_to_swap(m, w):  # .to() swapping tensors in place (refused if the cache held weakrefs)
    torch.__future__.set_swap_module_params_on_conversion(True)
    try:
        _edit_to(m, w)
    finally:
        torch.__future__.set_swap_module_params_on_conversion(False)


EDITS = [_edit_copy, _edit_data_copy, _edit_numpy, _edit_load_state_dict,
         _edit_load_state_dict_assign, _edit_optimizer_step, _edit_to, _edit_to_data,
         _edit_to_overwrite, _edit_to_swap]


def _forward_matches_torch(m, x, lstm_calls):
    ref = (nn.LSTM if isinstance(m, nn.LSTM) else nn.LSTMCell)(m.input_size, m.hidden_size)
    ref.load_state_dict(m.state_dict())
    before = len(lstm_calls)
    with torch.no_grad():
        out, want = m(x), ref(x)
    assert len(lstm_calls) == before + 1  # pybench ran, not the fallback
    assert max_abs(out[0], want[0]) <= ATOL
    return out


@pytest.mark.parametrize("edit", EDITS, ids=lambda f: f.__name__.removeprefix("_edit_"))
@pytest.mark.parametrize("kind", ["LSTM", "LSTMCell"])
def test_every_edit_repacks(kind, edit, cpu_isa, lstm_calls):
    if kind == "LSTM" and edit is _edit_to_swap:
        pytest.skip("torch.nn.LSTM itself holds weakrefs to its parameters: no swap")
    torch.manual_seed(5)
    m = getattr(pnn, kind)(12, 20).eval()
    x = torch.randn(4, 12) if kind == "LSTMCell" else torch.randn(6, 4, 12)
    stale = _forward_matches_torch(m, x, lstm_calls)
    edit(m, torch.randn_like(m.weight_ih_l0 if kind == "LSTM" else m.weight_ih) * 2)
    fresh = _forward_matches_torch(m, x, lstm_calls)
    assert not torch.equal(stale[0], fresh[0])


def test_unedited_weights_pack_once(lstm_calls):
    torch.manual_seed(6)
    m = pnn.LSTMCell(12, 20).eval()
    x = torch.randn(4, 12)
    for _ in range(4):
        _forward_matches_torch(m, x, lstm_calls)
    info = m._pybench_pack.info()
    assert (info.hits, info.misses, info.stale) == (3, 1, 0)
    _edit_data_copy(m, torch.randn_like(m.weight_ih))
    _forward_matches_torch(m, x, lstm_calls)
    assert m._pybench_pack.info().stale == 1  # caught by the content probe alone


def test_scattered_data_write_needs_clear(lstm_calls):
    """The documented gap: a write through .data that changes only elements off the content
    probe goes unseen until clear_pack_cache()."""
    torch.manual_seed(7)
    m = pnn.LSTMCell(12, 20).eval()
    x = torch.randn(4, 12)
    _forward_matches_torch(m, x, lstm_calls)
    m.weight_hh.data[0, 1] += 1  # w_hh (80, 20): row i is probed at column i // 4, not (0, 1)
    with torch.no_grad():
        m(x)
    assert m._pybench_pack.info().hits == 1  # the old pack: what clear_pack_cache is for
    ops.clear_pack_cache()
    _forward_matches_torch(m, x, lstm_calls)


def test_module_made_under_inference_mode(lstm_calls):
    """Inference-tensor weights have no version counter: packed per call, not cached."""
    torch.manual_seed(8)
    with torch.inference_mode():
        m = pnn.LSTMCell(12, 20)
        x = torch.randn(4, 12)
        assert m(x)[0].shape == (4, 20) and m(x)[0].shape == (4, 20)
    assert m._pybench_pack.info().misses == 0 and lstm_calls == ["lstm_cell"] * 2


def test_copies_start_without_packs(lstm_calls):
    import copy
    import pickle
    torch.manual_seed(9)
    m = pnn.LSTM(12, 20).eval()
    x = torch.randn(6, 4, 12)
    _forward_matches_torch(m, x, lstm_calls)
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert clone._pybench_pack.info().size == 0
        _forward_matches_torch(clone, x, lstm_calls)


def test_fallbacks_say_why(lstm_calls):
    x = torch.randn(3, 2, 4)
    assert pnn.LSTM(4, 5, num_layers=2).unsupported_reason() is not None
    assert pnn.LSTM(4, 5, bidirectional=True).unsupported_reason() is not None
    assert pnn.LSTM(4, 5).double().unsupported_reason() is not None
    assert pnn.LSTMCell(4, 5).double().unsupported_reason() is not None
    assert lstm_calls == []
    # Layer and cell train on pybench's own backward (tests/ops/test_lstm_train.py).
    m, cell = pnn.LSTM(4, 5), pnn.LSTMCell(4, 5)
    assert m.unsupported_reason(x) is None and cell.unsupported_reason(x[0]) is None
    out, _ = m(x)
    hy, _ = cell(x[0])
    (out.sum() + hy.sum()).backward()
    assert m.weight_hh_l0.grad is not None and cell.weight_hh.grad is not None
    assert lstm_calls == ["lstm", "lstm_cell"]


def test_convert_swaps_lstms(lstm_calls):
    class Sentiment(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(50, 30)
            self.lstm = nn.LSTM(30, 40)
            self.cell = nn.LSTMCell(40, 40)
            self.deep = nn.LSTM(30, 8, num_layers=2)
            self.fc = nn.Linear(40, 2)

        def forward(self, tokens):
            e = self.embed(tokens)
            out, (h, c) = self.lstm(e)
            h2, _ = self.cell(out[-1], (h[0], c[0]))
            self.deep(e)
            return self.fc(h2)

    torch.manual_seed(4)
    model = Sentiment().eval()
    fast = pnn.convert(model)
    assert type(fast.lstm) is pnn.LSTM and type(fast.cell) is pnn.LSTMCell
    assert type(fast.deep) is nn.LSTM and type(model.lstm) is nn.LSTM
    report = fast.pybench_report
    assert {(c.path, c.rule) for c in report.converted} >= {("lstm", "lstm"), ("cell", "lstm_cell")}
    assert any(s.path == "deep" and "num_layers" in s.reason for s in report.skipped)
    tokens = torch.randint(0, 50, (70, 6))
    with torch.inference_mode():
        assert max_abs(fast(tokens), model(tokens)) <= ATOL
    assert lstm_calls == ["lstm", "lstm_cell"]
    assert pnn.convert(fast).pybench_report.converted == []  # idempotent
