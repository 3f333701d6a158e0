"""The dashboard: step detection, the site's content, and the site in a real headless browser."""
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from history_helpers import FINGERPRINT_A, FINGERPRINT_B, gram_times, lognormal, pybench_doc
from pybench import cli
from pybench.analysis import dashboard
from pybench.results import store as history

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]


def test_detect_steps_finds_a_step_and_ignores_noise():
    flat = lognormal(1, 1.0, 12, sigma=0.02)
    assert dashboard.detect_steps(flat) == []
    stepped = flat[:6] + [v * 1.25 for v in flat[6:]]
    steps = dashboard.detect_steps(stepped)
    assert len(steps) == 1 and steps[0].index == 6 and steps[0].ratio == pytest.approx(1.25, rel=0.03)
    faster = dashboard.detect_steps(flat[:6] + [v * 0.7 for v in flat[6:]])
    assert len(faster) == 1 and faster[0].ratio < 0.75
    # a lone outlier is not a step of the level; a 3% shift is below the minimum effect
    assert dashboard.detect_steps(flat[:5] + [flat[5] * 1.4] + flat[6:]) == []
    assert dashboard.detect_steps(flat[:6] + [v * 1.03 for v in flat[6:]]) == []
    assert dashboard.detect_steps([1.0]) == [] and dashboard.detect_steps([1.0, 2.0, 2.0]) == []


def test_detect_steps_is_fast_on_long_histories():
    """1000 commits x 1000 series must stay practical (the L1 PELT took 1.6 s a series):
    50 series of 1000 commits, each with two steps and two lone outliers, in well under
    the generous bound, every step found and no outlier taken for one."""
    import time
    rng = np.random.default_rng(7)
    start = time.perf_counter()
    for _ in range(50):
        v = np.exp(rng.normal(0, 0.03, 1000))
        v[400:] *= 1.2
        v[700:] *= 0.9
        v[100] *= 1.5
        v[550] *= 0.6
        steps = dashboard.detect_steps(list(v))
        # Noise can place a boundary a commit early or late; the levels are the check.
        assert len(steps) == 2 and abs(steps[0].index - 400) <= 2 and abs(steps[1].index - 700) <= 2, steps
        assert steps[0].ratio == pytest.approx(1.2, rel=0.03)
        assert steps[1].ratio == pytest.approx(0.9, rel=0.03)
    assert time.perf_counter() - start < 10.0


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Two machines' histories merged: A has 8 commits with pybench 25% slower relative to
    torch from the 6th on (c64 case only); B (with a GPU) 4 flat commits, CPU and CUDA rows."""
    root = tmp_path_factory.mktemp("dash")
    hist = root / "history"
    for i in range(8):
        git = {"commit": f"{i:x}" * 40, "commit_date": f"2026-12-01T{10 + i:02d}:00:00+00:00",
               "dirty": False}
        times = gram_times(1e-3, 2e-3, seed=i)
        if i >= 5:
            key = ("grid:c64_hw784", "pybench", "cpu")
            times[key] = [t * 1.25 for t in times[key]]
        history.record(pybench_doc(times, fingerprint=FINGERPRINT_A), root / "a", git=git)
        if i < 4:
            gpu = {**gram_times(2e-4, 1e-4, seed=50 + i),
                   **{(c, impl, "cuda"): v for (c, impl, _), v in
                      gram_times(2e-5, 3e-5, seed=70 + i).items()}}
            history.record(pybench_doc(gpu, fingerprint=FINGERPRINT_B), root / "b", git=git)
    history.merge([root / "a", root / "b"], hist)
    out = root / "site"
    assert cli.main(["dashboard", str(hist), "-o", str(out)]) == 0
    return out


def _figures(page):
    """The plotly figures of a suite page, by chart id, from the JSON beside each div."""
    text = page.read_text()
    ids = re.findall(r'<div class="plot" id="([^"]+)"', text)
    data = dict(re.findall(r'<script type="application/json" id="([^"]+)-data">(.*?)</script>',
                           text))
    assert sorted(ids) == sorted(data)
    return {i: json.loads(data[i]) for i in ids}


def test_site_content(site):
    index = (site / "index.html").read_text()
    machine_a, machine_b = history.machine_id(FINGERPRINT_A), history.machine_id(FINGERPRINT_B)
    assert f'<option value="{machine_a}">' in index and f'<option value="{machine_b}">' in index
    regs = json.loads((site / "regressions.json").read_text())
    assert [(r["machine"], r["benchmark"]) for r in regs] == \
        [(machine_a, "gram/grid:c64_hw784/pybench/cpu")]
    assert regs[0]["from"] == "4" * 40 and regs[0]["to"] == "5" * 40
    assert regs[0]["ratio"] == pytest.approx(1.25, rel=0.05)
    assert 'class="regressions"' in index and "No regressions detected." in index  # B is clean
    assert "cuda pybench speedup" in index and "cpu pybench GFLOP/s" in index
    suite = (site / "suite-gram.html").read_text()
    assert len(_figures(site / "suite-gram.html")) == 4  # 2 cases x 2 machines
    assert "https://" not in index + suite and "http://" not in index + suite  # no CDN
    assert not list(site.rglob("*.png"))  # interactive charts only, unless --png


def test_plotly_bundled_once_never_from_a_cdn(site):
    """One copy of plotly.js in the site, loaded by a relative <script src> from the pages
    with charts; no script anywhere comes from the network."""
    bundles = [p for p in site.rglob("*.js")]
    assert [p.relative_to(site).as_posix() for p in bundles] == ["plotly.min.js"]
    assert bundles[0].stat().st_size > 1_000_000 and b"plotly" in bundles[0].read_bytes()[:2000]
    for page in site.glob("*.html"):
        srcs = re.findall(r'<script[^>]*\bsrc="([^"]*)"', page.read_text())
        assert all(not re.match(r"[a-z]+:|//", s) for s in srcs), (page, srcs)
        assert srcs == (["plotly.min.js"] if page.name.startswith("suite-") else [])


def test_charts_carry_the_series_and_the_band(site):
    """Each chart: per implementation a line of median ms per commit and its p10-p90 band
    (a filled polygon), the relative series below; the stored values, in order."""
    import plotly.graph_objects as go

    machine_a = history.machine_id(FINGERPRINT_A)
    runs = [r for r in history.load(site.parent / "history") if r.machine == machine_a]
    figures = _figures(site / "suite-gram.html")
    fig = next(f for f in figures.values()
               if f["layout"]["title"]["text"] == "gram / grid:c64_hw784"
               and len(f["data"][1]["x"]) == 8)  # machine A's: 8 commits
    go.Figure(fig)  # a valid plotly figure (plotly's validators reject unknown properties)
    traces = {t["name"]: t for t in fig["data"]}
    assert set(traces) == {"pybench (cpu)", "pybench (cpu) p10-p90", "torch (cpu)",
                           "torch (cpu) p10-p90", "pybench / torch (cpu)"}
    line, band = traces["pybench (cpu)"], traces["pybench (cpu) p10-p90"]
    assert line["x"] == [f"{i:x}" * 7 for i in range(8)]
    stored = [next(rec for r in runs if r.commit == f"{i:x}" * 40 for rec in r.records
                   if rec.name == "gram/grid:c64_hw784/pybench/cpu") for i in range(8)]
    assert line["y"] == pytest.approx([rec.median * 1e3 for rec in stored])
    assert band["fill"] == "toself" and band["x"] == line["x"] + line["x"][::-1]
    p90 = [float(np.percentile(rec.samples, 90)) * 1e3 for rec in stored]
    p10 = [float(np.percentile(rec.samples, 10)) * 1e3 for rec in stored]
    assert band["y"] == pytest.approx(p90 + p10[::-1], rel=0.02)
    assert all(lo <= y <= hi for lo, y, hi in zip(p10, line["y"], p90))
    rel = traces["pybench / torch (cpu)"]
    assert rel["yaxis"] == "y2" and rel["y"][-1] == pytest.approx(1.25 * 0.5, rel=0.1)
    # the step at the 6th commit: a dashed red line on the relative axis, labelled
    assert [(s["xref"], s["x0"], s["line"]["color"]) for s in fig["layout"]["shapes"]] == \
        [("x2", 4.5, dashboard._SLOWER)]
    assert "%{customdata[0]}" in line["hovertemplate"] and line["customdata"][5][0] == "5" * 12


def test_commit_links_and_png_charts(site, tmp_path):
    """--commit-url links the regression's commits, and each point of the charts (its last
    customdata field, opened on click); --png also writes the charts as 1000 px PNGs."""
    hist = site.parent / "history"
    out = tmp_path / "linked"
    url = "https://example.org/pybench/commit/{}"
    assert cli.main(["dashboard", str(hist), "-o", str(out), "--commit-url", url,
                     "--png"]) == 0
    index = (out / "index.html").read_text()
    assert f'<a href="https://example.org/pybench/commit/{"5" * 40}">{"5" * 12}</a>' in index
    for fig in _figures(out / "suite-gram.html").values():
        for trace in fig["data"]:
            if "customdata" in trace:
                assert [cd[-1] for cd in trace["customdata"]] == \
                    [url.format(c) for c in [f"{i:x}" * 40 for i in range(8)][:len(trace["x"])]]
                assert "click: open the commit" in trace["hovertemplate"]
    import matplotlib.image as mpimg
    suite = (out / "suite-gram.html").read_text()
    pngs = re.findall(r'<a class="png" href="([^"]+)">PNG</a>', suite)
    assert len(pngs) == 4 and mpimg.imread(out / pngs[0]).shape[1] >= 1000


def _chromium(url, *extra, timeout=60):
    return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, "--enable-logging=stderr", "--v=0",
                           "--virtual-time-budget=5000", *extra, url],
                          capture_output=True, text=True, timeout=timeout)


def _console_errors(stderr):
    return [line for line in stderr.splitlines()
            if "CONSOLE" in line and ("Uncaught" in line or ":ERROR:" in line or "Error" in line)]


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install "
                    "chromium; scripts/setup.sh installs it)")
@pytest.mark.parametrize("page,machine", [("index.html", FINGERPRINT_A),
                                          ("suite-gram.html", FINGERPRINT_A),
                                          ("suite-gram.html", FINGERPRINT_B)])
def test_site_in_headless_chromium(site, tmp_path, page, machine):
    mid = history.machine_id(machine)
    url = (site / page).as_uri() + f"#m={mid}"
    proc = _chromium(url, "--dump-dom", f"--user-data-dir={tmp_path / 'profile'}")
    dom = proc.stdout
    assert proc.returncode == 0 and "<body" in dom, proc.stderr[-2000:]
    assert _console_errors(proc.stderr) == []
    body = re.search(r"<body([^>]*)>", dom).group(1)
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body))
    assert attrs.get("data-status") == "ready", body  # the page's script ran to the end
    assert attrs["data-js-errors"] == "0" and attrs["data-selected-machine"] == mid
    if page == "index.html":
        shown = [s for s in re.findall(r"<section ([^>]*)>", dom) if "hidden" not in s]
        assert shown == [f'data-machine="{mid}"']
        assert "gram/grid:c64_hw784/pybench/cpu" in dom  # the regressions list of machine A
    else:
        # this machine's 2 cases, drawn by plotly.js (its <svg class="main-svg"> in each
        # chart's div, the band's filled path among the traces); the other machine's not yet
        assert int(attrs["data-charts"]) == 2  # this machine's 2 cases
        assert attrs["data-charts-loaded"] == attrs["data-charts"]
        drawn = re.findall(r'<div class="plot[^"]*" id="chart-\d+"[^>]*data-rendered="1"', dom)
        assert len(drawn) == 2, re.findall(r'<div class="plot[^>]*>', dom)
        assert dom.count('class="main-svg"') >= 2 and "js-fill" in dom


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install "
                    "chromium; scripts/setup.sh installs it)")
def test_site_screenshot(site, tmp_path):
    shot = tmp_path / "index.png"
    proc = _chromium((site / "index.html").as_uri(), f"--screenshot={shot}",
                     "--window-size=1200,900", f"--user-data-dir={tmp_path / 'profile'}")
    assert proc.returncode == 0 and shot.stat().st_size > 10_000, proc.stderr[-2000:]
    if os.environ.get("PYBENCH_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["PYBENCH_KEEP_SCREENSHOT"])
