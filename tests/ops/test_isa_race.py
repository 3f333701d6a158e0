"""Issue 20: switching the CPU ISA from another thread while ops run never crashes and
never gives a wrong answer: each call reads the ISA once and packs and runs with it."""
from __future__ import annotations

import copy
import threading

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pybench import ops
from conftest import available_cpu_isas

ISAS = available_cpu_isas()


def _worst_under_isa_switches(error, calls: int = 150) -> float:
    """The largest ``error()`` over ``calls`` calls in each of two threads while a third
    cycles set_cpu_isa over every ISA; an exception in a caller fails the test."""
    stop, errors, worst = threading.Event(), [], [0.0]

    def switcher():
        k = 0
        while not stop.is_set():
            ops.set_cpu_isa(ISAS[k % len(ISAS)])
            k += 1

    def caller():
        try:
            for _ in range(calls):
                worst[0] = max(worst[0], error())
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
    return worst[0]


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

    def error():
        out = ops.lstm(x, hx, cx, *w)[0] if sequence else ops.lstm_cell(x, hx, cx, *w)[0]
        return (out - want).abs().max().item()
    assert _worst_under_isa_switches(error) < 1e-4


def _conv_case():
    x, w, b = torch.randn(2, 5, 11, 13), torch.randn(7, 5, 3, 3), torch.randn(7)
    return (lambda: ops.conv2d(x, w, b, padding=1),
            F.conv2d(x.double(), w.double(), b.double(), padding=1))


def _depthwise_case():
    x, w = torch.randn(2, 6, 12, 9), torch.randn(6, 1, 3, 3)
    return (lambda: ops.depthwise_conv2d(x, w, stride=2, padding=1),
            F.conv2d(x.double(), w.double(), stride=2, padding=1, groups=6))


def _separable_case():
    x, dw, pw = torch.randn(1, 6, 10, 10), torch.randn(6, 1, 3, 3), torch.randn(9, 6, 1, 1)
    ref = F.conv2d(F.relu(F.conv2d(x.double(), dw.double(), padding=1, groups=6)), pw.double())
    return lambda: ops.separable_conv2d(x, dw, pw, padding=1, activation="relu",
                                        pw_activation="none"), ref


def _gram_case():
    f = torch.randn(2, 19, 5, 7)
    g = f.double().flatten(2)
    return lambda: ops.gram(f), g @ g.transpose(1, 2)


@pytest.mark.skipif(len(ISAS) < 2, reason="this CPU runs only one ISA variant: nothing to switch")
@pytest.mark.parametrize("case", [_conv_case, _depthwise_case, _separable_case, _gram_case],
                         ids=["conv2d", "depthwise", "separable", "gram"])
def test_other_ops_under_isa_switches(case):
    torch.manual_seed(11)
    run, want = case()

    def error():
        out = run().double()
        return ((out - want).norm() / want.norm()).item()
    assert _worst_under_isa_switches(error) < 1e-5
