"""pybench.ops.lstm_cell, lstm and lstm_pack_weights (issue 6)."""
from __future__ import annotations

import torch

from pybench.ops.checks import check_operands
from pybench.ops.isa import cpu_isa
from pybench.ops.pack_cache import PackCache, uncacheable_reason

#: Packs of the raw weights that callers pass without ``packed_ih`` / ``packed_hh``.
_PACKS = PackCache("lstm_pack_weights", maxsize=8)

def lstm_pack_weights(w_ih: torch.Tensor, w_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pack LSTM weights for the active CPU ISA's kernels (see csrc/kernels/lstm/lstm.h).

    The result can be passed to :func:`lstm_cell` / :func:`lstm` as ``packed_ih`` /
    ``packed_hh`` to skip the per-call packing (``pybench.nn.LSTMCell`` and ``LSTM`` cache
    it). It is only valid for these weight values and the CPU ISA active when packing.
    """
    check_operands("pybench.lstm_pack_weights", w_ih, "w_ih", w_hh=w_hh)
    return torch.ops.pybench.lstm_pack_weights(w_ih, w_hh)


def _pack(w_ih: torch.Tensor, w_hh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.ops.pybench.lstm_pack_weights(w_ih.detach(), w_hh.detach())


def _cached_packs(input, w_ih, w_hh, packed_ih, packed_hh):
    """The caller's packs, or the cached packs of w_ih / w_hh where that is safe, else None
    (the op then packs per call, or reads the raw weights)."""
    if packed_ih is not None or packed_hh is not None or input.device.type != "cpu":
        return packed_ih, packed_hh  # the CUDA kernel reads the raw weights
    # First, so that torch.compile never traces the rest (cpu_isa returns a str).
    if uncacheable_reason(w_ih, w_hh) is not None:
        return None, None
    # Ill-shaped weights go through uncached, so the op itself names the problem.
    if not (w_hh.dim() == 2 and w_ih.dim() == 2 and w_hh.shape[0] == 4 * w_hh.shape[1]
            and w_ih.shape[0] == w_hh.shape[0]):
        return None, None
    isa = cpu_isa()
    if isa == "scalar":
        return None, None  # the scalar kernel reads the raw weights: nothing to pack
    return _PACKS.get((w_ih, w_hh), _pack, extra=isa)


def _run(op, args, input, w_ih, w_hh, packed_ih, packed_hh):
    """``op(*args, packed_ih, packed_hh)`` with the caller's packs, or the cache's."""
    if packed_ih is not None or packed_hh is not None:
        return op(*args, packed_ih, packed_hh)
    cached_ih, cached_hh = _cached_packs(input, w_ih, w_hh, None, None)
    if cached_ih is None:
        return op(*args, None, None)
    try:
        return op(*args, cached_ih, cached_hh)
    except ValueError as exc:
        # The cache packed for the ISA active when it looked; another thread switched it
        # before the op read it. The op then packs for the ISA it reads, once.
        if "not packed" not in str(exc):
            raise
        return op(*args, None, None)


def lstm_cell(input: torch.Tensor, hx: torch.Tensor, cx: torch.Tensor, w_ih: torch.Tensor,
              w_hh: torch.Tensor, b_ih: torch.Tensor | None = None,
              b_hh: torch.Tensor | None = None, *, packed_ih: torch.Tensor | None = None,
              packed_hh: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step with exactly the semantics of ``torch.nn.LSTMCell`` (gates i, f, g, o).

    Args:
        input: float32 (B, I), or unbatched (I).
        hx, cx: float32 (B, H) (or (H) for unbatched input).
        w_ih: (4H, I); w_hh: (4H, H); b_ih, b_hh: optional (4H).
        packed_ih, packed_hh: optional, from :func:`lstm_pack_weights` (CPU only; the CUDA
            kernel ignores them). Without them, CPU calls reuse the packs of the last
            (up to 8) weight pairs while those very tensors stay unchanged (same object,
            storage and version counter, and the same values on a probe of 256 elements)
            under the same CPU ISA; see :mod:`pybench.ops.pack_cache` for what is not
            cached and the one unsafe case, a write through ``.data`` or ``.numpy()`` of a
            few elements the probe misses (then :func:`clear_pack_cache`).

    Returns:
        (hy, cy), each (B, H) (or (H)).

    Raises:
        TypeError: an operand is not float32.
        ValueError: wrong ranks or shapes (w_ih / w_hh not 4H rows, hx / cx not (B, H),
            biases not (4H)), packed weights that do not fit.
        RuntimeError: operands on different devices.
    """
    check_operands("pybench.lstm_cell", input, hx=hx, cx=cx, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih,
                   b_hh=b_hh, packed_ih=packed_ih, packed_hh=packed_hh)
    unbatched = input.dim() == 1
    if unbatched:
        input, hx, cx = input.unsqueeze(0), hx.unsqueeze(0), cx.unsqueeze(0)
    if _trains(input, hx, cx, w_ih, w_hh, b_ih, b_hh):
        # A one-step sequence through the training forward, so the cell trains on the fused
        # backward too (its gradient arrives through h_n / c_n).
        _, hy, cy, _, _ = _run(torch.ops.pybench.lstm_train,
                               (input.unsqueeze(0), hx, cx, w_ih, w_hh, b_ih, b_hh, False),
                               input, w_ih, w_hh, packed_ih, packed_hh)
    else:
        hy, cy = _run(torch.ops.pybench.lstm_cell, (input, hx, cx, w_ih, w_hh, b_ih, b_hh),
                      input, w_ih, w_hh, packed_ih, packed_hh)
    return (hy.squeeze(0), cy.squeeze(0)) if unbatched else (hy, cy)


def lstm(input: torch.Tensor, hx: torch.Tensor, cx: torch.Tensor, w_ih: torch.Tensor,
         w_hh: torch.Tensor, b_ih: torch.Tensor | None = None, b_hh: torch.Tensor | None = None,
         batch_first: bool = False, *, packed_ih: torch.Tensor | None = None,
         packed_hh: torch.Tensor | None = None
         ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """One unidirectional LSTM layer over a sequence, as ``torch.nn.LSTM(I, H)``.

    The input product of all T steps is one GEMM; each step is then one fused kernel
    (recurrent product, gate non-linearities and cell update).

    Args:
        input: float32 (T, B, I), or (B, T, I) with ``batch_first``.
        hx, cx: float32 (B, H) initial states (not (num_layers, B, H)).
        w_ih, w_hh, b_ih, b_hh, packed_ih, packed_hh: as :func:`lstm_cell`.

    Returns:
        (output, (h_n, c_n)): output (T, B, H) (or (B, T, H)), h_n and c_n (B, H).

    Raises:
        TypeError, ValueError, RuntimeError: as :func:`lstm_cell`.
    """
    check_operands("pybench.lstm", input, hx=hx, cx=cx, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih,
                   b_hh=b_hh, packed_ih=packed_ih, packed_hh=packed_hh)
    args = (input, hx, cx, w_ih, w_hh, b_ih, b_hh, batch_first)
    if _trains(input, hx, cx, w_ih, w_hh, b_ih, b_hh):
        output, h_n, c_n, _, _ = _run(torch.ops.pybench.lstm_train, args, input, w_ih, w_hh,
                                      packed_ih, packed_hh)
    else:
        output, h_n, c_n = _run(torch.ops.pybench.lstm, args, input, w_ih, w_hh, packed_ih,
                                packed_hh)
    return output, (h_n, c_n)


def _trains(input, *tensors) -> bool:
    """Whether autograd records this call: then the training forward runs, which keeps the
    gates and cell states for the fused backward (CPU and CUDA)."""
    return (torch.is_grad_enabled()
            and any(t is not None and t.requires_grad for t in (input, *tensors)))


def _lstm_fake_checks(op, input, hx, cx, w_ih, w_hh, b_ih, b_hh, packed_ih, packed_hh, rank,
                      batch_dim):
    # The same checks as csrc/ops/lstm_args.h, for meta tensors and torch.compile.
    check_operands(op, input, hx=hx, cx=cx, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh,
                   packed_ih=packed_ih, packed_hh=packed_hh)
    torch._check_value(input.dim() == rank,
                       lambda: f"{op}: expected input of rank {rank}, got rank {input.dim()}")
    torch._check_value(w_hh.dim() == 2 and w_ih.dim() == 2, lambda: f"{op}: expected 2-D weights")
    h = w_hh.shape[1]
    torch._check_value(w_hh.shape[0] == 4 * h,
                       lambda: f"{op}: expected w_hh of shape (4*hidden_size, hidden_size)")
    torch._check_value(w_ih.shape[0] == 4 * h and w_ih.shape[1] == input.shape[-1],
                       lambda: f"{op}: expected w_ih of shape (4*hidden_size, input_size)")
    b = input.shape[batch_dim]
    for name, t in (("hx", hx), ("cx", cx)):
        torch._check_value(t.dim() == 2 and t.shape[0] == b and t.shape[1] == h,
                           lambda name=name: f"{op}: expected {name} of shape (batch, hidden_size)")
    for name, t in (("b_ih", b_ih), ("b_hh", b_hh)):
        if t is not None:
            torch._check_value(t.dim() == 1 and t.shape[0] == 4 * h,
                               lambda name=name: f"{op}: expected {name} of shape (4*hidden_size)")
    return b, h


@torch.library.register_fake("pybench::lstm_cell")
def _lstm_cell_fake(input, hx, cx, w_ih, w_hh, b_ih=None, b_hh=None, packed_ih=None,
                    packed_hh=None):
    b, h = _lstm_fake_checks("pybench.lstm_cell", input, hx, cx, w_ih, w_hh, b_ih, b_hh,
                             packed_ih, packed_hh, 2, 0)
    return input.new_empty((b, h)), input.new_empty((b, h))


@torch.library.register_fake("pybench::lstm")
def _lstm_fake(input, hx, cx, w_ih, w_hh, b_ih=None, b_hh=None, batch_first=False,
               packed_ih=None, packed_hh=None):
    b, h = _lstm_fake_checks("pybench.lstm", input, hx, cx, w_ih, w_hh, b_ih, b_hh, packed_ih,
                             packed_hh, 3, 0 if batch_first else 1)
    t = input.shape[1 if batch_first else 0]
    out = input.new_empty((b, t, h) if batch_first else (t, b, h))
    return out, input.new_empty((b, h)), input.new_empty((b, h))


@torch.library.register_fake("pybench::lstm_train")
def _lstm_train_fake(input, hx, cx, w_ih, w_hh, b_ih=None, b_hh=None, batch_first=False,
                     packed_ih=None, packed_hh=None):
    out, h_n, c_n = _lstm_fake(input, hx, cx, w_ih, w_hh, b_ih, b_hh, batch_first, packed_ih,
                               packed_hh)
    t, b, h = input.shape[1 if batch_first else 0], h_n.shape[0], h_n.shape[1]
    return out, h_n, c_n, input.new_empty((t, b, 4 * h)), input.new_empty((t, b, h))


@torch.library.register_fake("pybench::lstm_backward")
def _lstm_backward_fake(grad_output, grad_h_n, grad_c_n, input, hx, cx, w_ih, w_hh, output,
                        gates, cells, batch_first, input_grad):
    b, h = _lstm_fake_checks("pybench.lstm_backward", input, hx, cx, w_ih, w_hh, None, None,
                             None, None, 3, 0 if batch_first else 1)
    d_input = input.new_empty(input.shape) if input_grad else input.new_empty((0,))
    return (d_input, hx.new_empty((b, h)), cx.new_empty((b, h)), w_ih.new_empty(w_ih.shape),
            w_hh.new_empty(w_hh.shape), w_hh.new_empty((4 * h,)))


@torch.library.register_fake("pybench::lstm_pack_weights")
def _lstm_pack_weights_fake(w_ih, w_hh):
    check_operands("pybench.lstm_pack_weights", w_ih, "w_ih", w_hh=w_hh)
    h = w_hh.shape[1]
    block = 8 if cpu_isa() == "avx2" else 16
    panels = (h + block - 1) // block
    return (w_ih.new_empty((panels, w_ih.shape[1], 4 * block)),
            w_hh.new_empty((panels, h, 4 * block)))


def _cell_reference(input, hx, cx, w_ih, w_hh, b_ih, b_hh):
    """One LSTM step in ATen ops (gates i, f, g, o, as nn.LSTMCell)."""
    gates = input @ w_ih.t() + hx @ w_hh.t()
    if b_ih is not None:
        gates = gates + b_ih
    if b_hh is not None:
        gates = gates + b_hh
    i, f, g, o = gates.chunk(4, dim=1)
    cy = torch.sigmoid(f) * cx + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(cy), cy


def _sequence_reference(input, hx, cx, w_ih, w_hh, b_ih, b_hh, batch_first):
    x = input.transpose(0, 1) if batch_first else input
    outs, h, c = [], hx, cx
    for t in range(x.shape[0]):
        h, c = _cell_reference(x[t], h, c, w_ih, w_hh, b_ih, b_hh)
        outs.append(h)
    out = torch.stack(outs) if outs else x.new_empty((0, hx.shape[0], hx.shape[1]))
    return (out.transpose(0, 1) if batch_first else out), h, c


def _recompute_grads(ctx, reference, grads_out, extra, tensors=None):
    """Gradients of the op's 7 differentiable inputs (input, hx, cx, w_ih, w_hh, b_ih,
    b_hh): the forward recomputed in ATen ops and differentiated (create_graph when a
    double backward is being recorded). The packed weights are caches of w_ih / w_hh, not
    inputs of their own: they get no gradient."""
    tensors = ctx.saved_tensors if tensors is None else tensors
    need = (*ctx.needs_input_grad[:7], *[False] * (7 - len(ctx.needs_input_grad[:7])))
    create_graph = torch.is_grad_enabled()
    with torch.enable_grad():
        # Recording a double backward, the recompute starts from the saved inputs
        # themselves, so the gradients it returns stay functions of them; otherwise from
        # detached copies (nothing to record past this backward).
        leaves = [t if t is None or create_graph else t.detach().requires_grad_(n)
                  for t, n in zip(tensors, need)]
        outs = reference(*leaves, *extra)
        pairs = [(o, g) for o, g in zip(outs, grads_out) if g is not None]
        wanted = [t for t, n in zip(leaves, need) if t is not None and n]
        got = iter(torch.autograd.grad([o for o, _ in pairs], wanted, [g for _, g in pairs],
                                       create_graph=create_graph, allow_unused=True)
                   if wanted and pairs else [None] * len(wanted))
    return [next(got) if t is not None and n else None for t, n in zip(leaves, need)]


# Backward of the lstm_cell / lstm ops: back-propagation through time on the forward
# recomputed in ATen ops, so gradients are nn.LSTM's. pybench.ops.lstm_cell / lstm run
# lstm_train instead whenever autograd records (a cell as a one-step sequence), whose
# backward is the fused kernel (below); this path serves direct calls of the ops and double
# backward.
def _seven(inputs):
    """The 7 differentiable inputs; a call that left the biases at their default passes
    fewer."""
    return (*inputs[:7], *[None] * (7 - len(inputs[:7])))


def _lstm_cell_setup_context(ctx, inputs, output):
    ctx.save_for_backward(*_seven(inputs))


def _lstm_cell_backward(ctx, grad_hy, grad_cy):
    grads = _recompute_grads(ctx, _cell_reference, (grad_hy, grad_cy), ())
    return (*grads, None, None)[:len(ctx.needs_input_grad)]


def _lstm_setup_context(ctx, inputs, output):
    ctx.save_for_backward(*_seven(inputs))
    ctx.batch_first = inputs[7] if len(inputs) > 7 else False


def _lstm_backward(ctx, grad_out, grad_h, grad_c):
    grads = _recompute_grads(ctx, _sequence_reference, (grad_out, grad_h, grad_c),
                             (ctx.batch_first,))
    return (*grads, None, None, None)[:len(ctx.needs_input_grad)]


torch.library.register_autograd("pybench::lstm_cell", _lstm_cell_backward,
                                setup_context=_lstm_cell_setup_context)
torch.library.register_autograd("pybench::lstm", _lstm_backward,
                                setup_context=_lstm_setup_context)


# Backward of lstm_train: the fused kernel (csrc/kernels/lstm: one step per time step, the
# gate derivatives in the epilogue of dh = grad + dG W_hh; the weight, bias and input
# gradients as GEMMs over all steps). A double backward is recorded through the ATen
# recompute instead: the fused backward is not itself differentiable.
def _lstm_train_setup_context(ctx, inputs, output):
    out, _, _, gates, cells = output
    ctx.mark_non_differentiable(gates, cells)
    ctx.save_for_backward(*_seven(inputs), out, gates, cells)
    ctx.batch_first = inputs[7] if len(inputs) > 7 else False


def _lstm_train_backward(ctx, grad_out, grad_h, grad_c, _grad_gates, _grad_cells):
    *seven, out, gates, cells = ctx.saved_tensors
    need = ctx.needs_input_grad
    if torch.is_grad_enabled():
        grads = _recompute_grads(ctx, _sequence_reference, (grad_out, grad_h, grad_c),
                                 (ctx.batch_first,), tensors=seven)
        return (*grads, None, None, None)[:len(need)]
    input, hx, cx, w_ih, w_hh, b_ih, b_hh = seven
    d_input, d_hx, d_cx, d_w_ih, d_w_hh, d_bias = torch.ops.pybench.lstm_backward(
        grad_out, grad_h, grad_c, input, hx, cx, w_ih, w_hh, out, gates, cells,
        ctx.batch_first, bool(need[0]))
    grads = (d_input if need[0] else None, d_hx if need[1] else None,
             d_cx if need[2] else None, d_w_ih if need[3] else None,
             d_w_hh if need[4] else None,
             d_bias if len(need) > 5 and need[5] and b_ih is not None else None,
             d_bias if len(need) > 6 and need[6] and b_hh is not None else None)
    return (*grads, None, None, None)[:len(need)]


torch.library.register_autograd("pybench::lstm_train", _lstm_train_backward,
                                setup_context=_lstm_train_setup_context)
