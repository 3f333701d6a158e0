"""The fused LSTM training path (issue 19): ``pybench::lstm_train`` keeps the gates and
cell states, ``pybench::lstm_backward`` runs back-propagation through time on them.

Every gradient (input, h0, c0, both weights, both biases) against float64 autograd of
``torch._VF.lstm`` on upcast operands, under every CPU ISA, on shapes with odd sizes,
batch 1, hidden sizes below, at and past the vector widths (8, 16), a single step and a
long one, with and without biases, time- and batch-major; gradients reaching the outputs
from the sequence, the last hidden state, the last cell state, or any subset of them.
"""
from __future__ import annotations

import pytest
import torch

import pybench.ops as ops
import pybench.nn as pnn

# (T, B, I, H): odd sizes, batch 1, H = 1 / 7 / 8 / 16 / 17 / 33 / 40, T = 1 and long.
SHAPES = [(1, 1, 3, 1), (5, 1, 7, 16), (7, 3, 9, 17), (3, 9, 30, 40), (12, 8, 5, 33),
          (4, 13, 6, 8), (30, 2, 4, 7)]


def _rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-300)).item()


def _operands(shape, batch_first, bias, seed):
    t, b, i, h = shape
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((b, t, i) if batch_first else (t, b, i), generator=g)
    h0, c0 = torch.randn(b, h, generator=g), torch.randn(b, h, generator=g)
    # nn.LSTM's initialisation scale, so the gates neither saturate nor vanish.
    k = h ** -0.5
    w_ih = (torch.rand(4 * h, i, generator=g) * 2 - 1) * k
    w_hh = (torch.rand(4 * h, h, generator=g) * 2 - 1) * k
    biases = [(torch.rand(4 * h, generator=g) * 2 - 1) * k for _ in range(2)] if bias else []
    return [x, h0, c0, w_ih, w_hh, *biases], g


def _reference(x, h0, c0, w_ih, w_hh, *biases, batch_first):
    out, hn, cn = torch._VF.lstm(x, (h0.unsqueeze(0), c0.unsqueeze(0)),
                                 (w_ih, w_hh, *biases), bool(biases), 1, 0.0, False, False,
                                 batch_first)
    return out, hn.squeeze(0), cn.squeeze(0)


def _mine(x, h0, c0, w_ih, w_hh, *biases, batch_first):
    b_ih, b_hh = biases if biases else (None, None)
    out, (hn, cn) = ops.lstm(x, h0, c0, w_ih, w_hh, b_ih, b_hh, batch_first=batch_first)
    return out, hn, cn


def _grads(fn, tensors, grads_out, batch_first):
    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    outs = fn(*leaves, batch_first=batch_first)
    pairs = [(o, g) for o, g in zip(outs, grads_out) if g is not None]
    torch.autograd.backward([o for o, _ in pairs], [g for _, g in pairs])
    return [t.grad for t in leaves]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["tbi", "bti"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_every_gradient_matches_float64(cpu_isa, shape, batch_first, bias):
    tensors, g = _operands(shape, batch_first, bias, seed=sum(shape) * 7 + batch_first)
    t, b, _, h = shape
    grads_out = (torch.randn((b, t, h) if batch_first else (t, b, h), generator=g),
                 torch.randn(b, h, generator=g), torch.randn(b, h, generator=g))
    got = _grads(_mine, tensors, grads_out, batch_first)
    want = _grads(_reference, [x.double() for x in tensors],
                  tuple(x.double() for x in grads_out), batch_first)
    names = ["input", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh"]
    for name, a, e in zip(names, got, want):
        assert a is not None and a.dtype == torch.float32, name
        assert _rel(a, e) <= 1e-5, (name, _rel(a, e))


@pytest.mark.parametrize("which", [(True, False, False), (False, True, False),
                                   (False, False, True), (False, True, True)],
                         ids=["output", "h_n", "c_n", "h_n+c_n"])
def test_gradient_from_some_outputs_only(cpu_isa, which):
    """The sentiment classifier reads only h_n: the other outputs' gradients are None."""
    shape = (6, 5, 11, 9)
    tensors, g = _operands(shape, False, True, seed=41)
    t, b, _, h = shape
    full = (torch.randn(t, b, h, generator=g), torch.randn(b, h, generator=g),
            torch.randn(b, h, generator=g))
    grads_out = tuple(x if w else None for x, w in zip(full, which))
    got = _grads(_mine, tensors, grads_out, False)
    want = _grads(_reference, [x.double() for x in tensors],
                  tuple(x.double() if x is not None else None for x in grads_out), False)
    for a, e in zip(got, want):
        assert _rel(a, e) <= 1e-5


def test_only_weights_require_grad_and_input_gets_none():
    """A frozen embedding: the input needs no gradient, and its GEMM is skipped."""
    tensors, g = _operands((5, 4, 6, 3), False, True, seed=3)
    x, h0, c0, *params = tensors
    params = [p.clone().requires_grad_(True) for p in params]
    out, (hn, _) = ops.lstm(x, h0, c0, *params)
    hn.sum().backward()
    assert x.grad is None and all(p.grad is not None for p in params)
    p64 = [p.detach().double().requires_grad_(True) for p in params]
    _, hn64, _ = _reference(x.double(), h0.double(), c0.double(), *p64, batch_first=False)
    hn64.sum().backward()
    for p, q in zip(params, p64):
        assert _rel(p.grad, q.grad) <= 1e-5


def test_training_forward_keeps_gates_and_cells_and_matches_inference():
    tensors, _ = _operands((4, 3, 5, 9), False, True, seed=5)
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = tensors
    out, hn, cn, gates, cells = torch.ops.pybench.lstm_train(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    out_i, hn_i, cn_i = torch.ops.pybench.lstm(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    assert torch.equal(out, out_i) and torch.equal(hn, hn_i) and torch.equal(cn, cn_i)
    # The kept gates are the activations of the float64 pre-activations at every step.
    h, c = h0.double(), c0.double()
    for t in range(4):
        pre = (x[t].double() @ w_ih.double().t() + h @ w_hh.double().t() + b_ih.double()
               + b_hh.double())
        i, f, g, o = pre.chunk(4, 1)
        acts = torch.cat([i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()], 1)
        assert _rel(gates[t], acts) <= 1e-5
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        assert _rel(cells[t], c) <= 1e-5


def test_empty_sequence_passes_gradients_through():
    x = torch.randn(0, 3, 4)
    h0 = torch.randn(3, 5, requires_grad=True)
    c0 = torch.randn(3, 5, requires_grad=True)
    w_ih = torch.randn(20, 4, requires_grad=True)
    w_hh = torch.randn(20, 5, requires_grad=True)
    out, (hn, cn) = ops.lstm(x, h0, c0, w_ih, w_hh)
    (2 * hn.sum() + 3 * cn.sum()).backward()
    assert torch.equal(h0.grad, torch.full((3, 5), 2.0))
    assert torch.equal(c0.grad, torch.full((3, 5), 3.0))
    assert torch.equal(w_ih.grad, torch.zeros(20, 4))


def test_double_backward_goes_through_the_aten_recompute():
    tensors, _ = _operands((3, 2, 4, 5), False, True, seed=8)
    leaves = [t.double().float().requires_grad_(True) for t in tensors]
    out, (hn, cn) = ops.lstm(*leaves)
    (gx,) = torch.autograd.grad(hn.pow(2).sum(), leaves[0], create_graph=True)
    gx.sum().backward()
    l64 = [t.detach().double().requires_grad_(True) for t in tensors]
    _, hn64, _ = _reference(*l64, batch_first=False)
    (gx64,) = torch.autograd.grad(hn64.pow(2).sum(), l64[0], create_graph=True)
    gx64.sum().backward()
    assert _rel(gx, gx64) <= 1e-5
    for a, e in zip(leaves[1:], l64[1:]):
        assert _rel(a.grad, e.grad) <= 1e-5


def test_lstm_backward_rejects_mismatched_saved_tensors():
    tensors, _ = _operands((4, 3, 5, 6), False, True, seed=9)
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = tensors
    out, hn, cn, gates, cells = torch.ops.pybench.lstm_train(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    bwd = torch.ops.pybench.lstm_backward
    with pytest.raises(ValueError, match="expected gates of shape"):
        bwd(None, hn, None, x, h0, c0, w_ih, w_hh, out, gates[:, :, :-1], cells, False, False)
    with pytest.raises(ValueError, match="expected cells of shape"):
        bwd(None, hn, None, x, h0, c0, w_ih, w_hh, out, gates, cells[:2], False, False)
    with pytest.raises(ValueError, match="expected grad_output of shape"):
        bwd(out.transpose(0, 1), None, None, x, h0, c0, w_ih, w_hh, out, gates, cells, False,
            False)
    with pytest.raises(ValueError, match="expected output of shape"):
        bwd(None, hn, None, x, h0, c0, w_ih, w_hh, out[:, :2], gates, cells, False, False)
    with pytest.raises(TypeError):
        bwd(None, hn, None, x, h0, c0, w_ih, w_hh, out, gates.double(), cells, False, False)
    # The fused backward is a backward: differentiating it raises instead of detaching.
    g = torch.randn(3, 6, requires_grad=True)
    res = bwd(None, g, None, x, h0, c0, w_ih, w_hh, out, gates, cells, False, False)
    with pytest.raises(RuntimeError, match="not implemented"):
        res[3].sum().backward()


def test_opcheck_training_ops():
    tensors, _ = _operands((3, 2, 6, 5), False, True, seed=12)
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = (t.requires_grad_(True) for t in tensors)
    torch.library.opcheck(torch.ops.pybench.lstm_train, (x, h0, c0, w_ih, w_hh, b_ih, b_hh, False))
    with torch.no_grad():
        out, hn, cn, gates, cells = torch.ops.pybench.lstm_train(x, h0, c0, w_ih, w_hh, b_ih,
                                                                 b_hh)
    d = [t.detach() for t in (x, h0, c0, w_ih, w_hh)]
    torch.library.opcheck(torch.ops.pybench.lstm_backward,
                          (torch.randn_like(out), torch.randn_like(hn), None, *d, out, gates,
                           cells, False, True),
                          test_utils=("test_schema", "test_faketensor"))


@pytest.mark.parametrize("batch_first", [False, True])
def test_converted_module_trains_like_nn_lstm(cpu_isa, batch_first):
    """pybench.nn.LSTM in training mode runs the fused path (no fallback) and its parameter
    gradients after a loss on h_n equal nn.LSTM's in float64."""
    torch.manual_seed(13)
    ref = torch.nn.LSTM(12, 17, batch_first=batch_first)
    mine = pnn.LSTM.from_torch(ref)
    x = torch.randn((3, 9, 12) if batch_first else (9, 3, 12))
    assert mine.unsupported_reason(x) is None  # autograd records and pybench still runs
    _, (hn, _) = mine(x)
    hn.pow(2).sum().backward()
    ref64 = torch.nn.LSTM(12, 17, batch_first=batch_first).double()
    ref64.load_state_dict({k: v.double() for k, v in ref.state_dict().items()})
    _, (hn64, _) = ref64(x.double())
    hn64.pow(2).sum().backward()
    for (name, p), p64 in zip(mine.named_parameters(), ref64.parameters()):
        assert _rel(p.grad, p64.grad) <= 1e-5, name


@pytest.mark.skipif(not torch.cuda.is_available() or not ops.has_cuda_kernels(),
                    reason="needs a CUDA device and pybench built with its CUDA kernels "
                           "(tests/simt runs the CUDA training kernels on the CPU)")
@pytest.mark.parametrize("shape", [(7, 3, 9, 17), (5, 20, 30, 40)], ids=str)
def test_every_gradient_matches_float64_on_cuda(shape):
    tensors, g = _operands(shape, False, True, seed=77)
    t, b, _, h = shape
    grads_out = (torch.randn(t, b, h, generator=g), torch.randn(b, h, generator=g),
                 torch.randn(b, h, generator=g))
    got = _grads(_mine, [x.cuda() for x in tensors], tuple(x.cuda() for x in grads_out), False)
    want = _grads(_reference, [x.double() for x in tensors],
                  tuple(x.double() for x in grads_out), False)
    for a, e in zip(got, want):
        assert a.is_cuda and _rel(a.cpu(), e) <= 1e-5


@pytest.mark.parametrize("shape", [(1, 3, 1), (5, 7, 16), (9, 30, 17), (4, 6, 40), None],
                         ids=["b1", "h16", "h17", "h40", "unbatched"])
def test_cell_trains_on_the_fused_backward(cpu_isa, shape):
    """lstm_cell under autograd runs as a one-step lstm_train: every gradient vs float64."""
    b, i, h = shape or (1, 5, 9)
    tensors, g = _operands((1, b, i, h), False, True, seed=b * 10 + h)
    x, h0, c0, *params = tensors
    x = x[0]
    if shape is None:
        x, h0, c0 = x[0], h0[0], c0[0]
    grads_out = (torch.randn(h0.shape, generator=g), torch.randn(h0.shape, generator=g))

    def run(fn, ts, go):
        leaves = [t.detach().clone().requires_grad_(True) for t in ts]
        torch.autograd.backward(fn(*leaves), go)
        return [t.grad for t in leaves]

    got = run(lambda *t: ops.lstm_cell(*t), (x, h0, c0, *params), grads_out)
    def reference(x, h, c, *w):
        if shape is None:  # _VF.lstm_cell takes batches only
            return tuple(o.squeeze(0) for o in torch._VF.lstm_cell(
                x.unsqueeze(0), (h.unsqueeze(0), c.unsqueeze(0)), *w))
        return torch._VF.lstm_cell(x, (h, c), *w)

    want = run(reference, [t.double() for t in (x, h0, c0, *params)],
               tuple(t.double() for t in grads_out))
    for a, e in zip(got, want):
        assert a.shape == e.shape and _rel(a, e) <= 1e-5
