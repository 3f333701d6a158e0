"""pybench.ops.lstm_cell / pybench.ops.lstm against float64 torch.nn.LSTMCell / nn.LSTM, on
every CPU ISA and (where present) CUDA."""
import random

import pytest
import torch

import pybench.ops as ops
from conftest import available_cpu_isas, device_params

CELL_ATOL = 1e-5  # max abs error of one step (issue 6)
SEQ_ATOL = 1e-4   # max abs error after a whole sequence


def make_weights(i, h, bias, seed, scale=1.0, device="cpu"):
    """PyTorch's default LSTM init (uniform +-1/sqrt(H)), times `scale`."""
    g = torch.Generator().manual_seed(seed)
    k = scale / h ** 0.5

    def u(*shape):
        return ((torch.rand(*shape, generator=g) * 2 - 1) * k).to(device)

    w = [u(4 * h, i), u(4 * h, h)]
    return w + ([u(4 * h), u(4 * h)] if bias else [None, None])


def reference_lstm_cell(x, hx, cx, w_ih, w_hh, b_ih, b_hh):
    """torch.nn.LSTMCell in float64 on the upcast operands."""
    cell = torch.nn.LSTMCell(w_ih.shape[1], w_hh.shape[1], bias=b_ih is not None,
                             dtype=torch.float64)
    with torch.no_grad():
        cell.weight_ih.copy_(w_ih.double().cpu())
        cell.weight_hh.copy_(w_hh.double().cpu())
        if b_ih is not None:
            cell.bias_ih.copy_(b_ih.double().cpu())
            cell.bias_hh.copy_(b_hh.double().cpu())
        return cell(x.double().cpu(), (hx.double().cpu(), cx.double().cpu()))


def reference_lstm(x, hx, cx, w_ih, w_hh, b_ih, b_hh, batch_first=False):
    """torch.nn.LSTM (one layer) in float64 on the upcast operands."""
    lstm = torch.nn.LSTM(w_ih.shape[1], w_hh.shape[1], bias=b_ih is not None,
                         batch_first=batch_first, dtype=torch.float64)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(w_ih.double().cpu())
        lstm.weight_hh_l0.copy_(w_hh.double().cpu())
        if b_ih is not None:
            lstm.bias_ih_l0.copy_(b_ih.double().cpu())
            lstm.bias_hh_l0.copy_(b_hh.double().cpu())
        out, (h, c) = lstm(x.double().cpu(), (hx.double().cpu()[None], cx.double().cpu()[None]))
    return out, (h[0], c[0])


def max_abs(out, ref):
    return (out.detach().cpu().double() - ref).abs().max().item() if ref.numel() else 0.0


def cell_shapes(seed):
    """(B, I, H): batch 1 and odd sizes, H around the 8 / 16 lane panels and not multiples."""
    rng = random.Random(seed)
    shapes = [(1, 1, 1), (1, 7, 5), (1, 300, 40), (2, 16, 16), (3, 17, 129), (16, 33, 40),
              (7, 64, 8), (13, 5, 33), (1, 256, 256), (17, 100, 95),
              (5, 700, 33), (2, 300, 400), (101, 9, 20)]  # K-blocked path; > 96 rows
    shapes += [(rng.randint(1, 20), rng.randint(1, 130), rng.randint(1, 130)) for _ in range(6)]
    return shapes


CELL_SHAPES = cell_shapes(2026)


def _skip_cuda_for_other_isas(device, cpu_isa):
    if device == "cuda" and cpu_isa != available_cpu_isas()[0]:
        pytest.skip("the CPU ISA does not affect the CUDA kernel; run it once")


@pytest.mark.parametrize("device", device_params())
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("shape", CELL_SHAPES, ids=lambda s: "B{}_I{}_H{}".format(*s))
def test_lstm_cell_matches_float64(device, shape, bias, cpu_isa):
    _skip_cuda_for_other_isas(device, cpu_isa)
    b, i, h = shape
    seed = hash((shape, bias)) % 2**31
    torch.manual_seed(seed)
    x, hx, cx = (torch.randn(b, i, device=device), torch.randn(b, h, device=device),
                 torch.randn(b, h, device=device))
    w = make_weights(i, h, bias, seed, device=device)
    hy, cy = ops.lstm_cell(x, hx, cx, *w)
    assert hy.shape == cy.shape == (b, h) and hy.dtype == torch.float32 and hy.device == x.device
    rh, rc = reference_lstm_cell(x, hx, cx, *w)
    assert max_abs(hy, rh) <= CELL_ATOL
    assert max_abs(cy, rc) <= CELL_ATOL


@pytest.mark.parametrize("device", device_params())
@pytest.mark.parametrize("scale", [4.0, 30.0])
def test_lstm_cell_saturated_gates(device, scale, cpu_isa):
    """Large pre-activations: every branch of the vector sigmoid / tanh (and their clamps)."""
    _skip_cuda_for_other_isas(device, cpu_isa)
    torch.manual_seed(7)
    b, i, h = 9, 70, 37
    x, hx = torch.randn(b, i, device=device) * 3, torch.randn(b, h, device=device)
    cx = torch.randn(b, h, device=device) * 5
    w = make_weights(i, h, True, 8, scale=scale, device=device)
    hy, cy = ops.lstm_cell(x, hx, cx, *w)
    rh, rc = reference_lstm_cell(x, hx, cx, *w)
    # The pre-activations reach |x| ~ 100 here, so float32 products carry ~1e-5 absolute
    # error in themselves; the bound is relative to the gate magnitude.
    assert max_abs(hy, rh) <= CELL_ATOL * scale
    assert max_abs(cy, rc) <= CELL_ATOL * scale


def seq_shapes(seed):
    """(T, B, I, H) up to T = 70."""
    rng = random.Random(seed)
    shapes = [(1, 1, 3, 5), (70, 1, 7, 9), (70, 4, 30, 40), (25, 16, 33, 17), (5, 3, 1, 129),
              (12, 2, 64, 64), (50, 1, 50, 100), (3, 2, 700, 20)]
    shapes += [(rng.randint(1, 70), rng.randint(1, 9), rng.randint(1, 80), rng.randint(1, 80))
               for _ in range(4)]
    return shapes


SEQ_SHAPES = seq_shapes(6)


@pytest.mark.parametrize("device", device_params())
@pytest.mark.parametrize("batch_first", [False, True], ids=["tbi", "bti"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("shape", SEQ_SHAPES, ids=lambda s: "T{}_B{}_I{}_H{}".format(*s))
def test_lstm_matches_float64(device, shape, bias, batch_first, cpu_isa):
    _skip_cuda_for_other_isas(device, cpu_isa)
    t, b, i, h = shape
    seed = hash((shape, bias, batch_first)) % 2**31
    torch.manual_seed(seed)
    x = torch.randn((b, t, i) if batch_first else (t, b, i), device=device)
    hx, cx = torch.randn(b, h, device=device), torch.randn(b, h, device=device)
    w = make_weights(i, h, bias, seed, device=device)
    out, (hn, cn) = ops.lstm(x, hx, cx, *w, batch_first=batch_first)
    ro, (rh, rc) = reference_lstm(x, hx, cx, *w, batch_first=batch_first)
    assert out.shape == ro.shape and hn.shape == cn.shape == (b, h)
    assert max_abs(out, ro) <= SEQ_ATOL
    assert max_abs(hn, rh) <= SEQ_ATOL
    assert max_abs(cn, rc) <= SEQ_ATOL
    assert torch.equal(hn, out[:, -1] if batch_first else out[-1])


@pytest.mark.parametrize("device", device_params())
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda x: x.transpose(0, 1).contiguous().transpose(0, 1), id="tb-swapped"),
        pytest.param(lambda x: x[:, :, ::2], id="i-strided"),
        pytest.param(lambda x: x[::2], id="t-strided"),
    ],
)
def test_lstm_non_contiguous_input(device, make, cpu_isa):
    torch.manual_seed(3)
    base = torch.randn(14, 5, 22, device=device)
    x = make(base)
    assert not x.is_contiguous()
    h = 19
    hx, cx = torch.randn(5, h, device=device).t().contiguous().t(), torch.randn(5, h, device=device)
    w = make_weights(x.shape[2], h, True, 4, device=device)
    out, (hn, cn) = ops.lstm(x, hx, cx, *w)
    ro, (rh, rc) = reference_lstm(x, hx, cx, *w)
    assert max_abs(out, ro) <= SEQ_ATOL and max_abs(cn, rc) <= SEQ_ATOL
    hy, cy = ops.lstm_cell(x[0], hx, cx, *w)
    rh, rc = reference_lstm_cell(x[0], hx, cx, *w)
    assert max_abs(hy, rh) <= CELL_ATOL and max_abs(cy, rc) <= CELL_ATOL


def test_lstm_cell_unbatched(cpu_isa):
    torch.manual_seed(4)
    w = make_weights(11, 13, True, 5)
    x, hx, cx = torch.randn(11), torch.randn(13), torch.randn(13)
    hy, cy = ops.lstm_cell(x, hx, cx, *w)
    rh, rc = reference_lstm_cell(x[None], hx[None], cx[None], *w)
    assert hy.shape == (13,) and max_abs(hy, rh[0]) <= CELL_ATOL and max_abs(cy, rc[0]) <= CELL_ATOL


def test_lstm_empty(cpu_isa):
    w = make_weights(6, 5, True, 1)
    hy, cy = ops.lstm_cell(torch.randn(0, 6), torch.randn(0, 5), torch.randn(0, 5), *w)
    assert hy.shape == cy.shape == (0, 5)
    hx, cx = torch.randn(3, 5), torch.randn(3, 5)
    out, (hn, cn) = ops.lstm(torch.randn(0, 3, 6), hx, cx, *w)
    assert out.shape == (0, 3, 5) and torch.equal(hn, hx) and torch.equal(cn, cx)
    out, (hn, cn) = ops.lstm(torch.randn(4, 0, 6), torch.randn(0, 5), torch.randn(0, 5), *w)
    assert out.shape == (4, 0, 5) and hn.shape == (0, 5)


def test_lstm_packed_weights(cpu_isa):
    """Pre-packed weights give the same result as per-call packing; a mismatch is refused."""
    torch.manual_seed(5)
    w = make_weights(21, 35, True, 6)
    x, hx, cx = torch.randn(4, 21), torch.randn(4, 35), torch.randn(4, 35)
    p_ih, p_hh = ops.lstm_pack_weights(w[0], w[1])
    a = ops.lstm_cell(x, hx, cx, *w)
    b = ops.lstm_cell(x, hx, cx, *w, packed_ih=p_ih, packed_hh=p_hh)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    xs = torch.randn(9, 4, 21)
    a = ops.lstm(xs, hx, cx, *w)
    b = ops.lstm(xs, hx, cx, *w, packed_ih=p_ih, packed_hh=p_hh)
    assert torch.equal(a[0], b[0])
    with pytest.raises(ValueError, match="not packed"):
        ops.lstm_cell(x, hx, cx, *w, packed_ih=p_hh, packed_hh=p_hh)
    other = "avx2" if cpu_isa != "avx2" else "avx512"
    if other in available_cpu_isas() and cpu_isa != "scalar":
        with ops.use_cpu_isa(other):
            with pytest.raises(ValueError, match="not packed"):
                ops.lstm_cell(x, hx, cx, *w, packed_ih=p_ih, packed_hh=p_hh)


def _bad_cases():
    b, i, h = 3, 6, 5
    x, hx, cx = torch.randn(b, i), torch.randn(b, h), torch.randn(b, h)
    w_ih, w_hh, b_ih, b_hh = make_weights(i, h, True, 1)
    ok = dict(input=x, hx=hx, cx=cx, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh)

    def case(id, error, match, **changes):
        return pytest.param({**ok, **changes}, error, match, id=id)

    return [
        case("input-rank", ValueError, "rank 2", input=torch.randn(b, i, 1)),
        case("input-size", ValueError, "w_ih of shape", input=torch.randn(b, i + 1)),
        case("hx-batch", ValueError, "hx of shape", hx=torch.randn(b + 1, h)),
        case("hx-hidden", ValueError, "hx of shape", hx=torch.randn(b, h + 1)),
        case("cx-shape", ValueError, "cx of shape", cx=torch.randn(b, h, 1)),
        case("gate-multiple-hh", ValueError, "4\\*hidden_size", w_hh=torch.randn(3 * h, h)),
        case("gate-multiple-ih", ValueError, "4\\*hidden_size", w_ih=torch.randn(3 * h, i)),
        case("w-hh-rank", ValueError, "w_hh of rank 2", w_hh=torch.randn(4 * h * h)),
        case("bias-shape", ValueError, "b_ih of shape", b_ih=torch.randn(4 * h + 1)),
        case("bias-rank", ValueError, "b_hh of shape", b_hh=torch.randn(4, h)),
        case("input-dtype", TypeError, "float32 input", input=x.double()),
        case("weight-dtype", TypeError, "float32 w_hh", w_hh=w_hh.half()),
        case("hx-int", TypeError, "float32 hx", hx=hx.long()),
        case("bias-dtype", TypeError, "float32 b_hh", b_hh=b_hh.double()),
    ]


@pytest.mark.parametrize("args, error, match", _bad_cases())
def test_lstm_cell_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        torch.ops.pybench.lstm_cell(*args.values())


@pytest.mark.parametrize("args, error, match", _bad_cases())
def test_lstm_bad_input(args, error, match):
    args = dict(args)
    x = args["input"]
    args["input"] = x.unsqueeze(0) if x.dim() != 3 else x.unsqueeze(0).unsqueeze(-1)
    if match == "rank 2":
        match = "rank 3"
    with pytest.raises(error, match=match):
        torch.ops.pybench.lstm(*args.values())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_lstm_cuda_tensor_without_gpu_raises():
    w = make_weights(4, 3, True, 1)
    with pytest.raises((RuntimeError, AssertionError)):
        ops.lstm_cell(torch.randn(2, 4, device="cuda"), torch.randn(2, 3), torch.randn(2, 3), *w)


def test_lstm_meta_shapes():
    m = lambda *s: torch.empty(*s, device="meta")  # noqa: E731
    hy, cy = ops.lstm_cell(m(3, 6), m(3, 5), m(3, 5), m(20, 6), m(20, 5))
    assert hy.shape == cy.shape == (3, 5)
    out, (hn, _) = ops.lstm(m(3, 7, 6), m(3, 5), m(3, 5), m(20, 6), m(20, 5), batch_first=True)
    assert out.shape == (3, 7, 5) and hn.shape == (3, 5)
    with pytest.raises(ValueError):
        ops.lstm_cell(m(3, 6), m(3, 5), m(3, 5), m(21, 6), m(20, 5))


def test_lstm_opcheck(cpu_isa):
    torch.manual_seed(6)
    w = make_weights(9, 11, True, 2)
    x, hx, cx = torch.randn(3, 9), torch.randn(3, 11), torch.randn(3, 11)
    torch.library.opcheck(torch.ops.pybench.lstm_cell.default, (x, hx, cx, *w))
    torch.library.opcheck(torch.ops.pybench.lstm_cell.default, (x[:1], hx[:1], cx[:1], w[0], w[1]))
    torch.library.opcheck(torch.ops.pybench.lstm.default, (torch.randn(4, 3, 9), hx, cx, *w))
    torch.library.opcheck(torch.ops.pybench.lstm.default,
                          (torch.randn(3, 4, 9), hx, cx, *w, True))
    torch.library.opcheck(torch.ops.pybench.lstm_pack_weights.default, (w[0], w[1]))


def test_lstm_under_torch_compile():
    torch.manual_seed(7)
    w = make_weights(8, 6, True, 3)
    x, hx, cx = torch.randn(2, 8), torch.randn(2, 6), torch.randn(2, 6)
    compiled = torch.compile(lambda *a: ops.lstm_cell(*a)[0] * 2.0, fullgraph=True)
    rh, _ = reference_lstm_cell(x, hx, cx, *w)
    assert max_abs(compiled(x, hx, cx, *w), rh * 2.0) <= 2 * CELL_ATOL


def test_lstm_threads_agree():
    """Every thread count gives a correct result (panels and row groups split by threads)."""
    torch.manual_seed(8)
    w = make_weights(40, 70, True, 9)
    x, hx, cx = torch.randn(20, 40), torch.randn(20, 70), torch.randn(20, 70)
    rh, _ = reference_lstm_cell(x, hx, cx, *w)
    before = torch.get_num_threads()
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            assert max_abs(ops.lstm_cell(x, hx, cx, *w)[0], rh) <= CELL_ATOL
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("x", [float("inf"), 200.0, 89.0])
def test_lstm_cell_infinite_cell_state_gives_nan_like_torch(x, cpu_isa):
    # Found by tests/fuzz: a forget gate sigmoid(-x) that float computes as exactly 0 times an
    # infinite cell state is NaN in PyTorch; the AVX-512 and scalar kernels gave a denormal
    # gate there, and so Inf.
    w_ih, w_hh = torch.tensor([[1.0], [-1.0], [1.0], [1.0]]), torch.zeros(4, 1)  # i, f, g, o
    inp, hx, cx = torch.tensor([[x]]), torch.zeros(1, 1), torch.tensor([[float("inf")]])
    want = torch._VF.lstm_cell(inp, (hx, cx), w_ih, w_hh, None, None)
    got = ops.lstm_cell(inp, hx, cx, w_ih, w_hh)
    for g, w in zip(got, want):
        assert torch.isnan(w).all() and torch.isnan(g).all(), (got, want)
    seq = ops.lstm(inp[None], hx, cx, w_ih, w_hh)
    assert torch.isnan(seq[0]).all() and torch.isnan(seq[1][1]).all()


@pytest.mark.parametrize("sequence", [False, True])
def test_lstm_packed_weights_checked_for_an_empty_batch(sequence, cpu_isa):
    # Found by tests/fuzz: the empty-batch early return came before the packed-weight check.
    w_ih, w_hh = torch.randn(4, 1), torch.randn(4, 1)
    p_ih, p_hh = ops.lstm_pack_weights(torch.randn(4, 2), w_hh)  # packed for input_size 2
    x = torch.randn(3, 0, 1) if sequence else torch.randn(0, 1)
    op = ops.lstm if sequence else ops.lstm_cell
    with pytest.raises(ValueError, match="not packed"):
        op(x, torch.randn(0, 1), torch.randn(0, 1), w_ih, w_hh, packed_ih=p_ih, packed_hh=p_hh)
