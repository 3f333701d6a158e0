"""Issue 20: switching the CPU ISA from another thread while LSTM ops run never crashes and
never gives a wrong answer: each call reads the ISA once and packs and runs with it."""
from __future__ import annotations

import copy
import threading

import pytest
import torch
from torch import nn

from pybench import ops
from conftest import available_cpu_isas

ISAS = available_cpu_isas()


@pytest.mark.skipif(len(ISAS) < 2, reason="this CPU runs only one ISA variant: nothing to switch")
@pytest.mark.parametrize("sequence", [False, True], ids=["cell", "sequence"])
def test_isa_switches_during_calls_keep_results_exact(sequence):
    torch.manual_seed(7)
    t, b, i, h = 5, 3, 37, 29  # H not a multiple of either block: packs differ per ISA
    mod = nn.LSTM(i, h) if sequence else nn.LSTMCell(i, h)
    mod.requires_grad_(False)
    w = ((mod.weight_ih_l0, mod.weight_hh_l0, mod.bias_ih_l0, mod.bias_hh_l0) if sequence
         else (mod.weight_ih, mod.weight_hh, mod.bias_ih, mod.bias_hh))
    x = torch.randn(t, b, i) if sequence else torch.randn(b, i)
    hx, cx = torch.randn(b, h), torch.randn(b, h)
    ref = copy.deepcopy(mod).double()
    with torch.no_grad():
        if sequence:
            want = ref(x.double(), (hx.double()[None], cx.double()[None]))[0].float()
        else:
            want = ref(x.double(), (hx.double(), cx.double()))[0].float()
    stop, errors, worst = threading.Event(), [], [0.0]

    def switcher():
        k = 0
        while not stop.is_set():
            ops.set_cpu_isa(ISAS[k % len(ISAS)])
            k += 1

    def caller():
        try:
            for _ in range(150):
                out = (ops.lstm(x, hx, cx, *w)[0] if sequence
                       else ops.lstm_cell(x, hx, cx, *w)[0])
                worst[0] = max(worst[0], (out - want).abs().max().item())
        except Exception as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)

    before = ops.cpu_isa()
    threads = [threading.Thread(target=switcher)] + [threading.Thread(target=caller)
                                                     for _ in range(2)]
    try:
        for th in threads:
            th.start()
        for th in threads[1:]:
            th.join(120)
    finally:
        stop.set()
        threads[0].join(10)
        ops.set_cpu_isa(before)
    assert not errors, errors[0]
    assert worst[0] < 1e-4
