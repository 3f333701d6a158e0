"""Property-based fuzzing of every pybench op against stock PyTorch (hypothesis).

Three properties per op, each case on a CPU ISA drawn from those this machine runs:

- valid arguments -- odd and vector-tail sizes, batch 0 and 1, unbatched input, every
  stride / padding / dilation form, groups, channel multipliers, activations, biases or
  none, transposed and strided views, pre-packed LSTM weights -- give the float64
  reference of tests/ops within the bounds those tests use;
- a valid argument set changed in exactly one way that makes it invalid raises one of
  ``ALLOWED_ERRORS``: never a result, never another exception type;
- NaN and +-Inf put into the input (and the LSTM states) come out exactly where PyTorch's
  own float32 op puts them, with the same signs, and the finite rest still matches.

Tensor values come from a seeded ``torch.Generator`` (hypothesis draws the seed), so a
failing case is reproduced from the printed draws alone.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import pathlib
import sys
import warnings
from typing import Callable

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, note
from hypothesis import strategies as st

import pybench.ops as ops
from conftest import assert_matches_reference, available_cpu_isas  # tests/conftest.py

from .conftest import expect_error, expect_result, examples

# The float64 references (and their bounds) are those of the op tests; tests/ops is not a
# package, so it is put on the path the way pytest itself does when it collects it.
sys.path.append(str(pathlib.Path(__file__).resolve().parents[1] / "ops"))
from test_conv2d import reference_conv2d  # noqa: E402
from test_depthwise_conv2d import reference_depthwise_conv2d  # noqa: E402
from test_gram import RTOL as GRAM_RTOL, reference_gram, rel_error  # noqa: E402
from test_lstm import (CELL_ATOL, SEQ_ATOL, make_weights, max_abs, reference_lstm,  # noqa: E402
                       reference_lstm_cell)
from test_separable_conv2d import ACTS, reference_separable_conv2d  # noqa: E402

NAN, INF = float("nan"), float("inf")

isas = st.sampled_from(available_cpu_isas())
seeds = st.integers(0, 2**32 - 1)
# Sizes on both sides of the 8 / 16 float lanes of AVX2 / AVX-512, beside small ones.
lanes = st.sampled_from([7, 8, 9, 15, 16, 17])
channels = st.one_of(st.integers(1, 20), lanes)
batches = st.sampled_from([1, None, 0, 2, 3])  # None: an unbatched input
layouts = st.sampled_from(["contiguous", "transposed", "strided", "channels_last"])


def pair_or_int(lo, hi):
    return st.one_of(st.integers(lo, hi), st.tuples(st.integers(lo, hi), st.integers(lo, hi)))


def relayout(t: torch.Tensor, how: str) -> torch.Tensor:
    """``t``'s values with other strides. The gaps of "strided" hold NaN, so a kernel that
    reads by an assumed layout produces NaN rather than a plausible number."""
    if how == "contiguous" or t.dim() == 0:
        return t
    if how == "transposed" and t.dim() >= 2:
        return t.transpose(-1, -2).contiguous().transpose(-1, -2)
    if how == "channels_last" and t.dim() == 4:
        return t.contiguous(memory_format=torch.channels_last)
    big = torch.full((*t.shape[:-1], 2 * t.shape[-1]), NAN, dtype=t.dtype)
    big[..., ::2] = t
    return big[..., ::2]


class Draw:
    """Random float32 tensors from one drawn seed, each in a drawn memory layout."""

    def __init__(self, draw):
        self.draw = draw
        self.gen = torch.Generator().manual_seed(draw(seeds))

    def randn(self, *shape):
        return relayout(torch.randn(shape, generator=self.gen), self.draw(layouts))

    def maybe(self, *shape):
        return self.randn(*shape) if self.draw(st.booleans()) else None


@contextlib.contextmanager
def _warnings_off():
    # padding="same" with an even kernel: PyTorch warns that it pads a copy, as intended.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Using padding='same'")
        yield


# --- valid arguments ------------------------------------------------------------------------

@st.composite
def geometries(draw):
    """(stride / padding / dilation kwargs, (kh, kw), (h, w)): the dilated kernel fits the
    padded input, sometimes exactly."""
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    form = draw(st.sampled_from(["int", "pair", "valid", "same"]))
    # "same" is for stride 1 only (a strided one is among the invalid arguments).
    stride = draw(st.sampled_from([1, (1, 1)]) if form == "same" else pair_or_int(1, 3))
    dilation = draw(pair_or_int(1, 3))
    if form == "int":
        padding = draw(st.integers(0, 3))
    elif form == "pair":
        padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    else:
        padding = form
    top, bottom, left, right = ops.conv2d_padding(padding, (kh, kw), stride, dilation)
    dh, dw = ops._pair(dilation, "")
    hmin = max(1, dh * (kh - 1) + 1 - top - bottom)
    wmin = max(1, dw * (kw - 1) + 1 - left - right)
    h = draw(st.one_of(st.just(hmin), st.integers(hmin, max(hmin, 12))))
    w = draw(st.one_of(st.just(wmin), st.integers(wmin, max(wmin, 12)),
                       st.integers(max(wmin, 15), max(wmin, 15) + 5)))
    return dict(stride=stride, padding=padding, dilation=dilation), (kh, kw), (h, w)


def _input_shape(n, c, h, w):
    return (c, h, w) if n is None else (n, c, h, w)


@st.composite
def conv2d_args(draw):
    geo, (kh, kw), (h, w) = draw(geometries())
    groups = draw(st.sampled_from([1, 2, 3, "depthwise"]))
    if groups == 1:
        c, k = draw(channels), draw(channels)
    elif groups == "depthwise":
        groups = c = draw(channels)
        k = c * draw(st.integers(1, 3))
    else:
        c, k = groups * draw(st.integers(1, 20 // groups)), groups * draw(st.integers(1, 6))
    t = Draw(draw)
    return dict(input=t.randn(*_input_shape(draw(batches), c, h, w)),
                weight=t.randn(k, c // groups, kh, kw), bias=t.maybe(k), **geo, groups=groups)


@st.composite
def depthwise_args(draw):
    geo, (kh, kw), (h, w) = draw(geometries())
    c, m = draw(channels), draw(st.integers(1, 3))
    t = Draw(draw)
    return dict(input=t.randn(*_input_shape(draw(batches), c, h, w)),
                weight=t.randn(c * m, 1, kh, kw), bias=t.maybe(c * m), **geo)


@st.composite
def separable_args(draw):
    a = draw(depthwise_args())
    mid, k, t = a["weight"].shape[0], draw(channels), Draw(draw)
    return dict(input=a["input"], dw_weight=a["weight"], pw_weight=t.randn(k, mid, 1, 1),
                dw_bias=a["bias"], pw_bias=t.maybe(k), stride=a["stride"],
                padding=a["padding"], dilation=a["dilation"],
                activation=draw(st.sampled_from(ops.ACTIVATIONS)),
                pw_activation=draw(st.sampled_from((None,) + ops.ACTIVATIONS)))


@st.composite
def gram_args(draw):
    # Empty sizes are valid here: an empty channel set or an empty sum.
    size = st.one_of(st.integers(1, 12), lanes, st.just(0))
    c, t = draw(st.one_of(channels, st.just(0))), Draw(draw)
    if draw(st.booleans()):
        features = t.randn(c, draw(st.one_of(size, st.integers(30, 70))))
    else:
        features = t.randn(draw(st.integers(0, 3)), c, draw(size), draw(size))
    return dict(features=features, normalize=draw(st.booleans()))


@st.composite
def _lstm_common(draw, sequence):
    i = draw(st.one_of(st.integers(1, 40), lanes))
    h = draw(st.one_of(st.integers(1, 40), lanes))
    bias, t = draw(st.booleans()), Draw(draw)
    w_ih, w_hh, b_ih, b_hh = make_weights(i, h, bias, draw(seeds))
    # lstm_cell takes an unbatched (I) input with (H) states; lstm always has a batch.
    b = draw(st.sampled_from([1, 0, 2, 3, 5, 9, 17] + ([] if sequence else [None])))
    state = (h,) if b is None else (b, h)
    a = dict(hx=t.randn(*state), cx=t.randn(*state), w_ih=relayout(w_ih, draw(layouts)),
             w_hh=relayout(w_hh, draw(layouts)), b_ih=b_ih, b_hh=b_hh)
    if draw(st.booleans()):  # packed in the ISA of the call, see invoke()
        a["_pack"] = (w_ih, w_hh)
    return a, t, b, i


@st.composite
def lstm_cell_args(draw):
    a, t, b, i = draw(_lstm_common(False))
    return dict(input=t.randn(i) if b is None else t.randn(b, i), **a)


@st.composite
def lstm_args(draw):
    a, t, b, i = draw(_lstm_common(True))
    steps, batch_first = draw(st.integers(0, 8)), draw(st.booleans())
    x = t.randn(b, steps, i) if batch_first else t.randn(steps, b, i)
    return dict(input=x, **a, batch_first=batch_first)


# --- references -------------------------------------------------------------------------------
# check(a, outs, masks): outs are the op's outputs as a tuple; masks, when given, select the
# elements to compare with the float64 reference (the finite ones of PyTorch's float32
# result, in the NaN / Inf test).

def _masked(mask, *refs):
    """``mask`` narrowed to where every float64 reference is finite: float64 saturates
    later than float32 (sigmoid(-100) is 0 only in float32, and 0 * Inf is NaN)."""
    for r in refs:
        mask = mask & r.isfinite()
    return mask


def _assert_conv_like(out, ref, scale, mask):
    assert tuple(out.shape) == tuple(ref.shape), (
        f"shape {tuple(out.shape)}, the reference gives {tuple(ref.shape)}")
    if mask is not None:
        mask = _masked(mask, ref, scale)
        out, ref, scale = out[mask], ref[mask], scale[mask]
    if ref.numel():  # batch 0: the shape is all there is to check
        assert_matches_reference(out, ref, scale)


def _dense(a):
    """``a`` with contiguous tensors, for PyTorch's own convolutions (the oracles): torch
    2.14.1's F.conv2d segfaults on some channels-last operands, e.g. input (1, 4, 13, 1) and
    weight (2, 2, 5, 1) in channels-last strides, stride 3, padding (0, 2), dilation 3,
    groups 2 (found by the long profile; contiguous copies of the same values run). Layout
    changes no value, so the oracle is the same; pybench still gets the strided operands."""
    return {k: v.contiguous() if isinstance(v, torch.Tensor) else v for k, v in a.items()}


def _geometry(a):
    return dict(stride=a["stride"], padding=a["padding"], dilation=a["dilation"])


def check_conv2d(a, outs, masks=None):
    a = _dense(a)
    ref, scale = reference_conv2d(a["input"], a["weight"], a["bias"], **_geometry(a),
                                  groups=a["groups"])
    _assert_conv_like(outs[0], ref, scale, masks and masks[0])


def check_depthwise(a, outs, masks=None):
    a = _dense(a)
    ref, scale = reference_depthwise_conv2d(a["input"], a["weight"], a["bias"], **_geometry(a))
    _assert_conv_like(outs[0], ref, scale, masks and masks[0])


def check_separable(a, outs, masks=None):
    a = _dense(a)
    ref, scale = reference_separable_conv2d(a["input"], a["dw_weight"], a["pw_weight"],
                                            a["dw_bias"], a["pw_bias"], a["activation"],
                                            a["pw_activation"], **_geometry(a))
    _assert_conv_like(outs[0], ref, scale, masks and masks[0])


def check_gram(a, outs, masks=None):
    x, out = a["features"], outs[0]
    length = x.shape[1] if x.dim() == 2 else x.shape[2] * x.shape[3]
    # (N, C, L): reference_gram's own reshape cannot infer L of an empty batch.
    ref = reference_gram(x if x.dim() == 2 else x.reshape(*x.shape[:2], length), a["normalize"])
    if a["normalize"] and length == 0:
        # The op's contract (tests/ops/test_gram.py::test_gram_empty): a normalised empty
        # sum is 0, where the reference divides 0 by 0.
        ref = torch.zeros_like(ref)
    assert out.dtype == torch.float32 and tuple(out.shape) == tuple(ref.shape)
    if masks is None:
        assert torch.equal(out, out.transpose(-1, -2)), "not exactly symmetric"
    else:
        mask = _masked(masks[0], ref)
        out, ref = out[mask], ref[mask]
    assert rel_error(out, ref) <= GRAM_RTOL


def _w(a):
    return a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"]


def _assert_lstm(outs, refs, masks, atol):
    for name, out, ref, mask in zip(("output / hy", "h_n / cy", "c_n"), outs, refs,
                                    masks or (None,) * 3):
        assert out.dtype == torch.float32 and tuple(out.shape) == tuple(ref.shape), (
            f"{name}: shape {tuple(out.shape)}, the reference gives {tuple(ref.shape)}")
        if mask is not None:
            mask = _masked(mask, ref)
            out, ref = out[mask], ref[mask]
        error = max_abs(out, ref)
        assert error <= atol, f"{name}: max abs error {error:.3g} > {atol}"


def check_lstm_cell(a, outs, masks=None):
    refs = reference_lstm_cell(a["input"], a["hx"], a["cx"], *_w(a))
    _assert_lstm(outs, refs, masks, CELL_ATOL)


def check_lstm(a, outs, masks=None):
    x, batch_first = a["input"], a["batch_first"]
    if x.shape[1 if batch_first else 0] == 0:
        # nn.LSTM refuses an empty sequence; the op's contract (tests/ops/test_lstm.py::
        # test_lstm_empty) is an empty output and the initial states.
        refs = (x.new_empty(*x.shape[:2], a["hx"].shape[-1]).double(), a["hx"].double(),
                a["cx"].double())
    else:
        out, (h, c) = reference_lstm(x, a["hx"], a["cx"], *_w(a), batch_first=batch_first)
        refs = (out, h, c)
    _assert_lstm(outs, refs, masks, SEQ_ATOL)
    if masks is None and x.shape[1 if batch_first else 0]:
        last = outs[0][:, -1] if batch_first else outs[0][-1]
        assert torch.equal(outs[1], last), "h_n is not the last output step"


# PyTorch's own float32 ops: the oracle of where NaN and Inf go.

def torch_conv2d(a):
    a = _dense(a)
    with _warnings_off():
        return F.conv2d(a["input"], a["weight"], a["bias"], **_geometry(a), groups=a["groups"]),


def torch_depthwise(a):
    a = _dense(a)
    with _warnings_off():
        return F.conv2d(a["input"], a["weight"], a["bias"], **_geometry(a),
                        groups=a["input"].shape[-3]),


def torch_separable(a):
    a = _dense(a)
    act, pw_act = ACTS[a["activation"]], ACTS[a["pw_activation"] or a["activation"]]
    with _warnings_off():
        mid = act(F.conv2d(a["input"], a["dw_weight"], a["dw_bias"], **_geometry(a),
                           groups=a["input"].shape[-3]))
        return pw_act(F.conv2d(mid, a["pw_weight"], a["pw_bias"])),


def torch_gram(a):
    x = a["features"]
    f = x if x.dim() == 2 else x.reshape(x.shape[0], x.shape[1], -1)
    g = f @ f.transpose(-1, -2)
    return (g / (f.shape[-2] * f.shape[-1]) if a["normalize"] else g),


def torch_lstm_cell(a):
    x, hx, cx = a["input"], a["hx"], a["cx"]
    batched = x.dim() == 2
    if not batched:
        x, hx, cx = x[None], hx[None], cx[None]
    hy, cy = torch._VF.lstm_cell(x, (hx, cx), *_w(a))
    return (hy, cy) if batched else (hy[0], cy[0])


def torch_lstm(a):
    x, batch_first = a["input"], a["batch_first"]
    if x.shape[1 if batch_first else 0] == 0:  # see check_lstm
        return x.new_empty(*x.shape[:2], a["hx"].shape[-1]), a["hx"], a["cx"]
    weights = [w for w in _w(a) if w is not None]
    out, h, c = torch._VF.lstm(a["input"], (a["hx"][None], a["cx"][None]), weights,
                               a["b_ih"] is not None, 1, 0.0, False, False, a["batch_first"])
    return out, h[0], c[0]


# --- invalid arguments: each mutation changes a valid set in exactly one way ---------------------
# A mutation is f(spec, data, a) -> (description, changed a); it always yields an invalid call,
# falling back to another change of the same kind where its first choice would be valid.

def _tensors(a, names):
    return [n for n in names if isinstance(a.get(n), torch.Tensor)]


def mutate_dtype(spec, data, a):
    name = data.draw(st.sampled_from(_tensors(a, spec.tensors)), label="tensor")
    dtype = data.draw(st.sampled_from([torch.float64, torch.float16, torch.int32]), label="dtype")
    return f"{name} of dtype {dtype}", {**a, name: a[name].to(dtype)}


def mutate_meta(spec, data, a):
    # The input stays on the CPU: a mixed call must be refused, not run on whichever
    # device the dispatcher picks.
    name = data.draw(st.sampled_from(_tensors(a, spec.tensors[1:])), label="tensor")
    return f"{name} on the meta device", {**a, name: a[name].to("meta")}


def mutate_sparse(spec, data, a):
    name = data.draw(st.sampled_from(_tensors(a, spec.tensors)), label="tensor")
    return f"sparse {name}", {**a, name: a[name].to_sparse()}


def _to_rank(t, rank):
    if rank > t.dim():
        return t.reshape(*t.shape, *([1] * (rank - t.dim())))
    if rank == 0:
        return t.reshape(-1)[0] if t.numel() else torch.zeros((), dtype=t.dtype)
    return t.reshape(*t.shape[:rank - 1], math.prod(t.shape[rank - 1:]))


def mutate_rank(spec, data, a):
    name = data.draw(st.sampled_from(_tensors(a, spec.tensors)), label="tensor")
    allowed = spec.ranks(a)[name]
    rank = data.draw(st.sampled_from([r for r in range(6) if r not in allowed]), label="rank")
    return f"{name} of rank {rank}", {**a, name: _to_rank(a[name], rank)}


def _resized(t, dim, size):
    shape = list(t.shape)
    shape[dim] = size
    return torch.randn(shape)


def _weight_name(a):
    return "dw_weight" if "dw_weight" in a else "weight"


def mutate_bad_stride_or_dilation(spec, data, a):
    name = data.draw(st.sampled_from(["stride", "dilation"]), label="argument")
    value = data.draw(st.sampled_from([0, -1, (1, 0), (0, 2), (2, -1), (1, 1, 1), ()]),
                      label="value")
    return f"{name}={value!r}", {**a, name: value}


def mutate_bad_padding(spec, data, a):
    value = data.draw(st.sampled_from([-1, (0, -1), (-2, 1), "full", "SAME", "", (1, 1, 1),
                                       "same-with-stride"]), label="padding")
    if value == "same-with-stride":
        stride = data.draw(st.sampled_from([2, (1, 2), (3, 1)]), label="stride")
        return f"padding='same' with stride {stride}", {**a, "padding": "same", "stride": stride}
    return f"padding={value!r}", {**a, "padding": value}


def mutate_kernel_too_large(spec, data, a):
    name = _weight_name(a)
    geo = _geometry(a)
    if geo["padding"] == "same":  # "same" grows with the kernel: no kernel is too large
        geo["padding"] = "valid"
    top, bottom, _, _ = ops.conv2d_padding(geo["padding"], (1, 1), 1, 1)
    rows = a["input"].shape[-2] + top + bottom + 1
    return (f"{name} of {rows} rows over a padded input of {rows - 1}",
            {**a, **geo, name: _resized(a[name], 2, rows)})


def mutate_empty(spec, data, a):
    """A zero-size channel or spatial dimension (the batch may be empty; nothing else)."""
    dim = data.draw(st.sampled_from(["in_channels", "out_channels", "height", "width"]),
                    label="empty")
    x, b = a["input"], dict(a)
    if dim in ("height", "width"):
        b["input"] = _resized(x, -2 if dim == "height" else -1, 0)
    elif "dw_weight" in a:
        if dim == "in_channels":
            b.update(input=_resized(x, -3, 0), dw_weight=_resized(a["dw_weight"], 0, 0),
                     pw_weight=_resized(a["pw_weight"], 1, 0))
            if a["dw_bias"] is not None:
                b["dw_bias"] = torch.randn(0)
        else:
            b["pw_weight"] = _resized(a["pw_weight"], 0, 0)
            if a["pw_bias"] is not None:
                b["pw_bias"] = torch.randn(0)
    elif "groups" in a and dim == "out_channels":
        b["weight"] = _resized(a["weight"], 0, 0)
        if a["bias"] is not None:
            b["bias"] = torch.randn(0)
    else:  # conv2d's input channels; depthwise, where C*m is empty with C
        b["input"] = _resized(x, -3, 0)
        b["weight"] = _resized(a["weight"], 1 if "groups" in a else 0, 0)
        if a["bias"] is not None and "groups" not in a:
            b["bias"] = torch.randn(0)
    return f"empty {dim}", b


def mutate_bias_size(spec, data, a):
    names = [n for n in spec.tensors if "bias" in n or n.startswith("b_")]
    name = data.draw(st.sampled_from(names), label="bias")
    if a[name] is not None:
        size = a[name].shape[0] + data.draw(st.sampled_from([1, -1]), label="change")
    else:  # a bias of the wrong size where there was none
        size = data.draw(st.sampled_from([0, 1, 2]), label="size")
        size = size if size != spec.bias_size(a, name) else size + 3
    b = {**a, name: torch.randn(size)}
    if name in ("b_ih", "b_hh") and a[name] is None:  # the pair: the other one is right
        other = "b_hh" if name == "b_ih" else "b_ih"
        b[other] = torch.randn(spec.bias_size(a, other))
    return f"{name} of size {size}", b


def mutate_conv_weight_shape(spec, data, a):
    w = a["weight"]
    if "groups" in a:  # conv2d: in_channels / groups
        size = w.shape[1] + (1 if w.shape[1] == 1 or data.draw(st.booleans()) else -1)
        return f"weight with {size} input channels per group", {**a, "weight": _resized(w, 1, size)}
    c = a["input"].shape[-3]
    if c > 1 and data.draw(st.booleans(), label="rows not a multiple of C"):
        return f"weight of {w.shape[0] + 1} rows for {c} channels", {
            **a, "weight": _resized(w, 0, w.shape[0] + 1), "bias": None}
    return "weight of 2 input channels", {**a, "weight": _resized(w, 1, 2)}


def mutate_separable_weight_shape(spec, data, a):
    dw, pw = a["dw_weight"], a["pw_weight"]
    kind = data.draw(st.sampled_from(["pw-in", "pw-kernel", "dw-in"]), label="shape")
    if kind == "pw-in":
        return "pw_weight with one input channel too many", {
            **a, "pw_weight": _resized(pw, 1, pw.shape[1] + 1)}
    if kind == "pw-kernel":
        return "pw_weight of a 3x1 kernel", {**a, "pw_weight": _resized(pw, 2, 3)}
    return "dw_weight of 2 input channels", {**a, "dw_weight": _resized(dw, 1, 2)}


def mutate_groups(spec, data, a):
    g = a["groups"]
    value = data.draw(st.sampled_from([v for v in (0, -1, g + 1, 2 * g, -g) if v != g]),
                      label="groups")
    return f"groups={value} (weight made for {g})", {**a, "groups": value}


def mutate_activation(spec, data, a):
    name = data.draw(st.sampled_from(["activation", "pw_activation"]), label="argument")
    value = data.draw(st.sampled_from(["gelu", "RELU", "", "relu7", "tanh"]), label="value")
    return f"{name}={value!r}", {**a, name: value}


def mutate_state_shape(spec, data, a):
    name = data.draw(st.sampled_from(["hx", "cx"]), label="state")
    t = a[name]
    dim = data.draw(st.sampled_from(range(t.dim())), label="dim")
    size = t.shape[dim] + (1 if t.shape[dim] <= 1 or data.draw(st.booleans()) else -1)
    return f"{name} of size {size} in dim {dim}", {**a, name: _resized(t, dim, size)}


def mutate_lstm_weight_shape(spec, data, a):
    name = data.draw(st.sampled_from(["w_ih", "w_hh"]), label="weight")
    w, hidden = a[name], a["w_hh"].shape[1]
    kind = data.draw(st.sampled_from(["rows+1", "rows-1", "3H rows", "cols+1"]), label="change")
    if kind == "cols+1":  # w_hh: another H, whose 4H rows w_hh does not have either
        return f"{name} of {w.shape[1] + 1} columns", {**a, name: _resized(w, 1, w.shape[1] + 1)}
    rows = {"rows+1": 4 * hidden + 1, "rows-1": 4 * hidden - 1, "3H rows": 3 * hidden}[kind]
    return f"{name} of {rows} rows", {**a, name: _resized(w, 0, rows)}


def mutate_input_size(spec, data, a):
    x = a["input"]
    return f"input of {x.shape[-1] + 1} features", {**a, "input": _resized(x, -1, x.shape[-1] + 1)}


def mutate_packed(spec, data, a):
    # Packed from weights with one more input feature: p_ih does not fit this w_ih.
    w_ih, w_hh = a["w_ih"], a["w_hh"]
    return "packed_ih made for another input size", {
        **a, "_pack": (_resized(w_ih, 1, w_ih.shape[1] + 1), w_hh.contiguous())}


def mutate_batch_first(spec, data, a):
    x = a["input"]
    if x.shape[0] == x.shape[1]:  # flipping batch_first would be valid: change hx instead
        return mutate_state_shape(spec, data, a)
    return f"batch_first={not a['batch_first']} for the same tensors", {
        **a, "batch_first": not a["batch_first"]}


GENERIC = (mutate_dtype, mutate_rank, mutate_sparse, mutate_meta)
CONV = GENERIC + (mutate_bad_stride_or_dilation, mutate_bad_padding, mutate_kernel_too_large,
                  mutate_empty, mutate_bias_size)
LSTM = GENERIC + (mutate_state_shape, mutate_lstm_weight_shape, mutate_bias_size,
                  mutate_input_size, mutate_packed)


# --- the ops ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Op:
    fn: Callable
    valid: st.SearchStrategy  # -> the keyword arguments of fn (plus "_pack", see invoke)
    check: Callable           # (a, outs, masks=None): asserts against the float64 reference
    torch32: Callable         # (a) -> PyTorch's float32 outputs
    tensors: tuple            # tensor arguments, the input first
    nonfinite: tuple          # those NaN / Inf are put into
    ranks: Callable           # (a) -> {tensor: the ranks it may have}
    mutations: tuple
    bias_size: Callable = lambda a, name: None


def _conv_ranks(a):
    return {n: ((3, 4) if n == "input" else (1,) if "bias" in n else (4,)) for n in a}


def _lstm_ranks(a):
    # lstm_cell: every state has the input's rank (1 unbatched, 2); the sequence op's
    # input is 3-D with 2-D states.
    r = a["input"].dim()
    return {"input": (r,), "hx": (min(r, 2),), "cx": (min(r, 2),), "w_ih": (2,), "w_hh": (2,),
            "b_ih": (1,), "b_hh": (1,)}


def _lstm_bias_size(a, name):
    return 4 * a["w_hh"].shape[1]


LSTM_TENSORS = ("input", "hx", "cx", "w_ih", "w_hh", "b_ih", "b_hh")
OPS = {
    "conv2d": Op(ops.conv2d, conv2d_args(), check_conv2d, torch_conv2d,
                 ("input", "weight", "bias"), ("input",), _conv_ranks,
                 CONV + (mutate_conv_weight_shape, mutate_groups),
                 lambda a, n: a["weight"].shape[0]),
    "depthwise_conv2d": Op(ops.depthwise_conv2d, depthwise_args(), check_depthwise,
                           torch_depthwise, ("input", "weight", "bias"), ("input",),
                           _conv_ranks, CONV + (mutate_conv_weight_shape,),
                           lambda a, n: a["weight"].shape[0]),
    "separable_conv2d": Op(ops.separable_conv2d, separable_args(), check_separable,
                           torch_separable,
                           ("input", "dw_weight", "pw_weight", "dw_bias", "pw_bias"),
                           ("input",), _conv_ranks,
                           CONV + (mutate_separable_weight_shape, mutate_activation),
                           lambda a, n: a["dw_weight" if n == "dw_bias" else "pw_weight"].shape[0]),
    "gram": Op(ops.gram, gram_args(), check_gram, torch_gram, ("features",), ("features",),
               lambda a: {"features": (2, 4)}, (mutate_dtype, mutate_rank, mutate_sparse)),
    "lstm_cell": Op(ops.lstm_cell, lstm_cell_args(), check_lstm_cell, torch_lstm_cell,
                    LSTM_TENSORS, ("input", "hx", "cx"), _lstm_ranks, LSTM, _lstm_bias_size),
    "lstm": Op(ops.lstm, lstm_args(), check_lstm, torch_lstm, LSTM_TENSORS,
               ("input", "hx", "cx"), _lstm_ranks, LSTM + (mutate_batch_first,),
               _lstm_bias_size),
}


def invoke(op: str, a: dict, isa: str):
    """Calls the op on the ``isa`` kernels; LSTM weights in ``_pack`` are packed for it."""
    a = dict(a)
    with ops.use_cpu_isa(isa):
        pack = a.pop("_pack", None)
        if pack is not None:
            a["packed_ih"], a["packed_hh"] = ops.lstm_pack_weights(*pack)
        out = OPS[op].fn(**a)
    if op == "lstm":
        return out[0], *out[1]
    return out if isinstance(out, tuple) else (out,)


def _snapshot(a):
    return {k: v.clone() for k, v in a.items() if isinstance(v, torch.Tensor)}


def _unchanged(a, before):
    for k, v in before.items():
        assert torch.equal(a[k].nan_to_num(), v.nan_to_num()), f"the op modified its {k}"


@pytest.mark.parametrize("op", OPS)
@examples(70)
@given(data=st.data())
def test_valid_arguments_match_float64(op, data):
    spec = OPS[op]
    a, isa = data.draw(spec.valid, label="arguments"), data.draw(isas, label="isa")
    before = _snapshot(a)

    def check(outs):
        spec.check(a, outs)
        _unchanged(a, before)

    expect_result(op, lambda: invoke(op, a, isa), check)


@pytest.mark.parametrize("op", OPS)
@examples(30)
@given(data=st.data())
def test_invalid_arguments_raise(op, data):
    spec = OPS[op]
    a, isa = data.draw(spec.valid, label="valid arguments"), data.draw(isas, label="isa")
    # Every kind of mutation of each valid set, one at a time: a refused call is cheap,
    # and a drawn kind would leave some kinds untried in a short run.
    for mutation in spec.mutations:
        what, bad = mutation(spec, data, a)
        note(f"changed: {what}")
        expect_error(op, lambda: invoke(op, bad, isa), what)


@pytest.mark.parametrize("op", OPS)
@examples(40)
@given(data=st.data())
def test_nan_and_inf_propagate_like_torch(op, data):
    spec = OPS[op]
    a, isa = data.draw(spec.valid, label="arguments"), data.draw(isas, label="isa")
    targets = [n for n in spec.nonfinite if a[n].numel()]
    assume(targets)
    a, injected = dict(a), 0
    # Into every target (input and LSTM states) at once, often: a saturated gate meets an
    # infinite cell state only so.
    for name in targets:
        t = a[name] = a[name].clone()
        for _ in range(data.draw(st.integers(0 if len(targets) > 1 else 1, 3), label=name)):
            flat = data.draw(st.integers(0, t.numel() - 1), label="at")
            index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), t.shape))
            t[index] = data.draw(st.sampled_from([NAN, INF, -INF]), label="value")
            injected += 1
    assume(injected)
    expected = spec.torch32(a)

    def check(outs):
        for i, (out, want) in enumerate(zip(outs, expected)):
            assert out.shape == want.shape, f"output {i}: shape {tuple(out.shape)}"
            for what, f in (("NaN", torch.isnan), ("+Inf", torch.isposinf),
                            ("-Inf", torch.isneginf)):
                got, exp = f(out), f(want)
                if not torch.equal(got, exp):
                    where = (got ^ exp).nonzero()[0].tolist()
                    pytest.fail(f"output {i}: {what} positions differ from PyTorch's, first at "
                                f"{where}: pybench {out[tuple(where)].item()}, PyTorch "
                                f"{want[tuple(where)].item()}")
        spec.check(a, outs, [w.isfinite() for w in expected])

    expect_result(op, lambda: invoke(op, a, isa), check)


# The exact reproducer of the mixed-device bug: a meta operand beside a CPU input used to
# dispatch to the fake kernel and return an uninitialised CPU tensor.
def _meta_cases():
    x, w, b = torch.randn(1, 3, 8, 8), torch.randn(4, 3, 3, 3), torch.randn(4)
    dw, db = torch.randn(3, 1, 3, 3), torch.randn(3)
    pw, pb = torch.randn(5, 3, 1, 1), torch.randn(5)
    wts = dict(zip(("w_ih", "w_hh", "b_ih", "b_hh"), make_weights(6, 5, True, 1)))
    lstm = dict(hx=torch.randn(2, 5), cx=torch.randn(2, 5), **wts)
    m = lambda t: t.to("meta")  # noqa: E731
    cases = [
        ("conv2d", "weight", lambda: ops.conv2d(x, m(w))),
        ("conv2d", "bias", lambda: ops.conv2d(x, w, m(b))),
        ("depthwise_conv2d", "weight", lambda: ops.depthwise_conv2d(x, m(dw))),
        ("depthwise_conv2d", "bias", lambda: ops.depthwise_conv2d(x, dw, m(db))),
        ("separable_conv2d", "dw_weight", lambda: ops.separable_conv2d(x, m(dw), pw)),
        ("separable_conv2d", "pw_weight", lambda: ops.separable_conv2d(x, dw, m(pw))),
        ("separable_conv2d", "dw_bias", lambda: ops.separable_conv2d(x, dw, pw, m(db))),
        ("separable_conv2d", "pw_bias", lambda: ops.separable_conv2d(x, dw, pw, None, m(pb))),
    ]
    for name in lstm:
        cases.append(("lstm_cell", name, lambda name=name: ops.lstm_cell(
            torch.randn(2, 6), **{**lstm, name: m(lstm[name])})))
        cases.append(("lstm", name, lambda name=name: ops.lstm(
            torch.randn(4, 2, 6), **{**lstm, name: m(lstm[name])})))
    return [pytest.param(name, call, id=f"{op}-{name}") for op, name, call in cases]


@pytest.mark.parametrize("name, call", _meta_cases())
def test_meta_operand_beside_a_cpu_input_is_refused(name, call):
    with pytest.raises(RuntimeError, match=rf"\b{name}\b") as info:
        call()
    assert "cpu" in str(info.value) and "meta" in str(info.value), str(info.value)
