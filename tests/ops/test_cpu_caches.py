"""pybench.ops.cpu_caches(), the PYBENCH_CPU_CACHES override, and every CPU kernel under
the blocking other caches give it.

The kernels derive their blocking from the cache sizes at run time; the test-only op
``_set_cpu_caches_for_testing`` switches the description in-process, and
``_cpu_cache_blocking`` returns what each kernel derives from it. Each kernel runs under
three descriptions -- Sapphire Rapids (48 KiB L1d, 2 MiB L2), Zen 1 (32 KiB, 512 KiB) and a
small one (16 KiB, 256 KiB), the last for the L1d-sized blockings, which keep their measured
sizes at 32 and 48 KiB -- on shapes whose row chunks / tiles / panels / K chunks differ
between them (checked, so no test passes vacuously), against float64 references at a
relative error of 1e-5.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import pybench.ops as ops
from conftest import assert_matches_reference, cache_override

ROOT = Path(__file__).resolve().parents[2]
KiB, MiB = 1024, 1024 * 1024
RTOL = 1e-5

SETTINGS = {"spr": "l1d=48K,l2=2M", "zen1": "l1d=32K,l2=512K", "small": "l1d=16K,l2=256K"}


def blocking(setting: str) -> dict[str, int]:
    with cache_override(SETTINGS[setting]) as b:
        return dict(b)


@pytest.fixture(params=list(SETTINGS))
def caches(request):
    with cache_override(SETTINGS[request.param]):
        yield request.param


def _pybench_env(value: str | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("PYBENCH_CPU_CACHES", None)
    if value is not None:
        env["PYBENCH_CPU_CACHES"] = value
    return env


def _python(args: list[str], value: str | None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT,
                          env=_pybench_env(value), timeout=120)


# ---- the description -------------------------------------------------------------------
def test_fields_present_and_sane():
    c = ops.cpu_caches()
    assert tuple(c) == ops.CPU_CACHE_FIELDS
    assert 8 * KiB <= c["l1d"] <= 1 * MiB, c
    assert c["l1d"] < c["l2"] <= 64 * MiB, c
    assert c["l3"] == 0 or c["l3"] >= c["l2"], c
    assert c["line"] in (32, 64, 128, 256), c
    assert c["source"] in ("cpuid", "sysfs", "default", "override")
    assert c["detected_source"] in ("cpuid", "sysfs", "default")
    if "PYBENCH_CPU_CACHES" not in os.environ:
        assert c["source"] == c["detected_source"]
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert c["vendor"] and c["family"] > 0, c


def _sysfs_size(level: int, kinds: tuple[str, ...]) -> int | None:
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            if (int((index / "level").read_text()) == level
                    and (index / "type").read_text().strip() in kinds):
                size = (index / "size").read_text().strip()
                return int(size[:-1]) * 1024 if size.endswith("K") else int(size)
        except (OSError, ValueError):
            return None
    return None


@pytest.mark.skipif("PYBENCH_CPU_CACHES" in os.environ, reason="the description is overridden")
def test_agrees_with_sysfs_where_linux_has_it():
    # Linux fills sysfs from the same CPUID leaves, so the two agree where both exist.
    c = ops.cpu_caches()
    l1d, l2 = _sysfs_size(1, ("Data",)), _sysfs_size(2, ("Unified",))
    if l1d is None or l2 is None:
        pytest.skip("no /sys/devices/system/cpu/cpu0/cache here")
    assert (c["l1d"], c["l2"]) == (l1d, l2), c


def test_override_shows_in_info_and_cpu_caches():
    detected = ops.cpu_caches()
    proc = _python(["-m", "pybench", "info", "--json"], "l1d=32K,l2=512K")
    assert proc.returncode == 0, proc.stderr
    c = json.loads(proc.stdout)["cpu_caches"]
    assert (c["l1d"], c["l2"], c["l3"]) == (32 * KiB, 512 * KiB, detected["l3"])
    assert c["source"] == "override" and c["detected_source"] == detected["detected_source"]

    proc = _python(["-m", "pybench", "info"], "l1d=32K,l2=512K")
    assert proc.returncode == 0, proc.stderr
    lines = {tuple(line.split(maxsplit=1)) for line in proc.stdout.splitlines()}
    assert ("cpu_caches.l2", str(512 * KiB)) in lines and ("cpu_caches.source", "override") in lines

    code = ("import json, torch, pybench.ops as o; "
            "print(json.dumps([o.cpu_caches(), dict(torch.ops.pybench._cpu_cache_blocking())]))")
    proc = _python(["-c", code], "l2=512K")
    assert proc.returncode == 0, proc.stderr
    c, b = json.loads(proc.stdout)
    assert c["l2"] == 512 * KiB and c["l1d"] == detected["l1d"] and c["source"] == "override"
    with cache_override("l2=512K") as expected:  # the environment and the hook agree
        assert b == dict(expected)


@pytest.mark.parametrize("spec, part", [
    ("l2=12Q", "bad size '12Q' for l2"),
    ("l4=1M", "unknown cache 'l4'"),
    ("l1d=32K,l1d=48K", "'l1d' given twice"),
    ("l2", "item 'l2' is not key=size"),
])
def test_bad_override_is_a_clear_error(spec, part):
    for args in (["-c", "import pybench.ops"], ["-m", "pybench", "info"]):
        proc = _python(args, spec)
        assert proc.returncode != 0, proc.stdout
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("ValueError: "), proc.stderr
        assert f"PYBENCH_CPU_CACHES='{spec}'" in last and part in last, last


def test_testing_hook_switches_and_restores():
    before = ops.cpu_caches()
    with cache_override("l2=512K"):
        c = ops.cpu_caches()
        assert c["l2"] == 512 * KiB and c["l1d"] == before["l1d"] and c["source"] == "override"
    assert ops.cpu_caches() == before
    with pytest.raises(ValueError, match="bad size '2X' for l2"):
        torch.ops.pybench._set_cpu_caches_for_testing("l2=2X")
    assert ops.cpu_caches() == before


# ---- the blocking ------------------------------------------------------------------------
# What the kernels blocked with before the sizes were read at run time.
CONSTANTS = {"conv2d_slab_bytes": 768 * KiB, "depthwise_plane_bytes": 24 * KiB,
             "separable_mid_bytes": 512 * KiB,
             "lstm_chunk_k_avx512": 512, "lstm_direct_max_k_avx512": 640}
# Blockings sized for each machine since (the Gram kernels; the AVX2 LSTM chunk, by the L1d).
RETUNED = ("gram_", "lstm_chunk_k_avx2", "lstm_direct_max_k_avx2")


def _without_gram(b) -> dict[str, int]:
    return {k: v for k, v in dict(b).items() if not k.startswith(RETUNED)}


def test_blocking_follows_the_caches():
    b = {name: blocking(name) for name in SETTINGS}
    assert set(_without_gram(b["spr"])) == set(CONSTANTS)
    # Sapphire Rapids, where the constants were measured, and Zen 4 keep them.
    assert _without_gram(b["spr"]) == CONSTANTS
    with cache_override("l1d=32K,l2=1M") as zen4:
        assert _without_gram(zen4) == CONSTANTS
    # A 512 KiB L2 shrinks every L2 blocking but the AVX2 LSTM chunk (half the bytes of
    # AVX-512's, it fits).
    for key in ("conv2d_slab_bytes", "separable_mid_bytes", "gram_panel_bytes_avx512",
                "gram_panel_bytes_avx2", "lstm_chunk_k_avx512", "lstm_direct_max_k_avx512"):
        assert b["zen1"][key] < b["spr"][key], key
    # The L1d blockings keep their measured size at 32 and 48 KiB, and shrink below.
    assert b["zen1"]["depthwise_plane_bytes"] == b["spr"]["depthwise_plane_bytes"]
    for key in ("depthwise_plane_bytes", "gram_kc_max_avx512", "gram_kc_max_avx2",
                "lstm_chunk_k_avx2"):
        assert b["small"][key] < b["zen1"][key], key


def test_lstm_avx2_chunk_follows_the_l1d():
    # Its tile reads the panel chunk from memory for every row tile: half the L1d holds it.
    b = {name: blocking(name) for name in SETTINGS}
    assert [b[n]["lstm_chunk_k_avx2"] for n in SETTINGS] == [192, 128, 64]
    assert [b[n]["lstm_direct_max_k_avx2"] for n in SETTINGS] == [240, 160, 80]


def test_gram_blocking_values():
    # The Gram kernels' packed panel: its broadcast operand (kc x 16 or 8 floats) in half
    # the L1d, the whole panel in half the L2.
    b = {name: blocking(name) for name in SETTINGS}
    assert [b[n]["gram_kc_max_avx512"] for n in SETTINGS] == [384, 256, 128]
    assert [b[n]["gram_kc_max_avx2"] for n in SETTINGS] == [512, 512, 256]
    assert [b[n]["gram_panel_bytes_avx512"] for n in SETTINGS] == [1024 * KiB, 256 * KiB, 128 * KiB]


def _distinct(blocks_of) -> None:
    """blocks_of(blocking) -> how a shape is cut; it must differ between the settings."""
    cuts = {name: blocks_of(blocking(name)) for name in SETTINGS}
    assert len(set(cuts.values())) > 1, f"the shape is cut the same under every setting: {cuts}"


# ---- conv2d ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ConvCase:
    name: str
    input: tuple
    weight: tuple
    kwargs: dict
    out_h: int
    halo: int            # plane rows a chunk builds past its output rows
    plane_row_bytes: int  # bytes of one plane row over all channels and phases

    def row_chunks(self, b):  # conv2d_direct.h make_plan, before the thread balancing
        rows = max(1, min(self.out_h, b["conv2d_slab_bytes"] // self.plane_row_bytes - self.halo))
        return math.ceil(self.out_h / rows)


CONV_CASES = [
    # 3x3 pad 1 on 45 wide: plane rows of 45 + 2 - 1 (shared zero) = 46 floats x 96 channels;
    # 2 / 3 / 5 row chunks at 768 / 384 / 192 KiB.
    ConvCase("3x3", (1, 96, 45, 45), (20, 96, 3, 3), dict(padding=1), 45, 2, 96 * 46 * 4),
    # 1x1 stride 2 (built planes, one phase of 20 columns); 1 / 2 / 3 chunks.
    ConvCase("1x1s2", (1, 256, 39, 39), (13, 256, 1, 1), dict(stride=2), 20, 0, 256 * 20 * 4),
    # 5x5 stride 2 pad 2, four phase planes of 33 + 2 - 1 columns; 1 / 2 / 3 chunks.
    ConvCase("5x5s2", (2, 24, 67, 66), (7, 24, 5, 5), dict(stride=2, padding=2), 34, 2,
             24 * 4 * 34 * 4),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: c.name)
def test_conv2d_blocking_differs(case):
    _distinct(case.row_chunks)


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: c.name)
def test_conv2d_exact_under_every_cache(case, caches, cpu_isa):
    g = torch.Generator().manual_seed(23)
    x, w = torch.randn(case.input, generator=g), torch.randn(case.weight, generator=g)
    b = torch.randn(case.weight[0], generator=g)
    out = ops.conv2d(x, w, b, **case.kwargs)
    ref = F.conv2d(x.double(), w.double(), b.double(), **case.kwargs)
    scale = F.conv2d(x.double().abs(), w.double().abs(), b.double().abs(), **case.kwargs)
    assert_matches_reference(out, ref, scale, RTOL)


# ---- depthwise ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class DwCase:
    name: str
    input: tuple
    multiplier: int
    kernel: int
    kwargs: dict
    out_h: int
    halo: int
    plane_row_bytes: int  # one channel's phase planes, one row

    def row_chunks(self, b):  # depthwise_conv2d_direct.h make_dw_plan
        rows = max(1, min(self.out_h,
                          b["depthwise_plane_bytes"] // self.plane_row_bytes - self.halo))
        return math.ceil(self.out_h / rows)


DW_CASES = [
    # 3x3 pad 1 on 97 wide: rows of 99 floats; 2 / 2 / 4 chunks at 24 / 24 / 12 KiB.
    DwCase("3x3", (2, 5, 97, 97), 2, 3, dict(padding=1), 97, 2, 99 * 4),
    # 5x5 stride 2 pad 2 on 131 wide: 4 phase planes of 66 + 2 columns; 4 / 4 / 8 chunks.
    DwCase("5x5s2", (1, 3, 131, 131), 1, 5, dict(stride=2, padding=2), 66, 2, 4 * 68 * 4),
]


@pytest.mark.parametrize("case", DW_CASES, ids=lambda c: c.name)
def test_depthwise_blocking_differs(case):
    _distinct(case.row_chunks)


@pytest.mark.parametrize("via_conv2d", [False, True], ids=["depthwise", "conv2d_groups"])
@pytest.mark.parametrize("case", DW_CASES, ids=lambda c: c.name)
def test_depthwise_exact_under_every_cache(case, via_conv2d, caches, cpu_isa):
    c = case.input[1]
    g = torch.Generator().manual_seed(24)
    x = torch.randn(case.input, generator=g)
    w = torch.randn(c * case.multiplier, 1, case.kernel, case.kernel, generator=g)
    b = torch.randn(c * case.multiplier, generator=g)
    if via_conv2d:
        out = ops.conv2d(x, w, b, groups=c, **case.kwargs)
    else:
        out = ops.depthwise_conv2d(x, w, b, **case.kwargs)
    ref = F.conv2d(x.double(), w.double(), b.double(), groups=c, **case.kwargs)
    scale = F.conv2d(x.double().abs(), w.double().abs(), b.double().abs(), groups=c,
                     **case.kwargs)
    assert_matches_reference(out, ref, scale, RTOL)


# ---- separable ---------------------------------------------------------------------------
# 64 channels, 3x3 pad 1 on 45 x 41 -> 24: T rows of 64 x 48 floats (41 padded to whole
# vectors on either ISA); 2 / 3 / 5 tiles at 512 / 256 / 128 KiB.
SEP_INPUT, SEP_K, SEP_OUT_H, SEP_ROW_BYTES = (1, 64, 45, 41), 24, 45, 64 * 48 * 4


def test_separable_blocking_differs():
    _distinct(lambda b: math.ceil(
        SEP_OUT_H / max(1, min(SEP_OUT_H, b["separable_mid_bytes"] // SEP_ROW_BYTES))))


def test_separable_exact_under_every_cache(caches, cpu_isa):
    c = SEP_INPUT[1]
    g = torch.Generator().manual_seed(25)
    x, dw = torch.randn(SEP_INPUT, generator=g), torch.randn(c, 1, 3, 3, generator=g)
    pw, db, pb = (torch.randn(SEP_K, c, 1, 1, generator=g), torch.randn(c, generator=g),
                  torch.randn(SEP_K, generator=g))
    out = ops.separable_conv2d(x, dw, pw, db, pb, padding=1, activation="relu",
                               pw_activation="none")
    x64, dw64, pw64, db64, pb64 = (t.double() for t in (x, dw, pw, db, pb))
    ref = F.conv2d(F.relu(F.conv2d(x64, dw64, db64, padding=1, groups=c)), pw64, pb64)
    scale = F.conv2d(F.conv2d(x64.abs(), dw64.abs(), db64.abs(), padding=1, groups=c),
                     pw64.abs(), pb64.abs())
    assert_matches_reference(out, ref, scale, RTOL)


# ---- gram --------------------------------------------------------------------------------
# C = 77, L = 37 x 71 = 2627: 7 / 11 / 21 AVX-512 panels of L.
GRAM_SHAPE = (2, 77, 37, 71)


def test_gram_blocking_differs():
    length = GRAM_SHAPE[2] * GRAM_SHAPE[3]
    _distinct(lambda b: math.ceil(length / b["gram_kc_max_avx512"]))
    _distinct(lambda b: math.ceil(length / b["gram_kc_max_avx2"]))


def test_gram_exact_under_every_cache(caches, cpu_isa):
    x = torch.randn(GRAM_SHAPE, generator=torch.Generator().manual_seed(26))
    out = ops.gram(x)
    f = x.double().flatten(2)
    ref = f @ f.transpose(1, 2)
    err = ((out.double() - ref).norm() / ref.norm()).item()
    assert err <= RTOL, err
    assert torch.equal(out, out.transpose(1, 2))


# ---- lstm --------------------------------------------------------------------------------
# (batch, input, hidden): K = I + H (cell) or I (the sequence's input GEMM) past 640, so
# the K-blocked path runs: 2 / 3 / 6 chunks of the 700 inputs on AVX-512 (chunks of 512 /
# 256 / 128), 2 / 2 / 3 on AVX2; batch 1 is the matrix-vector loop, batch 100 two row groups.
LSTM_CELLS = [(7, 700, 45), (1, 900, 33), (100, 650, 20)]
LSTM_SEQ = (3, 5, 700, 45)  # T, B, I, H


def _lstm_weights(i, h, seed):
    g = torch.Generator().manual_seed(seed)
    k = 1 / h ** 0.5
    return [(torch.rand(*s, generator=g) * 2 - 1) * k for s in ((4 * h, i), (4 * h, h), (4 * h,),
                                                                 (4 * h,))]


def _rel(out, ref):
    return ((out.double() - ref).norm() / ref.norm()).item()


def test_lstm_blocking_differs():
    for isa in ("avx512", "avx2"):
        for _, i, h in LSTM_CELLS:
            _distinct(lambda b: math.ceil(i / b[f"lstm_chunk_k_{isa}"])
                      if i + h > b[f"lstm_direct_max_k_{isa}"] else 0)


@pytest.mark.parametrize("shape", LSTM_CELLS, ids=lambda s: "B{}_I{}_H{}".format(*s))
def test_lstm_cell_exact_under_every_cache(shape, caches, cpu_isa):
    b, i, h = shape
    g = torch.Generator().manual_seed(27)
    x, hx, cx = (torch.randn(b, i, generator=g), torch.randn(b, h, generator=g),
                 torch.randn(b, h, generator=g))
    w = _lstm_weights(i, h, 28)
    hy, cy = ops.lstm_cell(x, hx, cx, *w)
    cell = torch.nn.LSTMCell(i, h, dtype=torch.float64)
    with torch.no_grad():
        for p, t in zip((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh), w):
            p.copy_(t.double())
        rh, rc = cell(x.double(), (hx.double(), cx.double()))
    assert _rel(hy, rh) <= RTOL and _rel(cy, rc) <= RTOL


def test_lstm_sequence_exact_under_every_cache(caches, cpu_isa):
    t, b, i, h = LSTM_SEQ
    g = torch.Generator().manual_seed(29)
    x, h0, c0 = (torch.randn(t, b, i, generator=g), torch.randn(b, h, generator=g),
                 torch.randn(b, h, generator=g))
    w = _lstm_weights(i, h, 30)
    out, (hn, cn) = ops.lstm(x, h0, c0, *w)
    lstm = torch.nn.LSTM(i, h, dtype=torch.float64)
    with torch.no_grad():
        for p, tensor in zip((lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0,
                              lstm.bias_hh_l0), w):
            p.copy_(tensor.double())
        rout, (rh, rc) = lstm(x.double(), (h0.double()[None], c0.double()[None]))
    assert _rel(out, rout) <= RTOL and _rel(hn, rh[0]) <= RTOL and _rel(cn, rc[0]) <= RTOL
