"""A blocked conversion runs a TorchScript trace of itself (pybench.nn.blocked_module): the
trace is taken per input signature, returns exactly what the GraphModule returns, and is
bypassed whenever it could miss something (hooks, grad inputs, kwargs, a failed or wrong
trace)."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import pybench.models as models
import pybench.nn as pnn
from pybench.nn.blocked import NchwcConv2d
from pybench.nn.blocked_module import BlockedGraphModule


def _converted(name="mobilenet_v2", size=32, batch=2):
    spec = models.get(name)
    model = spec.build()
    x = spec.example_input(batch, size=size)
    return model, pnn.convert(model, example_inputs=(x,), layout="nchwc"), spec


def _untraced(g, *args):
    g.use_trace = False
    try:
        return g(*args)
    finally:
        g.use_trace = True


@pytest.mark.parametrize("name", ["mobilenet_v2", "googlenet", "resnet18"])
def test_trace_per_signature_matches_the_graph_module_bitwise(cpu_isa, name):
    model, g, spec = _converted(name)
    assert isinstance(g, BlockedGraphModule)
    with torch.no_grad():
        for batch in (1, 3, 1):  # a new batch size gets its own trace; a seen one reuses it
            y = spec.example_input(batch, seed=batch, size=32)
            traced = g(y)
            assert torch.equal(traced, _untraced(g, y))
            rel = ((traced.double() - model(y).double()).norm() / model(y).double().norm())
            assert rel.item() <= 1e-4
    sigs = g.traced_signatures()
    assert sorted(s[0][0][0] for s in sigs) == [1, 2, 3]  # batch 2: convert's own check
    assert all(sigs.values()), sigs


def test_hooks_bypass_the_trace():
    _, g, spec = _converted()
    x = spec.example_input(2, size=32)
    with torch.no_grad():
        g(x)  # traced now
        calls = []
        conv = next(m for m in g.modules() if isinstance(m, NchwcConv2d))
        handle = conv.register_forward_hook(lambda *_: calls.append(1))
        g(x)
        handle.remove()
        assert calls == [1], "a forward hook did not fire: the trace ran"
        g(x)
        assert calls == [1]
        handle = nn.modules.module.register_module_forward_hook(lambda *_: calls.append(2))
        try:
            g(x)
        finally:
            handle.remove()
        assert 2 in calls


def test_grad_inputs_and_kwargs_run_the_graph_module():
    _, g, spec = _converted()
    before = g.traced_signatures()
    x = spec.example_input(3, size=32).requires_grad_()
    assert g(x).shape[0] == 3
    g(x=spec.example_input(5, size=32))
    assert g.traced_signatures() == before  # neither call traced anything


def test_a_trace_that_differs_or_fails_is_not_used(monkeypatch):
    _, g, spec = _converted()
    x = spec.example_input(4, size=32)
    expected = _untraced(g, x)

    class Wrong(nn.Module):
        def forward(self, x):
            return expected + 1.0

    monkeypatch.setattr(torch.jit, "trace", lambda *a, **k: Wrong())
    with torch.no_grad():
        assert torch.equal(g(x), expected)
        assert torch.equal(g(x), expected)
    assert g.traced_signatures()[((tuple(x.shape), x.dtype, x.device, True),)] is False

    def boom(*a, **k):
        raise RuntimeError("tracer unavailable")

    monkeypatch.setattr(torch.jit, "trace", boom)
    y = spec.example_input(5, size=32)
    with torch.no_grad():
        assert torch.equal(g(y), _untraced(g, y))
    assert g.traced_signatures()[((tuple(y.shape), y.dtype, y.device, True),)] is False


def test_apply_drops_traces_and_copies_trace_again():
    _, g, spec = _converted()
    x = spec.example_input(2, size=32)
    with torch.no_grad():
        expected = g(x)
        assert g.traced_signatures()
        g.float()
        assert g.traced_signatures() == {}
        assert torch.equal(g(x), expected)
        c = copy.deepcopy(g)
        assert c.traced_signatures() == {}
        assert torch.equal(c(x), expected)
        assert all(c.traced_signatures().values())
