"""pybench.ops.conv2d's fused epilogue, ``act(conv2d(x, w, b) + residual)``, against float64.

The reference is F.conv2d on the float64 operands, plus the residual, through the float64
activation. The error bound is test_conv2d.py's, at the same RTOL = 1e-5: element-wise
against the absolute convolution |x| * |w| + |b|, which grows by |residual| (one more
term of the sum) and, with an activation, by |ref| (the activation's own rounding,
relative to its value). The activations' slopes are at most 1.5 (hardswish's, at 3), so
the sum's error passes through them about unchanged.

Every activation with and without a residual, on every CPU ISA (the AVX2 / AVX-512
variants hand depthwise layers to the depthwise kernels, whose stores apply the same
epilogue) and on CUDA where present; shapes with tails against the register tiles, the
staging copy of plane positions with garbage columns, and a split-K shape for CUDA.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import pybench.ops as ops
from conftest import assert_matches_reference, available_cpu_isas, device_params
from test_conv2d import NAMED, _case, _seed, describe, random_cases, reference_conv2d

RTOL = 1e-5
ACTIVATIONS = ("none", "relu", "relu6", "hardswish", "sigmoid")

_TORCH_ACTIVATION = {
    "none": lambda t: t,
    "relu": F.relu,
    "relu6": F.relu6,
    "hardswish": F.hardswish,
    "sigmoid": torch.sigmoid,
}


def _named(*names):
    cases = [c for c in NAMED if c.name in names]
    assert len(cases) == len(names), "a named case of test_conv2d.py went missing"
    return cases


# Every path of the kernels once: the 1x1 over the input in place, strided and padded
# KxK on phase planes (tiles straight into the output, row tiles, the staging copy),
# asymmetric "same" padding, dilation, groups, the depthwise delegation (with channel
# multipliers), channel and position tails, stacked small images, an unbatched input; and a shape that splits
# K on a GPU (one 64-pixel tile, a reduction of 1440).
CASES = _named(
    "1x1", "1x1-in-place-c64", "1x1-stride2", "3x3", "5x5", "7x7-stem", "1x7-same",
    "stride3x2-5x3", "same-2x2", "same-3x3-dil2", "dil2-stride2", "groups3-odd",
    "depthwise", "depthwise-stride2", "depthwise-mult2", "depthwise-mult3", "no-bias",
    "batch3", "h1-3x3-pad1", "w1-3x3-pad1", "unbatched", "channels-k5", "channels-k17",
    "channels-c33", "positions-1x3-w17", "positions-1x3-w65", "positions-1x1-w63",
    "stack-1x1-stride2", "stack-3x3-stride2", "stack-pad-rows-only", "stack-groups2",
) + [
    _case("split-k", 1, 160, 6, 6, 70, 3, 3, padding=1),
    _case("batch1-odd", 1, 7, 13, 11, 9, 3, 3, padding=1, stride=(1, 2)),
] + random_cases(12, seed=2718)


def epilogue_operands(case, residual: bool, dtype=torch.float32):
    """(x, w, b, r): the case's operands and a residual of its output's shape (or None),
    wider than the sums so that relu6's 6 and hardswish's -3 and 3 are crossed."""
    g = torch.Generator().manual_seed(_seed(case))
    x = torch.randn(case.input_shape(), generator=g, dtype=dtype)
    w = torch.randn(case.weight_shape(), generator=g, dtype=dtype)
    b = torch.randn(case.k, generator=g, dtype=dtype) if case.bias else None
    r = None
    if residual:
        shape = F.conv2d(torch.empty(case.input_shape(), device="meta"),
                         torch.empty(case.weight_shape(), device="meta"),
                         **case.kwargs()).shape
        r = 4 * torch.randn(shape, generator=g, dtype=dtype)
    return x, w, b, r


def reference_epilogue(x, w, b, r, activation, **kwargs):
    """(ref, scale): the float64 epilogue and the bound's scale (see the module's doc)."""
    ref, scale = reference_conv2d(x, w, b, **kwargs)
    if r is not None:
        ref = ref + r.double()
        scale = scale + r.double().abs()
    ref = _TORCH_ACTIVATION[activation](ref)
    if activation != "none":
        scale = scale + ref.abs()
    return ref, scale


def _skip_cuda_twice(device, cpu_isa):
    if device == "cuda" and cpu_isa != available_cpu_isas()[0]:
        pytest.skip("the CPU ISA does not affect the CUDA kernel; run it once")


@pytest.mark.parametrize("device", device_params())
@pytest.mark.parametrize("residual", [False, True], ids=["no-residual", "residual"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.name}[{describe(c)}]")
def test_epilogue_matches_float64(case, activation, residual, device, cpu_isa):
    _skip_cuda_twice(device, cpu_isa)
    x, w, b, r = epilogue_operands(case, residual)
    ref, scale = reference_epilogue(x, w, b, r, activation, **case.kwargs())
    to = lambda t: None if t is None else t.to(device)  # noqa: E731
    r_before = None if r is None else r.clone()
    out = ops.conv2d(to(x), to(w), to(b), **case.kwargs(), residual=to(r),
                     activation=activation)
    assert out.device == x.to(device).device
    assert_matches_reference(out, ref, scale, RTOL)
    if r is not None:
        assert torch.equal(r, r_before), "conv2d modified the residual"


def test_cases_cover_the_paths():
    """Guards CASES against a change of test_conv2d.py's lists that narrows them."""
    assert any(c.groups > 1 and c.groups == c.c for c in CASES)
    assert any(c.groups > 1 and c.groups == c.c and c.k > c.c for c in CASES)
    assert any(c.n is None for c in CASES) and any(c.n == 1 for c in CASES)
    assert any(c.padding == "same" for c in CASES) and any(c.dilation != 1 for c in CASES)
    assert any(c.stride != 1 for c in CASES) and any(not c.bias for c in CASES)


# Residuals with other strides: the adapter makes them contiguous; the result is the one
# the contiguous copy gives.
RESIDUAL_LAYOUTS = {
    "channels-last": lambda r: r.contiguous(memory_format=torch.channels_last),
    "transposed-view": lambda r: r.transpose(2, 3).contiguous().transpose(2, 3),
    "sliced": lambda r: torch.cat([r, r], dim=1)[:, ::2] if r.shape[1] else r,
    "expanded": lambda r: r[:1].expand_as(r),
}


@pytest.mark.parametrize("device", device_params())
@pytest.mark.parametrize("layout", RESIDUAL_LAYOUTS, ids=list(RESIDUAL_LAYOUTS))
def test_residual_of_any_strides(layout, device, cpu_isa):
    _skip_cuda_twice(device, cpu_isa)
    case = _case("nc", 2, 6, 9, 11, 8, 3, 3, padding=1)
    x, w, b, r = epilogue_operands(case, True)
    r = RESIDUAL_LAYOUTS[layout](r)
    assert not r.is_contiguous()
    ref, scale = reference_epilogue(x, w, b, r, "relu", **case.kwargs())
    to = lambda t: None if t is None else t.to(device)  # noqa: E731
    out = ops.conv2d(to(x), to(w), to(b), padding=1, residual=to(r), activation="relu")
    assert_matches_reference(out, ref, scale, RTOL)
    same = ops.conv2d(to(x), to(w), to(b), padding=1, residual=to(r.contiguous()),
                      activation="relu")
    torch.testing.assert_close(out, same, rtol=0, atol=0)


@pytest.mark.parametrize("device", device_params())
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize(
    "case",
    [_case("3x3", 1, 5, 9, 13, 7, 3, 3, padding=1),
     _case("1x1", 2, 8, 5, 70, 7, 1, 1),
     _case("garbage-columns", 1, 4, 6, 9, 5, 1, 3),
     _case("depthwise", 1, 8, 9, 20, 8, 5, 5, groups=8, padding=2),
     _case("split-k", 1, 160, 6, 6, 70, 3, 3, padding=1)],
    ids=lambda c: c.name)
def test_nan_in_the_residual_stays_in_its_output(case, activation, device, cpu_isa):
    """NaN + anything is NaN, and every activation keeps it (relu and relu6 as
    torch.relu does, not as max(0, NaN) = 0 would); no other output turns NaN."""
    _skip_cuda_twice(device, cpu_isa)
    x, w, b, r = epilogue_operands(case, True)
    hole = torch.zeros(r.shape, dtype=torch.bool)
    hole.view(-1)[::7] = True
    hole.view(-1)[-1] = True
    r[hole] = float("nan")
    out = ops.conv2d(x.to(device), w.to(device), None if b is None else b.to(device),
                     **case.kwargs(), residual=r.to(device), activation=activation).cpu()
    assert torch.equal(out.isnan(), hole)


@pytest.mark.parametrize("device", device_params())
def test_epilogue_on_an_empty_batch(device):
    x, w = torch.randn(0, 3, 5, 5, device=device), torch.randn(4, 3, 3, 3, device=device)
    r = torch.randn(0, 4, 5, 5, device=device)
    out = ops.conv2d(x, w, padding=1, residual=r, activation="sigmoid")
    assert out.shape == (0, 4, 5, 5)


def test_defaults_are_the_plain_convolution():
    """residual=None, activation="none" is the op as before: bit for bit."""
    case = _case("plain", 2, 6, 9, 11, 8, 3, 3, padding=1)
    x, w, b, _ = epilogue_operands(case, False)
    plain = ops.conv2d(x, w, b, padding=1)
    assert torch.equal(plain, ops.conv2d(x, w, b, padding=1, residual=None, activation="none"))
    assert torch.equal(plain, torch.ops.pybench.conv2d(x, w, b, [1, 1], [1, 1, 1, 1], [1, 1], 1))


# --- fake kernel, opcheck, torch.compile ------------------------------------------------

@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
def test_meta_shapes_with_residual(batched):
    x = torch.empty((2, 6, 9, 11) if batched else (6, 9, 11), device="meta")
    w = torch.empty(8, 3, 3, 3, device="meta")
    shape = F.conv2d(x, w, stride=2, padding=1, groups=2).shape
    r = torch.empty(shape, device="meta")
    out = ops.conv2d(x, w, stride=2, padding=1, groups=2, residual=r, activation="hardswish")
    assert out.device.type == "meta" and out.shape == shape


OPCHECK_CASES = [
    (_case("relu-residual", 2, 5, 7, 9, 6, 3, 3, padding=1), True, "relu"),
    (_case("relu6-strided-grouped", 1, 6, 9, 8, 9, 3, 1, stride=(2, 1), groups=3), True,
     "relu6"),
    (_case("hardswish-same-even", 1, 4, 7, 8, 5, 2, 4, padding="same", dilation=2), True,
     "hardswish"),
    (_case("sigmoid-unbatched-depthwise", None, 5, 6, 6, 10, 3, 3, groups=5, padding=(1, 0)),
     False, "sigmoid"),
    (_case("none-residual-no-bias", 1, 3, 6, 7, 4, 3, 3, bias=False), True, "none"),
]


@pytest.mark.parametrize("case, residual, activation", OPCHECK_CASES,
                         ids=[c[0].name for c in OPCHECK_CASES])
def test_opcheck_with_the_epilogue(case, residual, activation):
    x, w, b, r = epilogue_operands(case, residual)
    pads = ops.conv2d_padding(case.padding, (case.kh, case.kw), case.stride, case.dilation)
    args = (x, w, b, list(ops._pair(case.stride, "s")), list(pads),
            list(ops._pair(case.dilation, "d")), case.groups, r, activation)
    torch.library.opcheck(torch.ops.pybench.conv2d.default, args)


def test_epilogue_under_torch_compile():
    torch._dynamo.reset()

    def block(x, w1, b1, w2):
        y = ops.conv2d(x, w1, b1, padding=1, activation="relu")
        return ops.conv2d(y, w2, padding=1, residual=x, activation="relu")

    compiled = torch.compile(block, fullgraph=True)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 6, 9, 9, generator=g)
    w1, b1 = torch.randn(6, 6, 3, 3, generator=g), torch.randn(6, generator=g)
    w2 = torch.randn(6, 6, 3, 3, generator=g)
    y64 = F.relu(F.conv2d(x.double(), w1.double(), b1.double(), padding=1))
    ref, scale = reference_epilogue(y64, w2, None, x, "relu", padding=1)
    assert_matches_reference(compiled(x, w1, b1, w2), ref, scale, RTOL)


# --- gradients ----------------------------------------------------------------------------

@pytest.mark.parametrize("residual", [False, True], ids=["no-residual", "residual"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kwargs", [dict(stride=2, padding=1), dict(padding="same"),
                                    dict(groups=2, padding=(0, 1), dilation=2)],
                         ids=["strided", "same-even", "grouped-dilated"])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
def test_gradients_match_float64(kwargs, activation, residual, batched):
    """d/d(input, weight, bias, residual) against float64 autograd of F.conv2d + residual
    + the torch activation; the residual's gradient is the pre-activation one."""
    kernel = (2, 3) if kwargs.get("padding") == "same" else (3, 3)
    case = _case("grad", 2 if batched else None, 4, 9, 8, 6, *kernel, **kwargs)
    x, w, b, r = epilogue_operands(case, residual, dtype=torch.float64)
    leaves64 = [t.requires_grad_() for t in (x, w, b, r) if t is not None]
    out64 = _TORCH_ACTIVATION[activation](
        F.conv2d(x, w, b, **case.kwargs()) + (0 if r is None else r))
    g = torch.randn(out64.shape, generator=torch.Generator().manual_seed(3),
                    dtype=torch.float64)
    ref = torch.autograd.grad(out64, leaves64, g)
    leaves = [t.detach().float().requires_grad_() for t in leaves64]
    x32, w32, b32 = leaves[:3]
    r32 = leaves[3] if residual else None
    out = ops.conv2d(x32, w32, b32, **case.kwargs(), residual=r32, activation=activation)
    got = torch.autograd.grad(out, leaves, g.float())
    for name, a, e in zip(("input", "weight", "bias", "residual"), got, ref):
        assert a.shape == e.shape, name
        error = (torch.linalg.vector_norm(a.double() - e) / torch.linalg.vector_norm(e)).item()
        assert error <= RTOL, f"{name}: relative error {error:.3g}"


def test_residual_gradient_alone():
    """Only the residual requires grad: the backward computes its gradient and nothing
    else goes wrong (the convolution's gradients are skipped)."""
    x, w = torch.randn(1, 3, 6, 6), torch.randn(4, 3, 3, 3)
    r = torch.randn(1, 4, 6, 6, requires_grad=True)
    out = ops.conv2d(x, w, padding=1, residual=r, activation="relu")
    (grad,) = torch.autograd.grad(out.sum(), (r,))
    torch.testing.assert_close(grad, (out > 0).float())


# --- errors -----------------------------------------------------------------------------

def _t(*shape, dtype=torch.float32, device="cpu"):
    return torch.ones(shape, dtype=dtype, device=device)


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_residual_shape_mismatch_names_both_shapes(device):
    x, w = _t(2, 4, 6, 6, device=device), _t(5, 4, 3, 3, device=device)
    with pytest.raises(ValueError, match=r"residual of the output's shape \[2, 5, 6, 6\], "
                                         r"got \[2, 5, 6, 5\]"):
        ops.conv2d(x, w, padding=1, residual=_t(2, 5, 6, 5, device=device))
    with pytest.raises(ValueError, match=r"\[5, 6, 6\], got \[1, 5, 6, 6\]"):  # unbatched
        ops.conv2d(x[0], w, padding=1, residual=_t(1, 5, 6, 6, device=device))
    with pytest.raises(ValueError, match=r"\[2, 5, 6, 6\], got \[5, 6, 6\]"):  # no broadcast
        ops.conv2d(x, w, padding=1, residual=_t(5, 6, 6, device=device))


def test_unknown_activation_lists_the_known_ones():
    x, w = _t(1, 4, 6, 6), _t(5, 4, 3, 3)
    known = "none, relu, relu6, hardswish, sigmoid"
    for bad in ("gelu", "ReLU", "", None):
        with pytest.raises(ValueError, match=rf"unknown activation {bad!r}; expected one of "
                                             rf"{known}"):
            ops.conv2d(x, w, activation=bad)
    # The raw op checks it too (C++ adapter; the fake kernel on meta tensors).
    with pytest.raises(ValueError, match=rf"unknown activation 'gelu'; expected one of {known}"):
        torch.ops.pybench.conv2d(x, w, None, [1, 1], [0, 0, 0, 0], [1, 1], 1, None, "gelu")
    with pytest.raises(ValueError, match=rf"unknown activation 'gelu'; expected one of {known}"):
        torch.ops.pybench.conv2d(x.to("meta"), w.to("meta"), None, [1, 1], [0, 0, 0, 0],
                                 [1, 1], 1, None, "gelu")


def test_raw_op_checks_the_residual_shape():
    x, w = _t(1, 4, 6, 6), _t(5, 4, 3, 3)
    with pytest.raises(ValueError, match=r"residual of the output's shape \[1, 5, 4, 4\], "
                                         r"got \[1, 5, 6, 6\]"):
        torch.ops.pybench.conv2d(x, w, None, [1, 1], [0, 0, 0, 0], [1, 1], 1, _t(1, 5, 6, 6),
                                 "relu")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.int32])
def test_residual_dtype(dtype):
    with pytest.raises(TypeError, match=rf"expected float32 residual, got {dtype}"):
        ops.conv2d(_t(1, 4, 6, 6), _t(5, 4, 3, 3), padding=1,
                   residual=_t(1, 5, 6, 6, dtype=dtype))


def test_residual_device():
    with pytest.raises(RuntimeError, match="input is on cpu but residual is on meta"):
        ops.conv2d(_t(1, 4, 6, 6), _t(5, 4, 3, 3), padding=1,
                   residual=_t(1, 5, 6, 6, device="meta"))
    if torch.cuda.is_available() and ops.has_cuda_kernels():
        with pytest.raises(RuntimeError, match="input is on cpu but residual is on cuda"):
            ops.conv2d(_t(1, 4, 6, 6), _t(5, 4, 3, 3), padding=1,
                       residual=_t(1, 5, 6, 6, device="cuda"))


def test_residual_must_be_a_tensor():
    with pytest.raises(TypeError, match="expected residual to be a Tensor"):
        ops.conv2d(_t(1, 4, 6, 6), _t(5, 4, 3, 3), padding=1, residual=1.0)
