"""pybench.ops.conv2d against F.conv2d in float64, on every CPU ISA and (where present) CUDA.

Accuracy is checked two ways, both at RTOL = 1e-5:
- norm-wise: ||out - ref||_F / ||ref||_F, the issue's "relative error";
- element-wise: |out - ref| <= RTOL * (|x| * |w| + |b|), the absolute convolution being the
  scale a float32 dot product's rounding error is proportional to. It stays meaningful
  where ref cancels to near zero, and a single wrong output element (a missed tap at a
  border, a tail lane left unwritten) is not diluted by the many right ones, as it is in
  the norm.
Inputs are standard normal, never zeros, so a kernel that skips work cannot pass by luck.
"""
from __future__ import annotations

import dataclasses
import random
import warnings
import zlib

import pytest
import torch
import torch.nn.functional as F

import pybench.ops as ops
from conftest import (assert_matches_reference, assert_stacking_changes_no_bit,
                      available_cpu_isas, cache_override, device_params, scoped_hook)

RTOL = 1e-5


@dataclasses.dataclass(frozen=True)
class Case:
    """One F.conv2d call: input (n, c, h, w) (n None: unbatched), weight (k, c/groups, kh, kw)."""

    name: str
    n: int | None
    c: int
    h: int
    w: int
    k: int
    kh: int
    kw: int
    stride: int | tuple = 1
    padding: int | tuple | str = 0
    dilation: int | tuple = 1
    groups: int = 1
    bias: bool = True

    def input_shape(self):
        return (self.c, self.h, self.w) if self.n is None else (self.n, self.c, self.h, self.w)

    def weight_shape(self):
        return (self.k, self.c // self.groups, self.kh, self.kw)

    def kwargs(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.groups)

    def flops(self):
        pads = ops.conv2d_padding(self.padding, (self.kh, self.kw), self.stride, self.dilation)
        sh, sw = ops._pair(self.stride, "stride")
        dh, dw = ops._pair(self.dilation, "dilation")
        oh = (self.h + pads[0] + pads[1] - dh * (self.kh - 1) - 1) // sh + 1
        ow = (self.w + pads[2] + pads[3] - dw * (self.kw - 1) - 1) // sw + 1
        return 2 * (self.n or 1) * self.k * oh * ow * (self.c // self.groups) * self.kh * self.kw


def _fmt(v):
    return "x".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v)


def describe(c: Case) -> str:
    s = (f"{'u' if c.n is None else c.n}x{c.c}x{c.h}x{c.w}-k{c.k}x{c.kh}x{c.kw}"
         f"-s{_fmt(c.stride)}-p{_fmt(c.padding)}-d{_fmt(c.dilation)}-g{c.groups}")
    return s + ("-b" if c.bias else "")


def _case(name, n, c, h, w, k, kh, kw, **kw_args):
    return Case(name, n, c, h, w, k, kh, kw, **kw_args)


# Named cases: every item of the issue's list on purpose, plus the kernels' own
# boundaries (1x1 in-place path, phase planes for strides, register-tile tails over
# output channels and positions, row chunks of the per-thread slab).
NAMED = [
    # kernel sizes
    _case("1x1", 2, 17, 9, 11, 33, 1, 1),
    _case("1x1-in-place-c64", 1, 64, 14, 14, 65, 1, 1, bias=False),
    _case("1x1-stride2", 1, 32, 15, 15, 16, 1, 1, stride=2),
    _case("1x1-pad1", 3, 5, 6, 7, 7, 1, 1, padding=1),
    _case("3x3", 1, 16, 13, 11, 16, 3, 3, padding=1),
    _case("5x5", 2, 3, 12, 12, 17, 5, 5, padding=2),
    _case("7x7-stem", 1, 3, 23, 23, 31, 7, 7, stride=2, padding=3),
    _case("11x11-alexnet", 1, 3, 39, 39, 16, 11, 11, stride=4, padding=2),
    _case("11x11-alexnet-valid", 2, 3, 31, 31, 8, 11, 11, stride=4),
    _case("1x7", 1, 16, 9, 17, 17, 1, 7, padding=(0, 3)),
    _case("7x1", 2, 16, 17, 9, 17, 7, 1, padding=(3, 0)),
    _case("1x7-same", 1, 12, 8, 10, 6, 1, 7, padding="same"),
    # strides
    _case("stride2", 2, 8, 16, 16, 12, 3, 3, stride=2, padding=1),
    _case("stride3", 1, 5, 16, 17, 6, 3, 3, stride=3),
    _case("stride3-pad2", 1, 4, 20, 14, 7, 5, 5, stride=3, padding=2),
    _case("stride1x2", 1, 6, 11, 20, 9, 3, 3, stride=(1, 2), padding=1),
    _case("stride2x1", 2, 6, 20, 11, 9, 3, 3, stride=(2, 1), padding=1),
    _case("stride3x2-5x3", 1, 7, 19, 17, 5, 5, 3, stride=(3, 2), padding=(2, 1)),
    # padding forms
    _case("pad-pair", 1, 8, 10, 12, 8, 3, 5, padding=(1, 2)),
    _case("pad-pair-wide", 1, 3, 7, 7, 5, 3, 3, padding=(3, 0)),
    _case("pad-list", 1, 3, 7, 8, 5, 3, 3, padding=[2, 1]),
    _case("valid", 2, 9, 10, 10, 10, 3, 3, padding="valid"),
    _case("valid-stride2", 1, 9, 11, 10, 10, 3, 3, stride=2, padding="valid"),
    _case("same-3x3", 2, 8, 9, 13, 8, 3, 3, padding="same"),
    _case("same-2x2", 1, 5, 8, 9, 7, 2, 2, padding="same"),
    _case("same-4x4", 1, 5, 9, 8, 7, 4, 4, padding="same"),
    _case("same-2x5", 1, 5, 9, 8, 7, 2, 5, padding="same"),
    _case("same-3x3-dil2", 1, 6, 12, 12, 6, 3, 3, padding="same", dilation=2),
    _case("same-2x2-dil3", 1, 6, 12, 11, 6, 2, 2, padding="same", dilation=3),
    _case("same-4x2-dil2x3", 1, 3, 13, 12, 5, 4, 2, padding="same", dilation=(2, 3)),
    _case("same-1x1", 1, 7, 5, 6, 9, 1, 1, padding="same"),
    _case("same-stride-tuple", 1, 7, 5, 6, 9, 3, 3, padding="same", stride=(1, 1)),
    _case("same-kernel-larger-than-input", 1, 4, 3, 3, 5, 5, 5, padding="same"),
    # dilation
    _case("dil2", 1, 8, 14, 15, 8, 3, 3, dilation=2, padding=2),
    _case("dil3", 2, 5, 15, 13, 6, 3, 3, dilation=3),
    _case("dil1x3", 1, 5, 12, 16, 7, 3, 3, dilation=(1, 3), padding=(1, 3)),
    _case("dil2-stride2", 1, 6, 17, 17, 7, 3, 3, dilation=2, stride=2, padding=1),
    _case("dil3-stride2-5x5", 1, 3, 25, 21, 4, 5, 5, dilation=3, stride=2, padding=3),
    _case("dil2-stride3", 1, 4, 20, 20, 5, 3, 3, dilation=2, stride=3),
    # groups
    _case("groups2", 2, 8, 10, 10, 12, 3, 3, groups=2, padding=1),
    _case("groups3", 1, 9, 10, 11, 6, 3, 3, groups=3, padding=1),
    _case("groups3-odd", 1, 15, 9, 9, 21, 3, 3, groups=3, stride=2),
    _case("groups4-k-per-group-1", 1, 8, 8, 8, 4, 3, 3, groups=4, padding=1),
    _case("depthwise", 1, 32, 14, 14, 32, 3, 3, groups=32, padding=1),
    _case("depthwise-stride2", 2, 17, 15, 15, 17, 3, 3, groups=17, stride=2, padding=1),
    _case("depthwise-5x5", 1, 16, 12, 12, 16, 5, 5, groups=16, padding=2),
    _case("depthwise-mult2", 1, 17, 9, 10, 34, 3, 3, groups=17, padding=1),
    _case("depthwise-mult3", 1, 5, 9, 10, 15, 3, 3, groups=5, dilation=2, padding=2),
    _case("depthwise-c1", 3, 1, 9, 9, 1, 3, 3, groups=1, padding=1),
    # bias off, batches
    _case("no-bias", 1, 16, 8, 8, 16, 3, 3, padding=1, bias=False),
    _case("no-bias-batch3", 3, 5, 7, 9, 11, 3, 3, bias=False),
    _case("batch3", 3, 3, 11, 7, 5, 3, 3, padding=1),
    # odd spatial sizes, 1xN, width 1, input exactly as small as the (padded) kernel
    _case("h1-1xN", 2, 4, 1, 37, 5, 1, 3),
    _case("h1-3x3-pad1", 1, 4, 1, 33, 5, 3, 3, padding=1),
    _case("w1-Nx1", 2, 4, 29, 1, 5, 3, 1),
    _case("w1-3x3-pad1", 1, 4, 21, 1, 5, 3, 3, padding=1),
    _case("1x1-image-1x1", 2, 17, 1, 1, 19, 1, 1),
    _case("1x1-image-3x3-pad1", 1, 17, 1, 1, 19, 3, 3, padding=1),
    _case("exact-3x3", 2, 5, 3, 3, 7, 3, 3),
    _case("exact-7x7", 1, 3, 7, 7, 8, 7, 7),
    _case("exact-11x11-stride4", 1, 3, 11, 11, 8, 11, 11, stride=4),
    _case("exact-dilated", 1, 4, 7, 5, 6, 3, 3, dilation=(3, 2)),
    _case("exact-padded", 1, 4, 3, 3, 6, 5, 5, padding=1),
    _case("exact-1x7", 1, 4, 1, 7, 6, 1, 7),
    _case("odd-spatial", 1, 3, 13, 7, 5, 3, 3, padding=1),
    # unbatched
    _case("unbatched", None, 5, 9, 11, 7, 3, 3, padding=1),
    _case("unbatched-groups-same", None, 6, 8, 9, 9, 2, 3, groups=3, padding="same"),
    # per-thread slab split into row chunks (384 KiB of phase planes)
    _case("row-chunks", 1, 256, 30, 30, 8, 3, 3, padding=1),
    _case("row-chunks-stride2", 1, 128, 61, 61, 6, 3, 3, stride=2, padding=1),
    _case("row-chunks-dil2-groups2", 2, 128, 24, 40, 10, 3, 3, dilation=2, groups=2, padding=2),
    # small images stacked in one item's planes (several images per tile), the last block
    # of images shorter; shared padding rows between images, phases, groups
    _case("stack-1x1-stride2", 5, 40, 13, 13, 33, 1, 1, stride=2),
    _case("stack-3x3-5x5-b8", 8, 64, 5, 5, 70, 3, 3, padding=1),
    _case("stack-1x1-stride2-odd", 3, 20, 13, 13, 9, 1, 1, stride=2),
    _case("stack-3x3-5x5-pad1", 4, 24, 5, 5, 13, 3, 3, padding=1),
    _case("stack-3x3-stride2", 5, 16, 6, 6, 10, 3, 3, stride=2, padding=1),
    _case("stack-pad-rows-only", 3, 8, 3, 4, 7, 3, 3, padding=(2, 0)),
    _case("stack-groups2", 4, 16, 9, 9, 12, 1, 1, groups=2, stride=2),
    # a few realistic layers at full size (the float64 reference bounds how many)
    _case("resnet18-layer1-conv", 1, 64, 56, 56, 64, 3, 3, padding=1, bias=False),
    _case("resnet18-stem", 1, 3, 224, 224, 64, 7, 7, stride=2, padding=3, bias=False),
    _case("inception-1x7", 1, 128, 17, 17, 128, 1, 7, padding=(0, 3)),
]

# Channel counts below, at and above vector widths and register-tile heights, on both
# sides of the reduction (C) and of the tile rows (K).
for _c in (1, 3, 5, 15, 16, 17, 31, 32, 33, 63, 65):
    NAMED.append(_case(f"channels-c{_c}", 1, _c, 7, 9, 5, 3, 3, padding=1))
for _k in (1, 2, 3, 5, 7, 13, 15, 16, 17, 31, 32, 33, 63, 65):
    NAMED.append(_case(f"channels-k{_k}", 1, 3, 7, 9, _k, 3, 3, padding=1))
# Output positions per image around 8 / 16 lanes and 24 / 64-position tiles; with a
# 1x1 kernel there are no garbage columns, with 1x3 there are.
for _w in (7, 8, 9, 15, 16, 17, 23, 24, 25, 47, 48, 49, 63, 64, 65, 97):
    NAMED.append(_case(f"positions-1x1-w{_w}", 1, 3, 1, _w, 7, 1, 1))
    NAMED.append(_case(f"positions-1x3-w{_w}", 1, 3, 2, _w + 2, 7, 1, 3))


def random_cases(count: int, seed: int, max_flops: float = 4e6) -> list[Case]:
    """Seeded random configurations over the whole parameter space, each a few MFLOP."""
    rng = random.Random(seed)
    kernels = [(1, 1), (2, 2), (3, 3), (5, 5), (7, 7), (1, 7), (7, 1), (1, 3), (3, 1), (2, 3)]
    channels = (1, 3, 5, 15, 16, 17, 31, 32, 33)
    out = []
    while len(out) < count:
        mode = rng.choice(("1", "1", "2", "3", "dw", "dw-mult"))
        if mode == "1":
            groups, c, k = 1, rng.choice(channels), rng.choice(channels)
        elif mode in ("2", "3"):
            groups = int(mode)
            c, k = groups * rng.randint(1, 11), groups * rng.randint(1, 9)
        else:
            c = rng.choice((3, 5, 16, 17, 33))
            groups, k = c, c * (1 if mode == "dw" else rng.randint(2, 3))
        kh, kw = rng.choice(kernels)
        stride = rng.choice((1, 1, 2, 3, (1, 2), (2, 1)))
        dilation = rng.choice((1, 1, 1, 2, 3, (1, 2), (2, 1)))
        form = rng.choice(("int", "pair", "valid", "same"))
        if form == "same" and stride != 1:
            form = "int"
        padding = {"int": rng.randint(0, 3), "pair": (rng.randint(0, 3), rng.randint(0, 3)),
                   "valid": "valid", "same": "same"}[form]
        h = rng.choice((1, rng.randint(1, 8), rng.randint(5, 40)))
        w = rng.choice((1, rng.randint(1, 8), rng.randint(5, 40)))
        n = rng.choice((None, 1, 1, 2, 3))
        case = _case(f"random{len(out)}", n, c, h, w, k, kh, kw, stride=stride,
                     padding=padding, dilation=dilation, groups=groups,
                     bias=rng.random() < 0.7)
        pads = ops.conv2d_padding(padding, (kh, kw), stride, dilation)
        dh, dw = ops._pair(dilation, "dilation")
        if dh * (kh - 1) + 1 > h + pads[0] + pads[1] or dw * (kw - 1) + 1 > w + pads[2] + pads[3]:
            continue  # kernel larger than the padded input: an error case, tested below
        if case.flops() > max_flops:
            continue
        out.append(case)
    return out


CASES = NAMED + random_cases(60, seed=2026)


def _seed(case: Case) -> int:
    # crc32, not hash(): str hashes change from process to process.
    return zlib.crc32(describe(case).encode())


_OPERANDS: dict[str, tuple] = {}


def operands(case: Case):
    """(x, w, b, ref, scale) on the CPU: float32 operands, float64 reference and the
    element-wise error scale |x| * |w| + |b|. Cached: every ISA and device reuses them."""
    key = repr(case)  # not the case itself: a list padding is unhashable
    if key not in _OPERANDS:
        g = torch.Generator().manual_seed(_seed(case))
        x = torch.randn(case.input_shape(), generator=g)
        w = torch.randn(case.weight_shape(), generator=g)
        b = torch.randn(case.k, generator=g) if case.bias else None
        _OPERANDS[key] = (x, w, b, *reference_conv2d(x, w, b, **case.kwargs()))
    return _OPERANDS[key]


def reference_conv2d(x, w, b=None, **kwargs):
    """F.conv2d on the float64 upcast operands, and the same on their absolute values."""
    x64, w64 = x.detach().cpu().double(), w.detach().cpu().double()
    b64 = None if b is None else b.detach().cpu().double()
    with warnings.catch_warnings():  # "same" with an even kernel: a padded copy, as intended
        warnings.filterwarnings("ignore", "Using padding='same'")
        ref = F.conv2d(x64, w64, b64, **kwargs)
        scale = F.conv2d(x64.abs(), w64.abs(), None if b64 is None else b64.abs(), **kwargs)
    return ref, scale


def _run_case(case: Case, device: str):
    x, w, b, ref, scale = operands(case)
    x, w = x.to(device), w.to(device)
    b = None if b is None else b.to(device)
    x_before = x.clone()
    out = ops.conv2d(x, w, b, **case.kwargs())
    assert out.device == x.device
    assert torch.equal(x, x_before), "conv2d modified its input"
    assert_matches_reference(out, ref, scale)


@pytest.mark.parametrize("device", device_params())
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.name}[{describe(c)}]")
def test_conv2d_matches_float64(device, case, cpu_isa):
    if device == "cuda" and cpu_isa != available_cpu_isas()[0]:
        pytest.skip("the CPU ISA does not affect the CUDA kernel; run it once")
    _run_case(case, device)


def test_random_cases_cover_the_space():
    """Guards the sweep against a generator change that quietly narrows it."""
    rnd = CASES[len(NAMED):]
    assert {c.groups > 1 and c.groups == c.c for c in rnd} == {True, False}
    assert {c.padding for c in rnd} >= {"same", "valid"}
    assert any(isinstance(c.padding, tuple) for c in rnd)
    assert any(c.stride in (2, 3) for c in rnd) and any(isinstance(c.stride, tuple) for c in rnd)
    assert any(c.dilation != 1 for c in rnd) and any(c.n is None for c in rnd)
    assert {c.bias for c in rnd} == {True, False}


# Non-contiguous operands: the adapter must read them by their strides (or copy them),
# never by assuming a layout. Each builder maps a generator to (x, w, b) whose values are
# the logical operands; the reference sees the same values.
def _nc_channels_last(g):
    return (torch.randn(2, 16, 9, 11, generator=g).contiguous(memory_format=torch.channels_last),
            torch.randn(12, 16, 3, 3, generator=g), torch.randn(12, generator=g))


def _nc_channel_slice(g):
    return (torch.randn(2, 34, 9, 11, generator=g)[:, ::2],
            torch.randn(12, 17, 3, 3, generator=g), torch.randn(12, generator=g))


def _nc_spatial_slice(g):
    return (torch.randn(1, 5, 14, 16, generator=g)[..., 1:-2, 3:],
            torch.randn(7, 5, 3, 3, generator=g), None)


def _nc_batch_slice(g):
    return (torch.randn(6, 5, 8, 8, generator=g)[1::2],
            torch.randn(7, 5, 3, 3, generator=g), torch.randn(7, generator=g))


def _nc_expanded(g):  # stride 0 in batch and height
    return (torch.randn(1, 5, 1, 13, generator=g).expand(3, 5, 9, 13),
            torch.randn(7, 5, 3, 3, generator=g), torch.randn(7, generator=g))


def _nc_weight_transposed(g):
    return (torch.randn(1, 6, 10, 12, generator=g),
            torch.randn(9, 6, 5, 3, generator=g).transpose(2, 3),  # a (9, 6, 3, 5) view
            torch.randn(9, generator=g))


def _nc_weight_io_swapped(g):
    return (torch.randn(1, 6, 10, 12, generator=g),
            torch.randn(6, 9, 3, 3, generator=g).transpose(0, 1), torch.randn(9, generator=g))


def _nc_weight_channels_last(g):
    return (torch.randn(1, 6, 10, 12, generator=g),
            torch.randn(9, 6, 3, 3, generator=g).contiguous(memory_format=torch.channels_last),
            torch.randn(9, generator=g))


def _nc_bias_strided(g):
    return (torch.randn(1, 6, 10, 12, generator=g), torch.randn(9, 6, 3, 3, generator=g),
            torch.randn(18, generator=g)[::2])


def _nc_all_at_once(g):
    x = torch.randn(2, 12, 9, 9, generator=g).contiguous(memory_format=torch.channels_last)
    return (x[:, 2:8],
            torch.randn(9, 2, 3, 3, generator=g).transpose(2, 3), torch.randn(27, generator=g)[::3])


NON_CONTIGUOUS = [_nc_channels_last, _nc_channel_slice, _nc_spatial_slice, _nc_batch_slice,
                  _nc_expanded, _nc_weight_transposed, _nc_weight_io_swapped,
                  _nc_weight_channels_last, _nc_bias_strided, _nc_all_at_once]


@pytest.mark.parametrize("device", device_params())
@pytest.mark.parametrize("make", NON_CONTIGUOUS, ids=lambda f: f.__name__[4:])
def test_conv2d_non_contiguous(device, make, cpu_isa):
    if device == "cuda" and cpu_isa != available_cpu_isas()[0]:
        pytest.skip("the CPU ISA does not affect the CUDA kernel; run it once")
    x, w, b = make(torch.Generator().manual_seed(7))
    groups = x.shape[1] // w.shape[1]
    assert not (x.is_contiguous() and w.is_contiguous() and (b is None or b.is_contiguous()))
    kwargs = dict(stride=(1, 2), padding=1, groups=groups)
    ref, scale = reference_conv2d(x, w, b, **kwargs)
    to = lambda t: None if t is None else t.to(device)  # noqa: E731
    out = ops.conv2d(to(x), to(w), to(b), **kwargs)
    assert_matches_reference(out, ref, scale)
    # ... and the same as the contiguous copies give
    same = ops.conv2d(to(x.contiguous()), to(w.contiguous()),
                      to(None if b is None else b.contiguous()), **kwargs)
    torch.testing.assert_close(out, same, rtol=RTOL, atol=0)


@pytest.mark.parametrize("device", device_params())
@pytest.mark.parametrize(
    "case",
    [
        _case("padded", 1, 4, 12, 13, 5, 3, 3, padding=1),
        _case("strided-dilated", 2, 6, 17, 15, 7, 3, 3, stride=2, dilation=2, padding=2),
        _case("same-even", 1, 6, 11, 12, 4, 4, 2, padding="same", groups=2),
        _case("1x1", 1, 8, 9, 70, 7, 1, 1),
        _case("depthwise", 1, 8, 9, 20, 8, 5, 5, groups=8, padding=2),
    ],
    ids=lambda c: c.name,
)
def test_conv2d_nan_stays_in_its_windows(device, case, cpu_isa):
    """A NaN input element reaches exactly the outputs whose window covers it: no more
    (reads outside a window, e.g. garbage columns leaking into valid ones), no fewer."""
    if device == "cuda" and cpu_isa != available_cpu_isas()[0]:
        pytest.skip("the CPU ISA does not affect the CUDA kernel; run it once")
    g = torch.Generator().manual_seed(_seed(case))
    x = torch.randn(case.input_shape(), generator=g)
    w = torch.randn(case.weight_shape(), generator=g)
    hole = torch.zeros(x.shape, dtype=torch.bool)
    flat = hole.view(-1)
    flat[torch.randperm(flat.numel(), generator=g)[:3]] = True
    flat[-1] = True  # the very last element: the end of the last plane
    x[hole] = float("nan")
    expected = F.conv2d(hole.double(), torch.ones_like(w, dtype=torch.float64),
                        **case.kwargs()) > 0
    out = ops.conv2d(x.to(device), w.to(device), **case.kwargs()).cpu()
    assert expected.any() and not expected.all()
    assert torch.equal(out.isnan(), expected)


@pytest.mark.parametrize(
    "case",
    [
        # items < threads: output-channel chunks are what gets split
        _case("k-split", 1, 16, 10, 10, 64, 3, 3, padding=1),
        _case("k-split-groups", 1, 8, 10, 12, 40, 3, 3, padding=1, groups=2),
        # several row chunks per image
        _case("row-split", 2, 256, 30, 30, 8, 3, 3, padding=1),
        _case("batch-split", 3, 5, 9, 9, 7, 3, 3),
        # stacked images: a block of them per thread, its output channels split
        _case("stack-blocks", 7, 24, 9, 9, 9, 1, 1, stride=2),
        _case("stack-k-split", 6, 24, 9, 9, 200, 1, 1, stride=2),
    ],
    ids=lambda c: c.name,
)
def test_conv2d_threads_agree(case, cpu_isa):
    """The result does not depend on how many threads split the work."""
    before = torch.get_num_threads()
    try:
        for threads in (1, 2, 3, 4):
            torch.set_num_threads(threads)
            _run_case(case, "cpu")
    finally:
        torch.set_num_threads(before)


STACK_CASES = [c for c in NAMED if c.name.startswith("stack-")] + [
    c for c in random_cases(200, seed=31) if (c.n or 1) > 1][:24]


@pytest.mark.parametrize("case", STACK_CASES, ids=lambda c: f"{c.name}[{describe(c)}]")
def test_conv2d_stacking_changes_no_bit(case, cpu_isa):
    """Stacking small images in one work item (conv2d_direct.h) moves outputs between tiles
    but never reorders a sum: the result is bitwise that of one image per item, epilogue
    included, on 1 and 2 threads."""
    if cpu_isa == "scalar":
        pytest.skip("the scalar kernel has no work items to stack")
    g = torch.Generator().manual_seed(_seed(case))
    x = torch.randn(case.input_shape(), generator=g)
    w = torch.randn(case.weight_shape(), generator=g)
    b = torch.randn(case.k, generator=g) if case.bias else None
    res = torch.randn_like(F.conv2d(x, w, b, **case.kwargs()))
    assert_stacking_changes_no_bit(lambda: (
        ops.conv2d(x, w, b, **case.kwargs()),
        ops.conv2d(x, w, b, **case.kwargs(), residual=res, activation="relu")))


def conv2d_algorithm(name: str):
    """Forces the CPU kernel of pybench.ops.conv2d ("direct", "nchwc"; conv2d_via_nchwc.h)
    inside the block."""
    return scoped_hook(torch.ops.pybench._set_conv2d_algorithm_for_testing, name, "auto")


# Layers the automatic choice sends through the blocked kernel (conv2d_via_nchwc.h) on
# both AVX2 (B = 8) and AVX-512 (B = 16): batch x output plane >= 200, at least two blocks
# of channels, a small plane. Channel counts that are not multiples of either block.
VIA_CASES = [
    _case("via-3x3-s2", 8, 33, 13, 13, 40, 3, 3, stride=2, padding=1),
    _case("via-3x3-s1", 5, 35, 7, 9, 67, 3, 3, padding=1),
    _case("via-1x1", 8, 40, 7, 7, 70, 1, 1),
    _case("via-5x5-valid", 9, 32, 9, 9, 33, 5, 5),
    _case("via-dilated-asym", 4, 48, 12, 11, 50, 3, 3, stride=(2, 1), padding=(1, 2),
          dilation=(2, 1)),
    _case("via-2x3-s3", 8, 36, 20, 17, 34, 2, 3, stride=3, padding=1, bias=False),
    _case("via-5x5-plane", 1, 40, 23, 25, 36, 5, 5, padding=2),
]
# ... and layers it leaves on the direct kernel: batch 1, a large plane, few output
# channels. (Grouped layers run direct whatever is forced.)
DIRECT_CASES = [
    _case("direct-batch1", 1, 64, 14, 14, 64, 3, 3, padding=1),
    _case("direct-plane", 2, 32, 58, 58, 32, 3, 3, padding=1),
    _case("direct-few-outputs", 8, 64, 7, 7, 8, 3, 3, padding=1),
]
# ... and those AVX2's rules of its own send the other way: (case, the path on AVX2, on
# AVX-512). The last two have 2.25 MiB of weights, over 4 L2s of the 512 KiB the test
# sets: onto 7x7 that keeps AVX2 direct, onto 5x5 it does not.
ISA_CASES = [
    (_case("isa-3x3-s1-plane", 2, 32, 30, 30, 32, 3, 3, padding=1), "nchwc", "direct"),
    (_case("isa-batch1-256-inputs", 1, 256, 12, 13, 20, 3, 3, padding=1), "nchwc", "direct"),
    (_case("isa-batch1-s2-256-inputs", 1, 256, 27, 27, 24, 3, 3, stride=2, padding=1),
     "nchwc", "direct"),
    (_case("isa-heavy-weights", 5, 256, 7, 7, 256, 3, 3, padding=1), "direct", "nchwc"),
    (_case("isa-heavy-weights-5x5", 8, 256, 5, 5, 256, 3, 3, padding=1), "nchwc", "nchwc"),
]


@pytest.mark.parametrize("case", [c for c in CASES if c.groups == 1] + VIA_CASES,
                         ids=lambda c: f"{c.name}[{describe(c)}]")
def test_conv2d_through_nchwc_matches_float64(case, cpu_isa):
    """Every ungrouped case, forced through the blocked kernel: the input and weight
    converted, conv2d_nchwc, the output converted back."""
    if cpu_isa == "scalar":
        pytest.skip("the scalar kernel has one path; the blocked one is AVX2 / AVX-512 only")
    with conv2d_algorithm("nchwc"):
        _run_case(case, "cpu")


# A 1x1 sums its channels in the same order on both paths, to the same bits: which one
# ran cannot be seen there.
@pytest.mark.parametrize("case", [c for c in VIA_CASES + DIRECT_CASES if c.kh * c.kw > 1] +
                         [c for c, _, _ in ISA_CASES], ids=lambda c: c.name)
@pytest.mark.parametrize("activation", ["none", "relu", "sigmoid"])
def test_conv2d_automatic_choice_takes_the_path_it_should(case, activation, cpu_isa):
    """The automatic choice gives, bit for bit, what forcing the path it should take gives
    (the two paths sum in different orders, so they rarely agree to the bit), with the
    epilogue; a residual always keeps a layer on the direct kernel. Both paths match the
    float64 reference."""
    if cpu_isa == "scalar":
        pytest.skip("the scalar kernel has one path; the blocked one is AVX2 / AVX-512 only")
    with cache_override("l2=512K"):
        _check_automatic_choice(case, activation, cpu_isa)


def _check_automatic_choice(case, activation, cpu_isa):
    x, w, b, ref, scale = operands(case)
    by_isa = {c.name: (avx2, avx512) for c, avx2, avx512 in ISA_CASES}
    if case.name in by_isa:
        expected = by_isa[case.name][0 if cpu_isa == "avx2" else 1]
    else:
        expected = "nchwc" if case in VIA_CASES else "direct"
    run = lambda **kw: ops.conv2d(x, w, b, **case.kwargs(), activation=activation, **kw)
    auto = run()
    with conv2d_algorithm(expected):
        forced = run()
    with conv2d_algorithm("direct" if expected == "nchwc" else "nchwc"):
        other = run()
    assert torch.equal(auto, forced), f"the automatic choice did not take the {expected} path"
    assert not torch.equal(auto, other), "both paths gave the same bits: the test cannot tell"
    if activation == "none":
        assert_matches_reference(auto, ref, scale)
        assert_matches_reference(other, ref, scale)
    res = torch.randn_like(auto)
    with conv2d_algorithm("direct"):
        direct = ops.conv2d(x, w, b, **case.kwargs(), residual=res)
    assert torch.equal(ops.conv2d(x, w, b, **case.kwargs(), residual=res), direct)


@pytest.mark.parametrize("case", VIA_CASES[:3], ids=lambda c: c.name)
def test_conv2d_through_nchwc_threads_agree(case, cpu_isa):
    """The blocked path's conversions and kernel split their work over the threads; the
    result matches the reference on any number of them."""
    if cpu_isa == "scalar":
        pytest.skip("the scalar kernel has one path; the blocked one is AVX2 / AVX-512 only")
    before = torch.get_num_threads()
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            with conv2d_algorithm("nchwc"):
                _run_case(case, "cpu")
    finally:
        torch.set_num_threads(before)


def test_conv2d_algorithm_hook_rejects_unknown_names():
    with pytest.raises(ValueError, match="expected 'auto', 'direct' or 'nchwc'"):
        torch.ops.pybench._set_conv2d_algorithm_for_testing("winograd")


@pytest.mark.parametrize("device", device_params())
def test_conv2d_zero_batch(device):
    x, w = torch.randn(0, 3, 5, 5, device=device), torch.randn(4, 3, 3, 3, device=device)
    out = ops.conv2d(x, w, torch.randn(4, device=device), padding=1)
    assert out.shape == F.conv2d(x, w, padding=1).shape == (0, 4, 5, 5)


# Shapes the fake kernel (meta tensors, torch.compile) must agree on with F.conv2d's.
META_CASES = [c for c in NAMED if c.name.startswith(("same", "stride", "dil", "exact", "unbatched",
                                                       "11x11", "depthwise", "h1", "w1"))]


@pytest.mark.parametrize("case", META_CASES, ids=lambda c: c.name)
def test_conv2d_meta_shapes(case):
    x = torch.empty(case.input_shape(), device="meta")
    w = torch.empty(case.weight_shape(), device="meta")
    b = torch.empty(case.k, device="meta") if case.bias else None
    out = ops.conv2d(x, w, b, **case.kwargs())
    assert out.device.type == "meta" and out.dtype == torch.float32
    assert out.shape == F.conv2d(x, w, b, **case.kwargs()).shape


# F.conv2d rejects these on meta tensors too; pybench's fake kernel returns a shape
# (empty, or one the real kernel would refuse), so shape inference and torch.compile
# tracing accept calls that fail only when run.
@pytest.mark.parametrize("name", ["channel-mismatch", "group-channel-mismatch", "groups-zero",
                                  "kernel-larger-than-input", "kernel-larger-than-input-w",
                                  "dilated-kernel-larger-than-input", "bias-float64"])
def test_conv2d_meta_rejects_what_torch_rejects(name):
    x, w, b, kwargs = next(e[1:5] for e in ERRORS if e[0] == name)
    meta = lambda t: None if t is None else t.to("meta")  # noqa: E731
    with pytest.raises(Exception):
        F.conv2d(meta(x), meta(w), meta(b), **kwargs)
    with pytest.raises((ValueError, TypeError, RuntimeError)):
        ops.conv2d(meta(x), meta(w), meta(b), **kwargs)


OPCHECK_CASES = [
    _case("plain", 2, 5, 7, 9, 6, 3, 3, padding=1),
    _case("groups-strided-no-bias", 1, 6, 9, 8, 9, 3, 1, stride=(2, 1), groups=3, bias=False),
    _case("same-even-dilated", 1, 4, 7, 8, 5, 2, 4, padding="same", dilation=2),
    _case("unbatched-depthwise", None, 5, 6, 6, 10, 3, 3, groups=5, padding=(1, 0)),
]


@pytest.mark.parametrize("case", OPCHECK_CASES, ids=lambda c: c.name)
def test_conv2d_opcheck(case):
    x, w, b, _, _ = operands(case)
    pads = ops.conv2d_padding(case.padding, (case.kh, case.kw), case.stride, case.dilation)
    args = (x, w, b, list(ops._pair(case.stride, "s")), list(pads),
            list(ops._pair(case.dilation, "d")), case.groups)
    torch.library.opcheck(torch.ops.pybench.conv2d.default, args)


def test_conv2d_under_torch_compile():
    torch._dynamo.reset()

    def block(x, w1, b1, w2):
        y = ops.conv2d(x, w1, b1, stride=2, padding=1, groups=2).relu()
        return ops.conv2d(y, w2, padding="same", dilation=2) * 0.5

    compiled = torch.compile(block, fullgraph=True, dynamic=True)
    g = torch.Generator().manual_seed(11)
    w1, b1 = torch.randn(8, 3, 3, 3, generator=g), torch.randn(8, generator=g)
    w2 = torch.randn(5, 8, 2, 2, generator=g)
    # A second shape exercises the fake kernel's symbolic size arithmetic.
    for shape in [(2, 6, 13, 11), (1, 6, 8, 17)]:
        x = torch.randn(shape, generator=g)
        y64 = F.conv2d(x.double(), w1.double(), b1.double(), stride=2, padding=1, groups=2).relu()
        ref, scale = reference_conv2d(y64, w2, padding="same", dilation=2)
        out = compiled(x, w1, b1, w2)
        assert_matches_reference(out, ref * 0.5, scale * 0.5)


# --- errors: a Python exception naming the problem, never a crash or a wrong shape --------

def _t(*shape, dtype=torch.float32):
    return torch.ones(shape, dtype=dtype)


ERRORS = [
    # (id, input, weight, bias, kwargs, exception, match)
    ("input-rank-2", _t(4, 5), _t(4, 4, 3, 3), None, {}, ValueError, r"3-D \(unbatched\) or 4-D"),
    ("input-rank-5", _t(1, 1, 4, 5, 5), _t(4, 4, 3, 3), None, {}, ValueError, "rank 5"),
    ("weight-rank-3", _t(1, 4, 5, 5), _t(4, 4, 3), None, {}, ValueError, "4-D weight"),
    ("weight-rank-5", _t(1, 4, 5, 5), _t(4, 4, 3, 3, 1), None, {}, ValueError, "4-D weight"),
    ("channel-mismatch", _t(1, 4, 6, 6), _t(4, 3, 3, 3), None, {}, ValueError,
     "to have 3 channels, but got 4"),
    ("group-channel-mismatch", _t(1, 5, 6, 6), _t(4, 2, 3, 3), None, {"groups": 2}, ValueError,
     "groups=2.*to have 4 channels, but got 5"),
    ("k-not-divisible-by-groups", _t(1, 4, 6, 6), _t(5, 2, 3, 3), None, {"groups": 2}, ValueError,
     "divisible by 2"),
    ("groups-zero", _t(1, 4, 6, 6), _t(4, 4, 3, 3), None, {"groups": 0}, ValueError,
     "non-positive groups"),
    ("kernel-larger-than-input", _t(1, 4, 4, 4), _t(4, 4, 5, 5), None, {}, ValueError,
     "Kernel size can't be greater"),
    ("kernel-larger-than-input-w", _t(1, 4, 9, 4), _t(4, 4, 3, 5), None, {"padding": (1, 0)},
     ValueError, "Kernel size can't be greater"),
    ("dilated-kernel-larger-than-input", _t(1, 4, 6, 6), _t(4, 4, 3, 3), None, {"dilation": 3},
     ValueError, "Kernel size can't be greater"),
    ("empty-kernel", _t(1, 4, 6, 6), _t(4, 4, 0, 3), None, {}, ValueError, "non-empty kernel"),
    ("stride-0", _t(1, 4, 6, 6), _t(4, 4, 3, 3), None, {"stride": 0}, ValueError,
     "non-positive stride"),
    ("stride-negative", _t(1, 4, 6, 6), _t(4, 4, 3, 3), None, {"stride": (1, -2)}, ValueError,
     "non-positive stride"),
    ("stride-3-values", _t(1, 4, 6, 6), _t(4, 4, 3, 3), None, {"stride": (1, 1, 1)}, ValueError,
     "stride to be an int or a pair"),
    ("padding-negative", _t(1, 4, 6, 6), _t(4, 4, 3, 3), None, {"padding": -1}, ValueError,
     "negative padding"),
    ("padding-negative-w", _t(1, 4, 6, 6), _t(4, 4, 3, 3), None, {"padding": (0, -1)}, ValueError,
     "negative padding"),
    ("dilation-0", _t(1, 4, 6, 6), _t(4, 4, 3, 3), None, {"dilation": 0}, ValueError,
     "dilation should be greater than zero"),
    ("dilation-negative", _t(1, 4, 9, 9), _t(4, 4, 3, 3), None, {"dilation": (2, -1)}, ValueError,
     "dilation should be greater than zero"),
    ("padding-string", _t(1, 4, 6, 6), _t(4, 4, 3, 3), None, {"padding": "full"}, ValueError,
     "invalid padding string 'full'"),
    ("same-with-stride-2", _t(1, 4, 6, 6), _t(4, 4, 3, 3), None, {"padding": "same", "stride": 2},
     ValueError, "padding='same' is not supported for strided"),
    ("same-with-stride-1x2", _t(1, 4, 6, 6), _t(4, 4, 3, 3), None,
     {"padding": "same", "stride": (1, 2)}, ValueError, "padding='same' is not supported"),
    ("input-float64", _t(1, 4, 6, 6, dtype=torch.float64), _t(4, 4, 3, 3), None, {}, TypeError,
     "float32 input, got torch.float64"),
    ("input-int", _t(1, 4, 6, 6, dtype=torch.int32), _t(4, 4, 3, 3, dtype=torch.int32), None, {},
     TypeError, "float32 input, got torch.int32"),
    ("input-float16", _t(1, 4, 6, 6, dtype=torch.float16), _t(4, 4, 3, 3), None, {}, TypeError,
     "float32 input"),
    ("weight-float64", _t(1, 4, 6, 6), _t(4, 4, 3, 3, dtype=torch.float64), None, {}, TypeError,
     "float32 weight, got torch.float64"),
    ("bias-float64", _t(1, 4, 6, 6), _t(4, 4, 3, 3), _t(4, dtype=torch.float64), {}, TypeError,
     "float32 bias, got torch.float64"),
    ("bias-too-long", _t(1, 4, 6, 6), _t(4, 4, 3, 3), _t(5), {}, ValueError,
     r"bias of shape \(4\), got \[5\]"),
    ("bias-2d", _t(1, 4, 6, 6), _t(4, 4, 3, 3), _t(1, 4), {}, ValueError, r"bias of shape \(4\)"),
    ("bias-0d", _t(1, 4, 6, 6), _t(4, 4, 3, 3), torch.tensor(1.0), {}, ValueError,
     r"bias of shape \(4\)"),
]


@pytest.mark.parametrize("x, w, b, kwargs, error, match", [e[1:] for e in ERRORS],
                         ids=[e[0] for e in ERRORS])
def test_conv2d_bad_arguments(x, w, b, kwargs, error, match):
    with pytest.raises(error, match=match):
        ops.conv2d(x, w, b, **kwargs)
    if x.dtype.is_floating_point:  # int convolutions are PyTorch's, pybench is float32-only
        with pytest.raises(Exception):  # keeps this list to calls PyTorch rejects too
            F.conv2d(x, w, b, **kwargs)


def test_conv2d_bad_arguments_to_the_raw_op():
    """The schema op checks what the Python wrapper normally resolves."""
    x, w = _t(1, 4, 6, 6), _t(4, 4, 3, 3)
    with pytest.raises(ValueError, match="2 strides, 4 paddings"):
        torch.ops.pybench.conv2d(x, w, None, [1, 1], [1, 1], [1, 1], 1)
    with pytest.raises(ValueError, match="negative padding"):
        torch.ops.pybench.conv2d(x, w, None, [1, 1], [1, 1, 0, -1], [1, 1], 1)


@pytest.mark.parametrize("device", device_params()[1:])
def test_conv2d_device_mismatch(device):
    x, w, b = _t(1, 4, 6, 6), _t(4, 4, 3, 3), _t(4)
    cases = [(x.to(device), w, None), (x, w.to(device), None), (x.to(device), w.to(device), b)]
    for xi, wi, bi in cases:
        with pytest.raises(RuntimeError, match="(?i)cpu|cuda"):
            ops.conv2d(xi, wi, bi)



@pytest.mark.parametrize("x_shape, w_shape", [((1, 3, 0, 5), (4, 3, 1, 1)),
                                              ((1, 3, 5, 0), (4, 3, 1, 1)),
                                              ((1, 0, 5, 5), (4, 0, 1, 1)),
                                              ((1, 3, 5, 5), (0, 3, 1, 1))],
                         ids=["h0", "w0", "c0", "k0"])
@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_conv2d_rejects_empty_channels_and_spatial_sizes(x_shape, w_shape, device):
    x, w = torch.randn(x_shape, device=device), torch.randn(w_shape, device=device)
    with pytest.raises(ValueError, match="expected non-empty channels and spatial sizes"):
        ops.conv2d(x, w)


def test_conv2d_empty_batch_gives_an_empty_output():
    out = ops.conv2d(torch.randn(0, 3, 5, 5), torch.randn(4, 3, 3, 3), padding=1)
    assert out.shape == (0, 4, 5, 5)


@pytest.mark.parametrize("kwargs", [dict(stride=2, padding=1), dict(padding="same", dilation=2),
                                    dict(padding="same"), dict(groups=2, padding=(0, 1))],
                         ids=["strided", "same-dilated", "same-even", "grouped"])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
def test_conv2d_gradients_match_torch(kwargs, batched):
    gen = torch.Generator().manual_seed(7)
    shape = (2, 4, 9, 8) if batched else (4, 9, 8)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    w = torch.randn(6, 4 // kwargs.get("groups", 1), 2 if kwargs.get("padding") == "same" and
                    "dilation" not in kwargs else 3, 3, generator=gen, dtype=torch.float64)
    b = torch.randn(6, generator=gen, dtype=torch.float64)
    g = torch.randn_like(F.conv2d(x, w, b, **kwargs))
    ref = torch.autograd.grad(F.conv2d(x.requires_grad_(), w.requires_grad_(),
                                       b.requires_grad_(), **kwargs), (x, w, b), g)
    xs, ws, bs = (t.detach().float().requires_grad_() for t in (x, w, b))
    got = torch.autograd.grad(ops.conv2d(xs, ws, bs, **kwargs), (xs, ws, bs), g.float())
    for name, a, r in zip(("input", "weight", "bias"), got, ref):
        assert a.shape == r.shape, name
        error = (torch.linalg.vector_norm(a.double() - r) / torch.linalg.vector_norm(r)).item()
        assert error <= 1e-5, name
