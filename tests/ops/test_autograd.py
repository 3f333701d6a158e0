"""Backward of every pybench op against float64 autograd of the PyTorch reference.

- gram: pybench's own backward kernel, dF = scale (dG + dG^T) F (every CPU ISA; random,
  non-symmetric dG; odd C and L, C = 1, L = 1, batch 1 and 3, normalised or not, strided
  features), its double backward, and opcheck's autograd checks.
- depthwise_conv2d, separable_conv2d (through ATen), lstm_cell and lstm (the forward
  recomputed in ATen ops): gradients of every input equal nn / F's in float64.
The ops take float32 only, so gradcheck's finite differences (which need float64) are
replaced by the float64 reference's analytic gradients, the stronger check at float32.
"""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

import pybench.ops as ops
from conftest import assert_matches_reference


def _rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-300)).item()


GRAM_SHAPES = [(5, 7), (1, 9), (16, 1), (3, 13, 5, 3), (1, 33, 7, 7), (2, 64, 14, 14),
               (1, 19, 1, 37)]


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("shape", GRAM_SHAPES, ids=str)
def test_gram_backward_matches_float64(cpu_isa, shape, normalize):
    g = torch.Generator().manual_seed(len(shape) * 100 + shape[-1])
    f = torch.randn(shape, generator=g)
    c = shape[-3] if len(shape) == 4 else shape[0]
    length = f[0, 0].numel() if len(shape) == 4 else shape[1]
    grad = torch.randn(ops.gram(f).shape, generator=g)
    x = f.clone().requires_grad_(True)
    ops.gram(x, normalize).backward(grad)
    scale = 1.0 / (c * length) if normalize else 1.0
    f64 = f.double().reshape(-1, c, length)
    s = scale * (grad.double() + grad.double().transpose(-1, -2)).reshape(-1, c, c)
    want = (s @ f64).reshape(shape)
    bound = (s.abs() @ f64.abs()).reshape(shape)
    assert_matches_reference(x.grad, want, bound, 1e-5)


def test_gram_backward_of_a_strided_view(cpu_isa):
    base = torch.randn(2, 24, 9, 9)
    f = base[:, ::2]  # rows contiguous, channels strided
    x = f.detach().clone().requires_grad_(True)
    grad = torch.randn(2, 12, 12)
    ops.gram(x).backward(grad)
    x64 = f.double().requires_grad_(True)
    (x64.flatten(2) @ x64.flatten(2).transpose(1, 2)).backward(grad.double())
    assert _rel(x.grad, x64.grad) <= 1e-6


def test_gram_trains_without_warning():
    """The issue's report: ``gram(x).sum().backward()`` left x.grad None with a warning."""
    x = torch.randn(1, 8, 5, 5, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ops.gram(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_gram_double_backward():
    f = torch.randn(2, 6, 4, 5)
    w = torch.randn(2, 6, 6)
    x = f.clone().requires_grad_(True)
    (dx,) = torch.autograd.grad((ops.gram(x, True) * w).sum(), x, create_graph=True)
    (ddx,) = torch.autograd.grad((dx * dx).sum(), x)
    x64 = f.double().requires_grad_(True)
    m = x64.flatten(2)
    gram64 = m @ m.transpose(1, 2) / (6 * 20)
    (dx64,) = torch.autograd.grad((gram64 * w.double()).sum(), x64, create_graph=True)
    (ddx64,) = torch.autograd.grad((dx64 * dx64).sum(), x64)
    assert _rel(dx, dx64) <= 1e-5 and _rel(ddx, ddx64) <= 1e-5


def test_gram_opcheck():
    torch.library.opcheck(torch.ops.pybench.gram, (torch.randn(2, 5, 3, 4, requires_grad=True),
                                                   True))
    torch.library.opcheck(torch.ops.pybench.gram_backward,
                          (torch.randn(2, 5, 5), torch.randn(2, 5, 3, 4), False))


@pytest.mark.parametrize("grad, features, error, match", [
    (torch.randn(4, 4), torch.randn(5, 7), ValueError, "expected grad of the Gram matrix"),
    (torch.randn(2, 5, 5), torch.randn(3, 5, 2, 2), ValueError, "expected grad of the Gram"),
    (torch.randn(5, 5, dtype=torch.float64), torch.randn(5, 7), TypeError, "float32"),
    (torch.randn(5, 5), torch.randn(5, 7, 2), ValueError, "rank"),
])
def test_gram_backward_bad_input(grad, features, error, match):
    with pytest.raises(error, match=match):
        torch.ops.pybench.gram_backward(grad, features, False)


def _grads(fn, tensors, grad_out):
    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    out = fn(*leaves)
    outs = out if isinstance(out, tuple) else (out,)
    torch.autograd.backward(outs, grad_out)
    return [t.grad for t in leaves]


@pytest.mark.parametrize("stride, padding, dilation, multiplier", [
    (1, 1, 1, 1), (2, (0, 1), 1, 2), (1, "same", 2, 1)])
def test_depthwise_backward_matches_float64(cpu_isa, stride, padding, dilation, multiplier):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 5, 9, 8, generator=g)
    w = torch.randn(5 * multiplier, 1, 3, 3, generator=g)
    b = torch.randn(5 * multiplier, generator=g)
    out = ops.depthwise_conv2d(x, w, b, stride, padding, dilation)
    grad = torch.randn(out.shape, generator=g)
    got = _grads(lambda *t: ops.depthwise_conv2d(*t, stride, padding, dilation), (x, w, b), grad)
    want = _grads(lambda *t: F.conv2d(*t, stride, padding, dilation, groups=5),
                  (x.double(), w.double(), b.double()), grad.double())
    for a, e in zip(got, want):
        assert _rel(a, e) <= 1e-5


@pytest.mark.parametrize("activation, pw_activation", [("relu", None), ("relu6", "none"),
                                                       ("none", "relu")])
def test_separable_backward_matches_float64(cpu_isa, activation, pw_activation):
    g = torch.Generator().manual_seed(8)
    x = torch.randn(2, 6, 7, 9, generator=g)
    dw, db = torch.randn(6, 1, 3, 3, generator=g), torch.randn(6, generator=g)
    pw, pb = torch.randn(10, 6, 1, 1, generator=g), torch.randn(10, generator=g)
    grad = torch.randn(2, 10, 4, 5, generator=g)
    act = {"none": lambda t: t, "relu": F.relu, "relu6": F.relu6}
    pw_act = act[pw_activation or activation]

    def reference(x, dw, pw, db, pb):
        mid = act[activation](F.conv2d(x, dw, db, 2, 1, groups=6))
        return pw_act(F.conv2d(mid, pw, pb))

    got = _grads(lambda *t: ops.separable_conv2d(*t, stride=2, padding=1, activation=activation,
                                                 pw_activation=pw_activation),
                 (x, dw, pw, db, pb), grad)
    want = _grads(reference, (x.double(), dw.double(), pw.double(), db.double(), pb.double()),
                  grad.double())
    for a, e in zip(got, want):
        assert _rel(a, e) <= 1e-5


def test_lstm_cell_backward_matches_nn(cpu_isa):
    g = torch.Generator().manual_seed(9)
    cell = torch.nn.LSTMCell(11, 7)
    x, h, c = (torch.randn(3, 11, generator=g), torch.randn(3, 7, generator=g),
               torch.randn(3, 7, generator=g))
    params = [p.detach() for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)]
    grads_out = (torch.randn(3, 7, generator=g), torch.randn(3, 7, generator=g))
    got = _grads(lambda *t: ops.lstm_cell(*t), (x, h, c, *params), grads_out)
    want = _grads(lambda x, h, c, wi, wh, bi, bh: torch._VF.lstm_cell(x, (h, c), wi, wh, bi, bh),
                  (x.double(), h.double(), c.double(), *[p.double() for p in params]),
                  tuple(t.double() for t in grads_out))
    for a, e in zip(got, want):
        assert _rel(a, e) <= 1e-5


@pytest.mark.parametrize("batch_first", [False, True])
def test_lstm_backward_matches_nn(cpu_isa, batch_first):
    g = torch.Generator().manual_seed(10)
    lstm = torch.nn.LSTM(6, 5, batch_first=batch_first)
    x = torch.randn((2, 4, 6) if batch_first else (4, 2, 6), generator=g)
    h, c = torch.randn(2, 5, generator=g), torch.randn(2, 5, generator=g)
    params = [p.detach() for p in (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0,
                                   lstm.bias_hh_l0)]
    out_shape = (2, 4, 5) if batch_first else (4, 2, 5)
    grads_out = (torch.randn(out_shape, generator=g), torch.randn(2, 5, generator=g),
                 torch.randn(2, 5, generator=g))

    def mine(x, h, c, *w):
        out, (hn, cn) = ops.lstm(x, h, c, *w, batch_first=batch_first)
        return out, hn, cn

    def reference(x, h, c, wi, wh, bi, bh):
        out, hn, cn = torch._VF.lstm(x, (h.unsqueeze(0), c.unsqueeze(0)), (wi, wh, bi, bh),
                                     True, 1, 0.0, False, False, batch_first)
        return out, hn.squeeze(0), cn.squeeze(0)

    got = _grads(mine, (x, h, c, *params), grads_out)
    want = _grads(reference, (x.double(), h.double(), c.double(), *[p.double() for p in params]),
                  tuple(t.double() for t in grads_out))
    for a, e in zip(got, want):
        assert _rel(a, e) <= 1e-5


def test_lstm_without_biases_and_partial_grads():
    x = torch.randn(3, 4)
    h, c = torch.randn(3, 5), torch.randn(3, 5)
    wi = torch.randn(20, 4, requires_grad=True)
    wh = torch.randn(20, 5)
    hy, _ = ops.lstm_cell(x, h, c, wi, wh)
    hy.sum().backward()  # only w_ih wants a gradient; cy's is None
    wi64 = wi.detach().double().requires_grad_(True)
    hy64, _ = torch._VF.lstm_cell(x.double(), (h.double(), c.double()), wi64, wh.double(),
                                  None, None)
    hy64.sum().backward()
    assert _rel(wi.grad, wi64.grad) <= 1e-5


def test_inference_only_ops_raise_at_backward():
    """The blocked-layout and packed-weight ops have no backward: a graph through them raises
    when backward reaches it, instead of PyTorch's default warning and a silently detached
    result."""
    x = torch.randn(1, 16, 6, 6, requires_grad=True)
    block = ops.block_size()
    xb = ops.to_nchwc(x, block)
    w = ops.pack_conv2d_nchwc(torch.randn(8, 16, 3, 3), block)
    wino = ops.pack_conv2d_winograd_nchwc(torch.randn(8, 16, 3, 3), block)
    lin = ops.pack_linear(torch.randn(5, 16))
    w1 = ops.pack_conv2d_nchwc(torch.randn(8, 16, 1, 1), block)
    dw = ops.pack_depthwise_nchwc(torch.randn(8, 1, 3, 3), block)
    for out in (ops.conv2d_nchwc(xb, w, padding=1), ops.conv2d_winograd_nchwc(xb, wino),
                ops.max_pool2d_nchwc(xb, 2), ops.linear(x.mean((2, 3)), lin, None, 5),
                ops.conv2d_maxpool_nchwc(xb, w, padding=1, pool_kernel_size=2),
                torch.ops.pybench.conv1x1_depthwise_nchwc(xb, w1, None, 8, "none", dw, None,
                                                          [1, 1], [1, 1, 1, 1], [1, 1], "none")):
        assert out.requires_grad
        with pytest.raises(RuntimeError, match="not implemented"):
            out.sum().backward()
    with torch.no_grad():  # and nothing changes where no graph is recorded
        assert not ops.conv2d_nchwc(xb, w, padding=1).requires_grad


@pytest.mark.skipif(not torch.cuda.is_available() or not ops.has_cuda_kernels(),
                    reason="needs a CUDA device and pybench built with its CUDA kernels "
                           "(tests/simt runs the CUDA backward kernel on the CPU)")
@pytest.mark.parametrize("shape", [(3, 70, 9, 11), (130, 49)], ids=str)
def test_gram_backward_cuda_matches_float64(shape):
    f = torch.randn(shape, device="cuda")
    grad = torch.randn(ops.gram(f).shape, device="cuda")
    x = f.clone().requires_grad_(True)
    ops.gram(x, True).backward(grad)
    x64 = f.double().requires_grad_(True)
    m = x64.flatten(-2) if x64.dim() == 4 else x64
    c, length = m.shape[-2], m.shape[-1]
    ((m @ m.transpose(-1, -2)) / (c * length)).backward(grad.double())
    assert _rel(x.grad, x64.grad) <= 1e-5


def test_opcheck_autograd_of_every_differentiable_op():
    g = torch.Generator().manual_seed(11)
    x = torch.randn(2, 4, 7, 6, generator=g, requires_grad=True)
    dw = torch.randn(8, 1, 3, 3, generator=g, requires_grad=True)
    db = torch.randn(8, generator=g, requires_grad=True)
    pw = torch.randn(5, 8, 1, 1, generator=g, requires_grad=True)
    torch.library.opcheck(torch.ops.pybench.depthwise_conv2d,
                          (x, dw, db, [1, 2], [1, 1, 0, 1], [1, 1]))
    torch.library.opcheck(torch.ops.pybench.separable_conv2d,
                          (x, dw, pw, db, None, [2, 1], [1, 1, 1, 1], [1, 1], "relu6", "none"))
    inp, h, c = (torch.randn(3, 6, generator=g, requires_grad=True),
                 torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g, requires_grad=True))
    wi = torch.randn(20, 6, generator=g, requires_grad=True)
    wh = torch.randn(20, 5, generator=g, requires_grad=True)
    b = torch.randn(20, generator=g, requires_grad=True)
    torch.library.opcheck(torch.ops.pybench.lstm_cell, (inp, h, c, wi, wh, b, None))
    seq = torch.randn(4, 3, 6, generator=g, requires_grad=True)
    torch.library.opcheck(torch.ops.pybench.lstm, (seq, h, c, wi, wh, b, b, False))
