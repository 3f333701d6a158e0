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
        key = mine._pybench_pack.key
        mine(x)
        assert mine._pybench_pack.key == key  # reused
    with torch.no_grad():
        mine.weight_hh_l0.mul_(0.5)  # in place: the version counter moves
    ref = nn.LSTM(8, 9)
    ref.load_state_dict(mine.state_dict())
    with torch.inference_mode():
        out, _ = mine(x)
        assert mine._pybench_pack.key != key
        assert max_abs(out, ref(x)[0]) <= ATOL


def test_fallbacks_say_why(lstm_calls):
    x = torch.randn(3, 2, 4)
    assert pnn.LSTM(4, 5, num_layers=2).unsupported_reason() is not None
    assert pnn.LSTM(4, 5, bidirectional=True).unsupported_reason() is not None
    m = pnn.LSTM(4, 5)
    assert "autograd" in m.unsupported_reason(x)  # parameters require grad
    out, _ = m(x)  # falls back to torch and still works with autograd
    out.sum().backward()
    assert m.weight_hh_l0.grad is not None
    assert pnn.LSTM(4, 5).double().unsupported_reason() is not None
    assert lstm_calls == []


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
