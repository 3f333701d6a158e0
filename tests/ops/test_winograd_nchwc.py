"""pybench.ops.conv2d_winograd_nchwc (Winograd F(4x4, 3x3) on the blocked layout) against
float64 PyTorch.

Every case runs under every CPU ISA the machine has and for both blocks, with channel counts
that are and are not multiples of the block, output sizes that are and are not multiples of
the 4x4 tile (a partial tile on each edge), batch 1 and more, padding 0, 1, 2 and asymmetric
("same" is symmetric for 3x3: asymmetric comes as a 4-tuple through the op), tile blocks
split over images, and every activation with and without a residual. Padded output channels
must be exact zeros.

Accuracy: Winograd's transforms amplify float32 rounding (constants up to 8 in A^T, 5 in
B^T), so its bound is ops.WINOGRAD_RTOL = 1e-5 of the error scale sum |x| |w| (the direct
kernel's tests hold 1e-5 too, but its errors measure ~1e-7); measured here: at most 2.4e-6
over these cases and VGG / ResNet layer shapes.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

import pybench.ops as ops
from conftest import assert_matches_reference

BLOCKS = (8, 16)
SCALE_OF_ACTIVATION = {"none": 1.0, "relu": 1.0, "relu6": 1.0, "hardswish": 1.5, "sigmoid": 0.25}


@dataclasses.dataclass(frozen=True)
class Case:
    n: int
    c: int
    h: int
    w: int
    k: int
    padding: int | tuple = 1

    def __str__(self):
        return f"{self.n}x{self.c}x{self.h}x{self.w}-k{self.k}-p{self.padding}"


CASES = [
    Case(1, 16, 8, 8, 16),            # whole tiles, whole blocks
    Case(2, 19, 13, 11, 37),          # partial tiles on both edges, channels off the block
    Case(1, 5, 7, 9, 9, 0),           # no padding
    Case(3, 33, 4, 5, 17, 2),         # padding 2: more than the kernel's reach
    Case(1, 3, 3, 3, 5),              # one partial tile
    Case(1, 64, 20, 20, 72),          # several output block groups, full register tiles
    Case(4, 24, 6, 6, 40),            # tiles from several images in one block
    Case(1, 8, 1, 30, 8),             # one row
]


def _run(case: Case, block: int, activation: str, with_residual: bool, with_bias: bool = True,
         seed: int = 0, padding=None):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(case.n, case.c, case.h, case.w, generator=g)
    weight = torch.randn(case.k, case.c, 3, 3, generator=g)
    bias = torch.randn(case.k, generator=g) if with_bias else None
    padding = case.padding if padding is None else padding
    pads = padding if isinstance(padding, tuple) and len(padding) == 4 else ops.conv2d_padding(padding, 3)
    xp = F.pad(x.double(), (pads[2], pads[3], pads[0], pads[1]))
    ref = F.conv2d(xp, weight.double(), None if bias is None else bias.double())
    scale = F.conv2d(xp.abs(), weight.double().abs(), None if bias is None else bias.double().abs())
    residual = torch.randn(ref.shape, generator=g) if with_residual else None
    if residual is not None:
        ref, scale = ref + residual.double(), scale + residual.double().abs()
    ref = {"none": lambda t: t, "relu": F.relu, "relu6": F.relu6, "hardswish": F.hardswish,
           "sigmoid": torch.sigmoid}[activation](ref)
    scale = scale * SCALE_OF_ACTIVATION[activation]
    if activation in ("hardswish", "sigmoid"):
        scale = scale + ref.abs()
    out = ops.conv2d_winograd_nchwc(
        ops.to_nchwc(x, block), ops.pack_conv2d_winograd_nchwc(weight, block),
        ops.pad_bias_nchwc(bias, case.k, block),
        None if residual is None else ops.to_nchwc(residual, block), case.k, padding, activation)
    assert out.shape == (case.n, -(-case.k // block), *ref.shape[2:], block)
    pad = out[:, -1, :, :, case.k - (out.shape[1] - 1) * block:]
    assert torch.equal(pad, torch.zeros_like(pad)), "padded output channels are not zero"
    assert_matches_reference(ops.from_nchwc(out, case.k), ref, scale, ops.WINOGRAD_RTOL)


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_matches_float64(cpu_isa, case, block):
    _run(case, block, "none", with_residual=False)


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("with_residual", [False, True], ids=["plain", "residual"])
@pytest.mark.parametrize("activation", ops.NCHWC_ACTIVATIONS)
def test_epilogues(cpu_isa, activation, with_residual, block):
    _run(CASES[1], block, activation, with_residual, seed=1)


@pytest.mark.parametrize("block", BLOCKS)
def test_asymmetric_padding_and_no_bias(cpu_isa, block):
    _run(Case(2, 12, 9, 10, 20), block, "relu", with_residual=True, with_bias=False, seed=2,
         padding=(0, 2, 1, 0))


def test_large_layer_within_the_bound(cpu_isa):
    """A VGG-like layer: 256 input channels sum 2304 products per output, where the
    transforms' rounding grows with the channel count."""
    _run(Case(1, 256, 14, 14, 64), ops.block_size(), "relu", with_residual=False, seed=4)


def test_matches_the_direct_kernel_in_a_model_layer():
    """Winograd and the direct kernel agree on what the converted model's layer computes."""
    block = ops.block_size()
    x = ops.to_nchwc(torch.randn(2, 40, 15, 15), block)
    w = torch.randn(48, 40, 3, 3)
    direct = ops.conv2d_nchwc(x, ops.pack_conv2d_nchwc(w, block), None, None, 48, 1, 1)
    wino = ops.conv2d_winograd_nchwc(x, ops.pack_conv2d_winograd_nchwc(w, block), None, None,
                                     48, 1)
    assert (wino - direct).abs().max() <= 1e-5 * (direct.abs().max() + 1) * 40 * 9


@pytest.mark.parametrize("block", BLOCKS)
def test_out_variant_writes_its_blocks_of_a_concat(cpu_isa, block):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 12, 9, 9, generator=g)
    w = torch.randn(2 * block - 3, 12, 3, 3, generator=g)
    out = torch.full((2, 4, 9, 9, block), 7.0)
    ops.conv2d_winograd_nchwc_out(ops.to_nchwc(x, block), ops.pack_conv2d_winograd_nchwc(w, block),
                                  out, 1, out_channels=2 * block - 3, activation="relu")
    ref = F.relu(F.conv2d(x.double(), w.double(), padding=1))
    scale = F.conv2d(x.double().abs(), w.double().abs(), padding=1)
    got = ops.from_nchwc(out[:, 1:3].contiguous(), 2 * block - 3)
    assert_matches_reference(got, ref, scale, ops.WINOGRAD_RTOL)
    assert (out[:, 0] == 7).all() and (out[:, 3] == 7).all()


def test_pack_is_the_filter_transform():
    """U = G g G^T: the transform of a 3x3 delta at (1, 1) is G[:, 1] G[:, 1]^T."""
    w = torch.zeros(1, 1, 3, 3)
    w[0, 0, 1, 1] = 1.0
    u = ops.pack_conv2d_winograd_nchwc(w, 8)
    assert u.shape == (36, 1, 1, 8, 8)
    g1 = torch.tensor([0, -1 / 6, 1 / 6, 1 / 12, -1 / 12, 0], dtype=torch.float64)
    want = torch.outer(g1, g1).reshape(36).float()
    assert torch.allclose(u[:, 0, 0, 0, 0], want) and u[:, 0, 0, 1:].abs().sum() == 0


def test_opcheck():
    x = ops.to_nchwc(torch.randn(2, 12, 6, 7), 8)
    w = ops.pack_conv2d_winograd_nchwc(torch.randn(10, 12, 3, 3), 8)
    b = ops.pad_bias_nchwc(torch.randn(10), 10, 8)
    res = torch.randn(2, 2, 6, 7, 8)
    for activation in ("hardswish", "none"):
        torch.library.opcheck(torch.ops.pybench.conv2d_nchwc_winograd,
                              (x, w, b, res, 10, [1, 1, 1, 1], activation))
    out = torch.zeros(2, 4, 6, 7, 8)
    torch.library.opcheck(torch.ops.pybench.conv2d_nchwc_winograd_out,
                          (x, w, b, None, 10, [1, 1, 1, 1], "none", out, 1))


def _bad(**changes):
    args = dict(input=ops.to_nchwc(torch.randn(1, 12, 6, 6), 8),
                weight=ops.pack_conv2d_winograd_nchwc(torch.randn(10, 12, 3, 3), 8), padding=1)
    args.update(changes)
    return args


@pytest.mark.parametrize("changes, error, match", [
    (dict(input=torch.randn(1, 2, 6, 6, 8, dtype=torch.float64)), TypeError, "float32 input"),
    (dict(input=torch.randn(1, 2, 6, 6, 8, device="meta")), ValueError, "CPU layout"),
    (dict(weight=ops.pack_conv2d_nchwc(torch.randn(10, 12, 3, 3), 8)), ValueError,
     "packed Winograd weight"),
    (dict(input=torch.randn(1, 2, 6, 6, 16)), ValueError, "does not match the packed weight"),
    (dict(input=torch.randn(1, 3, 6, 6, 8)), ValueError, "does not match the packed weight"),
    (dict(input=torch.randn(1, 12, 6, 6)), ValueError, "blocked layout"),
    (dict(residual=torch.randn(1, 2, 5, 6, 8)), ValueError, "expected residual"),
    (dict(activation="gelu"), ValueError, "unknown activation"),
    (dict(out_channels=17), ValueError, "does not fill"),
    (dict(bias=torch.randn(10)), ValueError, "padded to whole blocks"),
    (dict(padding=-1), ValueError, "negative padding"),
    (dict(input=ops.to_nchwc(torch.randn(1, 12, 2, 2), 8), padding=0), ValueError,
     "Kernel size can't be greater"),
])
def test_bad_input_raises(changes, error, match):
    with pytest.raises(error, match=match):
        ops.conv2d_winograd_nchwc(**_bad(**changes))


@pytest.mark.parametrize("weight, match", [
    (torch.randn(4, 4, 5, 5), r"\(K, C, 3, 3\)"),
    (torch.randn(4, 4, 3), r"\(K, C, 3, 3\)"),
])
def test_pack_rejects_other_kernels(weight, match):
    with pytest.raises(ValueError, match=match):
        ops.pack_conv2d_winograd_nchwc(weight, 8)


def test_unsupported_reasons():
    assert ops.winograd_unsupported_reason((3, 3), (1, 1), (1, 1)) is None
    assert "stride" in ops.winograd_unsupported_reason((3, 3), (2, 2), (1, 1))
    assert "dilation" in ops.winograd_unsupported_reason((3, 3), (1, 1), (2, 2))
    assert "not 3x3" in ops.winograd_unsupported_reason((1, 1), (1, 1), (1, 1))
    assert "groups" in ops.winograd_unsupported_reason((3, 3), (1, 1), (1, 1), groups=4)
