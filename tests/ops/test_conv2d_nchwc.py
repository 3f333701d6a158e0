"""pybench.ops.conv2d_nchwc (the blocked-layout convolution) against float64 PyTorch.

Every case runs under every CPU ISA the machine has and for both blocks (8: the AVX2 kernel,
16: the AVX-512 one; a block the ISA has no kernel for runs the reference kernel), with
channel counts that are and are not multiples of the block, odd sizes, strides, padding
(symmetric, asymmetric, "same"), dilation, NCHW first-layer inputs, a row wider than the
kernel's chunk, every activation with and without a residual. The padded channels of the
output must be exact zeros. Accuracy: conftest.assert_matches_reference at 1e-5.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

import pybench.ops as ops
from conftest import assert_matches_reference

RTOL = 1e-5
BLOCKS = (8, 16)


@dataclasses.dataclass(frozen=True)
class Case:
    n: int
    c: int
    h: int
    w: int
    k: int
    kh: int
    kw: int
    stride: int | tuple = 1
    padding: int | tuple | str = 0
    dilation: int | tuple = 1
    blocked_input: bool = True

    def __str__(self):
        return (f"{self.n}x{self.c}x{self.h}x{self.w}-k{self.k}x{self.kh}x{self.kw}-s{self.stride}"
                f"-p{self.padding}-d{self.dilation}-{'blk' if self.blocked_input else 'nchw'}")


CASES = [
    Case(1, 3, 17, 19, 13, 3, 3, 2, 1, blocked_input=False),   # a first layer, NCHW in
    Case(2, 3, 9, 8, 16, 7, 7, 2, 3, blocked_input=False),     # ResNet's stem, small
    Case(1, 16, 9, 11, 32, 3, 3, 1, 1),
    Case(2, 13, 7, 10, 20, 3, 3, 2, (1, 2)),                   # channels off the block
    Case(1, 24, 8, 8, 40, 1, 1),                               # 1x1: one line
    Case(1, 40, 9, 7, 8, 1, 1, 2),                             # 1x1 stride 2
    Case(3, 8, 12, 5, 72, 5, 5, 1, 2),
    Case(1, 20, 11, 13, 17, 3, 3, 1, 2, 2),                    # dilation 2
    Case(1, 64, 7, 7, 96, 3, 3, 1, 1),                         # several tile groups
    Case(1, 9, 6, 7, 11, 2, 4, 1, "same"),                     # asymmetric padding
    Case(1, 8, 3, 300, 16, 3, 3, 1, 1),                        # rows wider than a chunk
    Case(2, 17, 5, 4, 5, 3, 2, (2, 1), (0, 1), (1, 2)),        # mixed strides / dilations
    Case(1, 32, 2, 2, 24, 3, 3, 1, 1),                         # every pixel a border pixel
    # Full register tiles (4 output blocks x 3 / 6 pixels of a blocked input: the ISA's
    # assembly), as a 3x3 with several input groups and as a 1x1 line.
    Case(1, 40, 9, 14, 64, 3, 3, 1, 1),
    Case(2, 48, 6, 7, 80, 1, 1),
]

SCALE_OF_ACTIVATION = {"none": 1.0, "relu": 1.0, "relu6": 1.0, "hardswish": 1.5, "sigmoid": 0.25}


def _reference(x, weight, bias, residual, case, activation):
    """act(conv(x) + bias + residual) in float64, and the scale its rounding error is
    bounded by: the convolution of the absolute operands times the activation's largest
    slope, plus |ref| for the activations computed in float (hardswish, sigmoid)."""
    kw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation)
    b64 = None if bias is None else bias.double()
    ref = F.conv2d(x.double(), weight.double(), b64, **kw)
    scale = F.conv2d(x.double().abs(), weight.double().abs(),
                     None if bias is None else b64.abs(), **kw)
    if residual is not None:
        ref = ref + residual.double()
        scale = scale + residual.double().abs()
    act = {"none": lambda t: t, "relu": F.relu, "relu6": F.relu6, "hardswish": F.hardswish,
           "sigmoid": torch.sigmoid}[activation]
    ref = act(ref)
    scale = scale * SCALE_OF_ACTIVATION[activation]
    if activation in ("hardswish", "sigmoid"):
        scale = scale + ref.abs()
    return ref, scale


def _run(case: Case, block: int, activation: str, with_residual: bool, with_bias: bool = True,
         seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(case.n, case.c, case.h, case.w, generator=g)
    weight = torch.randn(case.k, case.c, case.kh, case.kw, generator=g)
    bias = torch.randn(case.k, generator=g) if with_bias else None
    kw = dict(stride=case.stride, padding=case.padding, dilation=case.dilation)
    out_shape = F.conv2d(x, weight, None, **kw).shape
    residual = torch.randn(out_shape, generator=g) if with_residual else None
    packed = ops.pack_conv2d_nchwc(weight, block, blocked_input=case.blocked_input)
    xin = ops.to_nchwc(x, block) if case.blocked_input else x
    out = ops.conv2d_nchwc(xin, packed, ops.pad_bias_nchwc(bias, case.k, block),
                           None if residual is None else ops.to_nchwc(residual, block),
                           case.k, activation=activation, **kw)
    assert out.shape == (case.n, -(-case.k // block), *out_shape[2:], block)
    pad = out[:, -1, :, :, case.k - (out.shape[1] - 1) * block:]
    assert torch.equal(pad, torch.zeros_like(pad)), "padded output channels are not zero"
    ref, scale = _reference(x, weight, bias, residual, case, activation)
    assert_matches_reference(ops.from_nchwc(out, case.k), ref, scale, RTOL)


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_matches_float64(cpu_isa, case, block):
    _run(case, block, "none", with_residual=False)


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("with_residual", [False, True], ids=["plain", "residual"])
@pytest.mark.parametrize("activation", ops.NCHWC_ACTIVATIONS)
@pytest.mark.parametrize("case", [CASES[3], CASES[4], CASES[0]], ids=str)
def test_epilogues(cpu_isa, case, activation, with_residual, block):
    _run(case, block, activation, with_residual, seed=1)


@pytest.mark.parametrize("block", BLOCKS)
def test_without_bias(cpu_isa, block):
    _run(CASES[8], block, "relu", with_residual=True, with_bias=False, seed=2)


@pytest.mark.parametrize("block", BLOCKS)
def test_out_variant_writes_its_blocks_of_a_concat(cpu_isa, block):
    """Two branches writing their channel blocks of one buffer give torch.cat of the two
    convolutions; the blocks around them are left as they were."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 12, 9, 9, generator=g)
    w1, w2 = torch.randn(block, 12, 3, 3, generator=g), torch.randn(2 * block, 12, 1, 1, generator=g)
    xb = ops.to_nchwc(x, block)
    out = torch.full((2, 5, 9, 9, block), 7.0)
    ops.conv2d_nchwc_out(xb, ops.pack_conv2d_nchwc(w1, block), out, 1, padding=1,
                         activation="relu")
    ops.conv2d_nchwc_out(xb, ops.pack_conv2d_nchwc(w2, block), out, 2)
    ref = torch.cat([F.relu(F.conv2d(x.double(), w1.double(), padding=1)),
                     F.conv2d(x.double(), w2.double())], 1)
    scale = torch.cat([F.conv2d(x.double().abs(), w1.double().abs(), padding=1),
                       F.conv2d(x.double().abs(), w2.double().abs())], 1)
    got = ops.from_nchwc(out[:, 1:4].contiguous(), 3 * block)
    assert_matches_reference(got, ref, scale, RTOL)
    assert (out[:, 0] == 7).all() and (out[:, 4] == 7).all()


def test_nan_propagates_through_relu(cpu_isa):
    """PyTorch's relu keeps NaN; so does the epilogue (max's operand order)."""
    x = torch.randn(1, 8, 5, 5)
    x[0, 3, 2, 2] = float("nan")
    w = torch.randn(8, 8, 1, 1)
    out = ops.from_nchwc(ops.conv2d_nchwc(ops.to_nchwc(x, 8), ops.pack_conv2d_nchwc(w, 8),
                                          activation="relu"), 8)
    ref = F.relu(F.conv2d(x, w))
    assert torch.equal(torch.isnan(out), torch.isnan(ref)) and torch.isnan(ref).any()


def test_opcheck():
    x = ops.to_nchwc(torch.randn(2, 12, 6, 7), 8)
    w = ops.pack_conv2d_nchwc(torch.randn(10, 12, 3, 3), 8)
    b = ops.pad_bias_nchwc(torch.randn(10), 10, 8)
    res = torch.randn(2, 2, 6, 7, 8)
    for activation in ("relu6", "none"):  # "none", the schema's default, too: see below
        torch.library.opcheck(torch.ops.pybench.conv2d_nchwc,
                              (x, w, b, res, 10, [1, 1], [1, 1, 1, 1], [1, 1], activation))
    out = torch.zeros(2, 4, 6, 7, 8)
    torch.library.opcheck(torch.ops.pybench.conv2d_nchwc_out,
                          (x, w, b, None, 10, [1, 1], [1, 1, 1, 1], [1, 1], "none", out, 1))


def test_fake_kernel_takes_the_default_activation():
    # The dispatcher drops an argument equal to the schema's default before it calls a
    # Python kernel: activation="none" reaches the fake kernel as no argument at all.
    x = torch.empty(1, 2, 5, 5, 16, device="meta")
    w = torch.empty(1, 2, 3, 3, 16, 16, device="meta")
    out = torch.ops.pybench.conv2d_nchwc(x, w, None, None, 16, [1, 1], [1, 1, 1, 1], [1, 1],
                                         "none")
    assert out.shape == (1, 1, 5, 5, 16)


def _bad(**changes):
    args = dict(input=ops.to_nchwc(torch.randn(1, 12, 6, 6), 8),
                weight=ops.pack_conv2d_nchwc(torch.randn(10, 12, 3, 3), 8), padding=1)
    args.update(changes)
    return args


@pytest.mark.parametrize("changes, error, match", [
    (dict(input=torch.randn(1, 2, 6, 6, 8, dtype=torch.float64)), TypeError, "float32 input"),
    (dict(input=torch.randn(1, 2, 6, 6, 8, device="meta")), ValueError, "CPU layout"),
    (dict(weight=torch.randn(10, 12, 3, 3)), ValueError, "packed weight"),
    (dict(input=torch.randn(1, 2, 6, 6, 16)), ValueError, "does not match the packed weight"),
    (dict(input=torch.randn(1, 3, 6, 6, 8)), ValueError, "does not match the packed weight"),
    (dict(input=torch.randn(1, 12, 6, 6)), ValueError, "packed for an NCHW input"),
    (dict(residual=torch.randn(1, 2, 5, 6, 8)), ValueError, "expected residual"),
    (dict(activation="gelu"), ValueError, "unknown activation"),
    (dict(out_channels=17), ValueError, "does not fill"),
    (dict(bias=torch.randn(10)), ValueError, "padded to whole blocks"),
    (dict(stride=0), ValueError, "non-positive stride"),
    (dict(input=ops.to_nchwc(torch.randn(1, 12, 2, 2), 8), padding=0), ValueError,
     "Kernel size can't be greater"),
])
def test_bad_input_raises(changes, error, match):
    with pytest.raises(error, match=match):
        ops.conv2d_nchwc(**_bad(**changes))


def test_out_variant_rejects_bad_out():
    args = _bad()
    x, w = args["input"], args["weight"]
    with pytest.raises(ValueError, match="do not fit"):
        ops.conv2d_nchwc_out(x, w, torch.zeros(1, 2, 6, 6, 8), 1, padding=1)
    with pytest.raises(ValueError, match="not contiguous"):
        ops.conv2d_nchwc_out(x, w, torch.zeros(1, 6, 6, 4, 8).transpose(2, 3), 0, padding=1)
    with pytest.raises(ValueError, match="share memory"):
        ops.conv2d_nchwc_out(x, w, x, 0, padding=1)
