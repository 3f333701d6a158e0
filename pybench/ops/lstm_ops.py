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
    output, h_n, c_n = _run(torch.ops.pybench.lstm,
                            (input, hx, cx, w_ih, w_hh, b_ih, b_hh, batch_first),
                            input, w_ih, w_hh, packed_ih, packed_hh)
    return output, (h_n, c_n)


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


@torch.library.register_fake("pybench::lstm_pack_weights")
def _lstm_pack_weights_fake(w_ih, w_hh):
    check_operands("pybench.lstm_pack_weights", w_ih, "w_ih", w_hh=w_hh)
    h = w_hh.shape[1]
    block = 8 if cpu_isa() == "avx2" else 16
    panels = (h + block - 1) // block
    return (w_ih.new_empty((panels, w_ih.shape[1], 4 * block)),
            w_hh.new_empty((panels, h, 4 * block)))
