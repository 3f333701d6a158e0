"""The train suite: every workload's step validated against float64 (loss and every
gradient) for each implementation, the check fails on a wrong gradient, pybench's step runs
pybench's kernels, and the CLI runs it end to end."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from pybench import ops
from pybench.harness.measure import validate
from pybench.shapes import Shape
from pybench.suites import get, train


def _spec(case, impl):
    return next(s for s in train.TrainSuite().specs(case, device="cpu", threads=2)
                if s.implementation == impl)


@pytest.mark.parametrize("impl", ["torch", "pybench"])
@pytest.mark.parametrize("case", train.CASES[:3], ids=lambda c: c.name)
def test_small_workloads_validate(case, impl):
    outcome = validate(_spec(case, impl))
    assert isinstance(outcome, tuple), outcome
    assert outcome[1] <= 1e-5  # measured <= 1.8e-6


def test_compile_validates():
    outcome = validate(_spec(train.CASES[0], "compile"))
    assert isinstance(outcome, tuple), outcome


def test_style_step_runs_pybench_gram(monkeypatch):
    calls = []
    real = ops.gram
    monkeypatch.setattr(ops, "gram", lambda *a, **k: calls.append(1) or real(*a, **k))
    case = Shape("style_vgg19", (("N", 1), ("HW", 32)))
    for impl in ("torch", "pybench"):
        outcome = validate(_spec(case, impl))
        assert isinstance(outcome, tuple), outcome
    assert calls, "the pybench style step did not use pybench.ops.gram"


def test_check_fails_on_a_wrong_gradient():
    work = train._Workload(train.CASES[1], "cpu")
    step, params = work.make_step("pybench")
    loss = step()
    check = work.checker(params)
    assert check(loss) <= 1e-5
    params[0][1].grad.mul_(1.01)
    assert check(loss) > train.TOLERANCE
    assert check(loss * 1.01) > train.TOLERANCE


def test_registered_with_every_implementation():
    suite = get("train")
    assert suite.implementations == ("torch", "pybench", "compile")
    assert [c.name for c in suite.cases()] == ["mnist_mlp", "cifar10_cnn", "sentiment_lstm",
                                                "style_vgg19", "resnet18"]


def test_cli_quick_run(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pybench", "run", "--suite", "train", "--quick", "--threads",
         "2", "--repetitions", "1", "--min-time", "0.001s", "--filter", "(torch|pybench)/",
         "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = tmp_path.glob("train-*.json")
    doc = json.loads(path.read_text())
    names = {b["run_name"] if "run_name" in b else b["name"] for b in doc["benchmarks"]}
    for case in ("mnist_mlp", "cifar10_cnn", "sentiment_lstm"):
        for impl in ("torch", "pybench"):
            assert any(n.startswith(f"train/{case}") and f"/{impl}/" in n for n in names), names
