"""The engines baselines (issue 15): ONNX export, ONNX Runtime and OpenVINO as cnn backends,
validated like every backend; a model the exporter rejects is a failed case, not a crash."""
from __future__ import annotations

import json
import os
import sys

import pytest
import torch
from torch import nn

import pybench.nn as pnn
from pybench import engines, harness, machine, runner
from pybench.harness import measure
from pybench.suites import cnn

pytest.importorskip("onnxruntime", reason="onnxruntime not installed (scripts/setup.sh installs it)")
pytest.importorskip("openvino", reason="openvino not installed (scripts/setup.sh installs it)")

ENGINES = ("onnxruntime", "openvino")


def _reference64(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    import copy
    with torch.inference_mode():
        return copy.deepcopy(model).double()(x.double())


@pytest.mark.parametrize("engine", [engines.OnnxRuntimeModel, engines.OpenVinoModel])
def test_engine_matches_float64_at_every_batch(tmp_path, engine):
    torch.manual_seed(3)
    # Odd channel counts and sizes, a pooling layer and a residual-free head.
    model = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Conv2d(5, 7, 3, stride=2), nn.Flatten(),
                          nn.Linear(7 * 2 * 2, 11)).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so folding is exercised
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
    export = engines.export_onnx(model, torch.randn(1, 3, 13, 13), tmp_path / "m.onnx")
    assert isinstance(export["opset"], int) and export["opset"] >= 17
    run = engine(export["path"], threads=2)
    for batch in (1, 3, 8):  # one export serves every batch
        x = torch.randn(batch, 3, 13, 13)
        out = run(x)
        ref = _reference64(model, x)
        assert out.dtype == torch.float32 and out.shape == ref.shape
        assert harness.relative_error(out, ref) < 1e-5
    # A second call must not hand back a buffer the first result still aliases.
    a = run(torch.randn(2, 3, 13, 13))
    a_copy = a.clone()
    run(torch.randn(2, 3, 13, 13))
    assert torch.equal(a, a_copy)


def test_export_failure_names_the_op(tmp_path):
    converted = pnn.convert(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval())
    with pytest.raises(engines.EngineError, match=r"torch\.onnx\.export failed.*pybench\.conv2d"):
        engines.export_onnx(converted, torch.randn(1, 3, 8, 8), tmp_path / "bad.onnx")


def test_openvino_refuses_cuda(tmp_path):
    export = engines.export_onnx(nn.Linear(4, 2).eval(), torch.randn(1, 4), tmp_path / "l.onnx")
    with pytest.raises(engines.EngineError, match="CPU only"):
        engines.OpenVinoModel(export["path"], 1, "cuda")


def test_missing_engine_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    with pytest.raises(engines.EngineError, match="onnxruntime is not installed.*setup.sh"):
        engines.OnnxRuntimeModel(tmp_path / "none.onnx", 1)


def test_model_the_exporter_rejects_is_a_failed_case(monkeypatch):
    """Both engine specs fail validation with the exporter's reason; torch still times."""
    bench = cnn.ModelBench("lenet5", "cpu", (1,), threads=1)
    bench.eager = pnn.convert(bench.eager)  # pybench's custom ops have no ONNX function
    specs = bench.specs(("torch", *ENGINES), threads=1)
    outcomes = {s.implementation: measure.validate(s) for s in specs}
    assert not isinstance(outcomes["torch"], harness.Failure)
    for name in ENGINES:
        failure = outcomes[name]
        assert isinstance(failure, harness.Failure) and failure.stage == "validation"
        assert "torch.onnx.export failed" in failure.error and "pybench.conv2d" in failure.error


def test_openvino_has_no_cuda_specs():
    work = cnn.Work("lenet5", "cuda", cnn.Settings(batches=(1,), backends=("torch", *ENGINES)))
    assert [s.implementation for s in cnn.planned_specs(work)] == ["torch", "onnxruntime"]
    work = cnn.Work("lenet5", "cpu", work.settings)
    assert [s.implementation for s in cnn.planned_specs(work)] == ["torch", *ENGINES]


def test_fingerprint_names_engine_versions():
    info = machine.machine_info()
    for key in ("onnx", "onnxruntime", "openvino"):
        assert isinstance(info[key], str) and info[key][0].isdigit(), key
    assert "onnxruntime_gpu" in info  # None on a CPU-only install, but always reported


@pytest.fixture(scope="module")
def engine_run(tmp_path_factory):
    """The suite end to end on LeNet-5 and a small ResNet at small input (as --quick)."""
    out = tmp_path_factory.mktemp("engines") / "cnn-engines.json"
    settings = cnn.Settings.resolve(quick=True, batches=(1, 2), threads=2, repetitions=2,
                                    backends=("torch", *ENGINES))
    plan = runner.Plan(models=("lenet5", "resnet18"), settings=settings, devices=("cpu",))
    with open(os.devnull, "w") as devnull:
        doc, interrupted = runner.run(plan, out, log=lambda s: None, progress=devnull)
    assert not interrupted
    return out


def test_engines_validated_and_timed_in_the_suite(engine_run):
    doc = json.loads(engine_run.read_text())
    extra = doc["context"]["pybench"]
    assert extra["failures"] == []
    timed = {(b["pybench"]["params"]["model"], b["pybench"]["params"]["batch"],
              b["pybench"]["implementation"]) for b in doc["benchmarks"]}
    for model in ("lenet5", "resnet18"):
        for batch in (1, 2):
            for backend in ("torch", *ENGINES):
                assert (model, batch, backend) in timed
    for model in ("lenet5", "resnet18"):
        export = extra["onnx_export"][model]
        assert export["opset"] >= 17 and export["exporter"].startswith("torch.onnx.export")
        assert export["onnxruntime_providers"] == ["CPUExecutionProvider"]


def test_engines_in_report_and_family_geomeans(engine_run):
    from pybench.analysis import report
    tables = report.build(engine_run)
    fam = tables.families()
    assert set(ENGINES) <= set(fam.backend)
    summary = tables.summary()
    assert set(ENGINES) <= set(summary.backend)
    files = report.write(engine_run)
    html = files["html"].read_text()
    assert "onnxruntime" in html and "openvino" in html


def test_fingerprint_records_isa_caps(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.delenv("MKL_ENABLE_INSTRUCTIONS", raising=False)
    caps = machine.machine_info()["isa_caps"]
    assert caps.get("ONEDNN_MAX_CPU_ISA") == "AVX2" and "MKL_ENABLE_INSTRUCTIONS" not in caps
