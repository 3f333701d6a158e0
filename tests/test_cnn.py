"""The cnn suite: every family against its pybench.nn.convert twin, the per-layer breakdown,
the runner (a failing case, a crashed worker, an interrupt), results.load and the report."""
from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from pybench import models, results, runner
from pybench.analysis import report
from pybench.results import schema
from pybench.suites import cnn

ROOT = Path(__file__).resolve().parents[1]
FAULTY = "cnn_faulty_worker:child"  # tests/ is on sys.path (pytest's rootdir-relative import)


def _env(**extra):
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            **extra}


def _strict_load(path):
    def no_constants(name):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(Path(path).read_text(), parse_constant=no_constants)


# --- every family matches its converted twin -------------------------------------------------

# One model per family (tests/test_models.py builds and runs every model), plus the
# hand-written MobileNet-v1 and ResNet-50's bottlenecks; VGG-16/19 only add minutes.
@pytest.mark.parametrize("name", [*cnn.QUICK_MODELS, "mobilenet_v1", "resnet50"])
def test_family_runs_and_matches_converted_twin(name):
    spec = models.get(name)
    bench = cnn.ModelBench(name, "cpu", batches=(3,), size=spec.min_size)  # small inputs: fast
    for backend in ("torch", "pybench"):
        run, check = bench.setup(backend, 3)
        out = run()
        assert out.shape == (3, 10 if spec.family in ("LeNet", "Tutorial") else 1000)
        assert torch.isfinite(out).all()
        assert check(out) <= cnn.TOLERANCE, (backend, check(out))
    # The check can fail: a 1e-3 relative perturbation is caught.
    out = bench.setup("pybench", 3)[0]()
    assert check(out * (1 + 1e-3)) > cnn.TOLERANCE
    conversion = bench.conversion
    assert bool(conversion["converted"]) == any(isinstance(m, torch.nn.Conv2d)
                                                for m in bench.eager.modules())
    # Every conv of these models runs a pybench kernel, alone or inside a fused block.
    left = [n for n, m in bench.module("pybench").named_modules() if type(m) is torch.nn.Conv2d]
    assert not left, left
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in bench.eager.modules())
    assert len(conversion["folded"]) <= n_bn
    if name in ("resnet18", "vgg11", "mobilenet_v1"):
        assert len(conversion["folded"]) == n_bn > 0 or name == "vgg11"


def test_case_specs_carry_flops_images_and_params():
    bench = cnn.ModelBench("resnet18", "cpu", batches=(1, 2), size=32)
    specs = bench.specs(("torch", "pybench"), threads=2)
    assert [s.name for s in specs] == [
        "cnn/resnet18/N:1/HW:32/torch/cpu", "cnn/resnet18/N:1/HW:32/pybench/cpu",
        "cnn/resnet18/N:2/HW:32/torch/cpu", "cnn/resnet18/N:2/HW:32/pybench/cpu"]
    assert specs[2].flops == 2 * specs[0].flops == models.get("resnet18").flops(2, size=32)
    assert specs[2].images == 2 and specs[2].params["family"] == "ResNet"
    # Every backend gets an untimed call per repetition (the previous spec's spinning
    # threads would otherwise slow its first, often only, timed call).
    assert all(s.rewarm for s in specs)
    assert cnn.input_size(models.get("alexnet"), 32) == 63  # raised to the model's minimum
    assert cnn.input_size(models.get("lenet5"), 64) == 28  # fixed-size model


def test_layer_breakdown_types_shapes_and_labels():
    bench = cnn.ModelBench("lenet5", "cpu", batches=(4,))
    rows = cnn.layer_breakdown(bench.module("torch"), bench.inputs[4], passes=2)
    by_layer = {r["layer"]: r for r in rows}
    assert by_layer["conv1"]["type"] == "Conv2d 5x5"
    assert by_layer["conv1"]["runs_as"] == "PyTorch"
    # The geometry is found in the conv suite's shape list.
    assert by_layer["conv1"]["conv_name"] == "lenet5:conv1"
    assert by_layer["conv2"]["conv_name"] == "lenet5:conv2"
    assert by_layer["conv1"]["flops"] == 2 * 4 * 6 * 28 * 28 * 25
    assert by_layer["fc1"]["flops"] == 2 * 4 * 400 * 120
    assert all(r["time_s"] >= 0 for r in rows) and "(other)" in by_layer
    converted = cnn.layer_breakdown(bench.module("pybench"), bench.inputs[4], passes=2)
    kinds = {r["layer"]: r["runs_as"] for r in converted}
    assert kinds["conv1"] == kinds["conv2"] == "pybench" and kinds["fc1"] == "PyTorch"

    mb = cnn.ModelBench("mobilenet_v1", "cpu", batches=(1,), size=32)
    rows = cnn.layer_breakdown(mb.module("pybench"), mb.inputs[1], passes=1)
    types = {r["type"] for r in rows}
    assert {"SeparableConv2d", "Conv2d 3x3"} <= types  # the blocks fused, the stem alone
    assert "BatchNorm2d" not in types  # folded
    fused = [r for r in rows if r["type"] == "SeparableConv2d"]
    assert all(r["runs_as"] == "pybench" and r["flops"] > 0 and r["bytes"] > 0 for r in fused)
    # Fused layers are credited the FLOPs of the convolutions they replace.
    assert sum(r["flops"] for r in rows) == models.get("mobilenet_v1").flops(1, size=32)
    torch_types = {r["type"] for r in cnn.layer_breakdown(mb.module("torch"), mb.inputs[1], passes=1)}
    assert "BatchNorm2d" in torch_types


# --- the runner: failures, crashes, interrupts, and what the results and report say ----------

def _plan(models_, worker="pybench.worker:child", worker_args=(), **kw):
    # The engines' export and compile are tested in test_engines.py; here they would only
    # add minutes.
    kw = {"batches": (1, 2), "threads": 1, "repetitions": 2, "min_time": 0.001, "warmup": 0.0,
          "backends": ("torch", "pybench"), **kw}
    return runner.Plan(models=tuple(models_), settings=cnn.Settings(**kw), worker=worker,
                       worker_args=worker_args)


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    """lenet5 fine, cifar10_cnn's pybench backend wrong, mnist_mlp's worker crashes."""
    out = tmp_path_factory.mktemp("run") / "cnn-test.json"
    # warmup 0.05 s: lenet5's calls are shorter and get Google Benchmark's warm-up (which
    # renames the run), a slow call's validation serves as its warm-up.
    plan = _plan(["lenet5", "cifar10_cnn", "mnist_mlp"], worker=FAULTY, warmup=0.05,
                 worker_args=("cifar10_cnn=wrong,mnist_mlp=crash",))
    with open(os.devnull, "w") as devnull:
        doc, interrupted = runner.run(plan, out, log=lambda s: None, progress=devnull)
    return out, doc, interrupted


def test_run_survives_wrong_results_and_crashed_worker(faulty_run):
    out, doc, interrupted = faulty_run
    assert not interrupted
    disk = _strict_load(out)  # no NaN / Infinity anywhere
    extra = disk["context"]["pybench"]
    assert extra["complete"] and [c["model"] for c in extra["cases"]] == [
        "lenet5", "cifar10_cnn", "mnist_mlp"]
    # What other processes did while each model ran (pybench.noise), the crashed one too.
    assert all(isinstance(c["busy"], bool) and c["other_busy_cpus"] >= 0 for c in extra["cases"])
    assert disk["context"]["library_version"] == "1.9.5"
    fails = {(f["params"]["model"], f["params"]["batch"], f["implementation"]): f
             for f in extra["failures"]}
    assert fails[("cifar10_cnn", 1, "pybench")]["stage"] == "validation"
    assert "exceeds tolerance" in fails[("cifar10_cnn", 2, "pybench")]["error"]
    assert fails[("mnist_mlp", 1, "torch")]["stage"] == "worker"
    assert "injected crash" in fails[("mnist_mlp", 2, "pybench")]["error"]
    assert len(fails) == 6
    timed = {(b["pybench"]["params"]["model"], b["pybench"]["implementation"])
             for b in disk["benchmarks"] if b["run_type"] == "iteration"}
    assert timed == {("lenet5", "torch"), ("lenet5", "pybench"), ("cifar10_cnn", "torch")}
    warmed = set()
    for b in disk["benchmarks"]:
        if b["run_type"] == "iteration":
            assert b["images/s"] > 0 and b["FLOP/s"] > 0
            assert len(b["pybench"]["samples_s"]) == 2
            w = b["pybench"]["warmup_s"]
            assert w == (0.0 if b["pybench"]["validation_call_s"] >= 0.05 else 0.05)
            warmed.add(w)
    assert 0.05 in warmed  # lenet5's calls are far below 50 ms
    assert {r["model"] for r in extra["layers"]} == {"lenet5", "cifar10_cnn"}


def test_gb_spec_name_strips_registration_options():
    assert schema.gb_spec_name("cnn/a/N:1/HW:28/torch/cpu/min_warmup_time:0.050/manual_time") \
        == "cnn/a/N:1/HW:28/torch/cpu"
    assert schema.gb_spec_name("t/c/N:1/torch/cpu/manual_time") == "t/c/N:1/torch/cpu"


def test_results_load_round_trips_the_json(faulty_run):
    out, doc, _ = faulty_run
    df = results.load(out)
    assert list(df.columns) == results.COLUMNS
    ok = df[df.status == "ok"]
    reps = [b for b in doc["benchmarks"] if b["run_type"] == "iteration"]
    assert len(ok) == len(reps) == 3 * 2 * 2  # 3 timed (model, backend) x 2 batches x 2 reps
    assert not ok[["time_s", "gflops_per_s", "images_per_s", "validation_error"]].isna().any().any()
    # Every repetition's time is the one Google Benchmark wrote for it.
    for b in reps:
        row = ok[(ok.name == schema.gb_spec_name(b["run_name"]))
                 & (ok.repetition == b["repetition_index"])]
        assert len(row) == 1
        assert row.time_s.iloc[0] == pytest.approx(b["real_time"] * 1e-3, rel=1e-9)
        assert row.gflops_per_s.iloc[0] == pytest.approx(b["FLOP/s"] / 1e9, rel=1e-6)
        assert row.images_per_s.iloc[0] == pytest.approx(b["images/s"], rel=1e-6)
    bad = df[df.status != "ok"]
    assert len(bad) == 6 and set(bad.stage) == {"validation", "worker"}
    stats = results.cases(df)
    lenet = stats[(stats.model == "lenet5") & (stats.batch == 2)].set_index("backend")
    times = ok[(ok.model == "lenet5") & (ok.batch == 2)].groupby("backend").time_s.median()
    assert lenet.loc["pybench", "speedup"] == pytest.approx(times["torch"] / times["pybench"])
    assert lenet.loc["torch", "speedup"] == 1.0


def test_report_contents(faulty_run, tmp_path):
    out, _, _ = faulty_run
    files = report.write(out, tmp_path / "rep")
    md, page = files["md"].read_text(), files["html"].read_text()
    for text in (md, page, files["csv"].read_text(), files["tidy_csv"].read_text()):
        assert not re.search(r"\bnan\b", text, re.IGNORECASE)
    t = report.build(out)
    summary = t.summary()
    row = summary[(summary.model == "lenet5") & (summary.backend == "pybench")].iloc[0]
    s = t.cases[(t.cases.model == "lenet5") & (t.cases.backend == "pybench") & (t.cases.batch == 2)]
    assert row["CPU vs torch b2"] == f"{s.speedup.iloc[0]:.2f}x"
    assert row["CPU vs torch b2"] in md and row["CPU vs torch b2"] in page
    assert row["GPU img/s b1"] == report.NO_CUDA and row["GPU÷CPU b2"] == report.NO_CUDA
    bad = summary[(summary.model == "cifar10_cnn") & (summary.backend == "pybench")].iloc[0]
    assert bad["CPU img/s b1"] == "FAILED" and bad["CPU vs torch b2"] == "FAILED"
    assert "no CUDA device" in md and "exceeds tolerance" in md and "injected crash" in md
    # The terminal shows only the devices that ran, within 120 columns, and says why not.
    console = report.console_summary(out)
    assert "GPU img/s" not in console and "GPU÷CPU" not in console
    assert "CPU img/s b1" in console and "(not run: cuda -- no CUDA device" in console
    assert max(map(len, console.splitlines())) <= 120
    assert "| lenet5 " in md and "Per-family geometric mean" in md
    assert "Conv2d 5x5" in md and "lenet5:conv1" in md
    # Self-contained: plots inline, nothing fetched.
    assert page.count("data:image/png;base64,") >= 3
    assert "roofline" in page and not re.search(r"(src|href)=['\"]https?:", page)
    csv = pd.read_csv(files["csv"])
    assert set(csv.model) == {"lenet5", "cifar10_cnn", "mnist_mlp"}
    fam = t.families()
    lenet_fam = fam[(fam.family == "LeNet") & (fam.backend == "pybench")].iloc[0]
    sp = t.cases[(t.cases.model == "lenet5") & (t.cases.backend == "pybench")].speedup
    assert lenet_fam["geomean speedup"] == pytest.approx(math.exp(sum(map(math.log, sp)) / 2))


_INTERRUPT = textwrap.dedent("""
    import sys
    from pybench import runner
    from pybench.suites import cnn
    if __name__ == "__main__":  # workers are forked through multiprocessing
        sys.path.insert(0, sys.argv[2])
        settings = cnn.Settings(batches=(1,), threads=1, repetitions=2, min_time=0.001,
                                warmup=0.0, backends=("torch", "pybench"))
        plan = runner.Plan(models=("lenet5", "cifar10_cnn", "mnist_mlp"), settings=settings,
                           worker="cnn_faulty_worker:child", worker_args=("cifar10_cnn=hang",))
        doc, interrupted = runner.run(plan, sys.argv[1])
        sys.exit(130 if interrupted else 0)
""")


def test_interrupt_keeps_finished_models(tmp_path):
    script, out = tmp_path / "run.py", tmp_path / "cnn.json"
    script.write_text(_INTERRUPT)
    proc = subprocess.Popen([sys.executable, str(script), str(out), str(ROOT / "tests")],
                            env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until lenet5 is written and cifar10_cnn hangs
        time.sleep(0.5)
        if out.is_file() and len(_strict_load(out)["context"]["pybench"]["cases"]) == 1:
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    extra = _strict_load(out)["context"]["pybench"]
    assert extra["interrupted"] and not extra["complete"]
    assert [c["status"] for c in extra["cases"]] == ["done", "interrupted"]
    df = results.load(out)
    assert set(df[df.status == "ok"].model) == {"lenet5"}
    assert set(df[df.status == "interrupted"].model) == {"cifar10_cnn"}
    assert "mnist_mlp" not in set(df.model)
    md = report.write(out, tmp_path / "rep")["md"].read_text()
    assert "PARTIAL RESULTS" in md and "after 2 of 3 models" in md


_HARNESS_INTERRUPT = textwrap.dedent("""
    import sys, torch
    from pybench.harness import BenchmarkSpec, run_benchmarks
    x = torch.randn(8, 8)
    calls = {"n": 0}
    def slow():  # interrupted while timed
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt
        return x + 1
    specs = [BenchmarkSpec(suite="t", case=f"c{i}", implementation="torch", device="cpu",
                           threads=1, flops=64, bytes=512, images=8,
                           setup=lambda fn=fn: (fn, lambda out: 0.0))
             for i, fn in enumerate([lambda: x + 1, slow])]
    r = run_benchmarks(specs, repetitions=3, min_time=0.001, warmup=0, output=sys.argv[1])
    print(len(r.measurements), len(r.failures))
""")


def test_harness_interrupt_inside_google_benchmark_keeps_the_rest(tmp_path):
    script, out = tmp_path / "h.py", tmp_path / "h.json"
    script.write_text(_HARNESS_INTERRUPT)
    proc = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True,
                          timeout=120, env=_env())
    assert proc.returncode == 0, proc.stderr
    doc = _strict_load(out)
    assert doc["context"]["pybench"]["interrupted"] is True
    fails = doc["context"]["pybench"]["failures"]
    # c1 was interrupted; c0, interleaved with it at random, may or may not have finished.
    assert "c1" in [f["case"] for f in fails]
    assert all(f["error"] == "interrupted (KeyboardInterrupt)" for f in fails)
    timed = {b["pybench"]["case"] for b in doc["benchmarks"] if b.get("pybench", {}).get("samples_s")}
    assert timed == ({"c0"} if len(fails) == 1 else set())


def test_report_warns_when_the_peak_was_measured_low(faulty_run):
    out, _, _ = faulty_run
    doc = results.read(out)
    assert not any(line.startswith("WARNING") for line in report.build(doc).headline())
    doc["context"]["pybench"]["peak"] = {"fma_flops": 1.0, "triad_bytes_per_s": 1.0}
    assert any(line.startswith("WARNING: a case reached") for line in report.build(doc).headline())


def test_report_marks_a_run_on_a_busy_machine(faulty_run):
    out, _, _ = faulty_run
    doc = results.read(out)
    extra = doc["context"]["pybench"]
    extra["noise"] = {"before": {"loadavg": [2.1, 2.0, 1.9], "busy": True,
                                 "why": ["1-minute load average 2.10"]}}
    for c in extra["cases"]:  # as measured, these depend on what else ran meanwhile
        c.update(busy=False, other_busy_cpus=0.0)
    extra["cases"][0].update(busy=True, other_busy_cpus=1.2)
    lines = report.build(doc).headline()
    assert any(line.startswith("BUSY MACHINE before the run") for line in lines)
    assert any("BUSY during 1 of 3 models" in line and "lenet5 (1.20 CPUs)" in line
               for line in lines)
    assert "BUSY MACHINE before the run" in report.console_summary(doc)


def test_settings_resolved_once_and_carried_to_every_worker():
    quick = cnn.Settings.resolve(quick=True, backends=("pybench",), repetitions=None, threads=2)
    assert (quick.repetitions, quick.min_time, quick.warmup, quick.size) == (3, 0.01, 0.01,
                                                                             cnn.QUICK_SIZE)
    assert quick.backends == ("torch", "pybench") and quick.threads == 2
    full = cnn.Settings.resolve(repetitions=7, size=None)
    assert (full.repetitions, full.min_time, full.warmup, full.size) == (7, 0.1, 0.05, None)
    plan = runner.Plan(models=("lenet5", "alexnet"), settings=quick, devices=("cpu",))
    items = runner.work_items(plan)
    assert [w.model for w in items] == ["lenet5", "alexnet"]
    assert all(w.settings is quick for w in items)
    assert cnn.Work.from_json(items[0].to_json()) == items[0]


def test_pybench_backend_nchw_measures_choices_per_batch():
    """--layout nchw with --choose measure: every conv of lenet5 decided by timing, per batch."""
    bench = cnn.ModelBench("lenet5", "cpu", (1, 2), threads=2, choose="measure", layout="nchw")
    for b in (1, 2):
        bench.module("pybench", b)
    choices = bench.conversion["choices"]
    assert bench.conversion["layout"] == "nchw" and set(choices) == {"1", "2"}
    for c in choices["1"]:
        assert c["chosen"] == ("pybench" if c["pybench_s"] <= c["torch_s"] else "torch")


def test_pybench_backend_nchwc_one_model_for_every_batch():
    bench = cnn.ModelBench("resnet18", "cpu", (1, 2), size=32, threads=2, choose="measure",
                           layout="nchwc")
    model = bench.module("pybench", 1)
    assert bench.module("pybench", 2) is model
    assert bench.conversion["layout"] == "nchwc"
    rules = {path: rule.replace(" (winograd)", "") for path, rule in bench.conversion["converted"]}
    assert rules["layer1.0.conv2"] == "nchwc conv2d + residual + relu"
    with torch.inference_mode():
        assert bench.error(2, model(bench.inputs[2])) <= cnn.TOLERANCE


def test_pybench_backend_falls_back_to_nchw_when_the_graph_cannot_be_blocked(monkeypatch):
    import importlib
    convert = importlib.import_module("pybench.nn.convert")

    def refuse(*args, **kwargs):
        raise RuntimeError("no graph")
    monkeypatch.setattr(convert, "convert_blocked", refuse)
    bench = cnn.ModelBench("lenet5", "cpu", (1,), threads=2, choose="all", layout="nchwc")
    bench.module("pybench", 1)
    assert bench.conversion["layout"] == "nchw"
    assert bench.conversion["nchwc_error"] == "RuntimeError: no graph"


def test_console_summary_explains_the_noise_mark(faulty_run):
    out, _, _ = faulty_run
    doc = results.read(out)
    legend = "† = CV over"
    # Every timed case steady: no mark, no legend.
    for b in doc["benchmarks"]:
        if b.get("pybench", {}).get("samples_s"):
            b["pybench"]["samples_s"] = [0.01] * len(b["pybench"]["samples_s"])
    assert legend not in report.console_summary(doc)
    # One case's repetitions spread 1 -> 3x: marked, and the legend printed.
    # (each repetition's entry carries the samples and reads its own)
    case = next(b["pybench"]["case"] for b in doc["benchmarks"] if b.get("pybench", {}).get("samples_s"))
    for b in doc["benchmarks"]:
        if b.get("pybench", {}).get("case") == case and b["pybench"].get("samples_s"):
            n = len(b["pybench"]["samples_s"])
            b["pybench"]["samples_s"] = [0.01 * (1 + 2 * i / max(1, n - 1)) for i in range(n)]
    text = report.console_summary(doc)
    assert "†" in text.split(legend)[0] and legend in text
