"""CLI of the cnn suite: argument validation with clear messages, list, report, --help, and a
small end-to-end `run --suite cnn` through the real worker."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pybench import cli, results
from pybench.suites import cnn

ROOT = Path(__file__).resolve().parents[1]


def _pybench(*args, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "pybench", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env)


@pytest.mark.parametrize("argv, message", [
    (["--models", "resnet19"], "unknown model 'resnet19'; choose from lenet5"),
    (["--models", "lenet5,,vgg11"], "expected a comma-separated list of model"),
    (["--models", "lenet5,lenet5"], "model 'lenet5' given twice"),
    (["--batch", "0"], "bad batch '0'"),
    (["--batch", "1,x"], "bad batch 'x'"),
    (["--backends", "torch,tensorrt"],
     "unknown backend 'tensorrt'; choose from torch, pybench, compile, onnxruntime, openvino"),
    (["--threads", "-2"], "expected a thread count in [1, "),
    (["--threads", "1000000000"], "cores available), got 1000000000"),
    (["--repetitions", "0"], "expected an integer in [1, 1000]"),
    (["--min-time", "-1"], "expected seconds in [0, 3600]"),
    (["--min-time", "inf"], "expected seconds in [0, 3600], got inf"),
    (["--min-time", "nan"], "expected seconds in [0, 3600], got nan"),
    (["--batch", "100000"], "bad batch '100000'"),
    (["--size", "99999"], "expected an integer in [1, 1024]"),
    (["--filter", "("], "bad regex"),
    (["--device", "tpu"], "invalid choice: 'tpu'"),
])
def test_run_arguments_validated(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", "--suite", "cnn", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_cnn_only_flags_rejected_for_other_suites(capsys):
    assert cli.main(["run", "--suite", "gram", "--models", "lenet5"]) == 2
    assert "--models only apply to --suite cnn" in capsys.readouterr().err


def test_report_of_missing_file(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        cli.main(["report", str(tmp_path / "nope.json")])
    assert exc.value.code == 2 and "no such result file" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"context": {}, "benchmarks": []}')
    assert cli.main(["report", str(bad)]) == 2
    assert "not a pybench result file" in capsys.readouterr().err
    other = tmp_path / "gram.json"
    other.write_text('{"context": {"pybench": {"api_version": 1, "suite": "gram"}}, "benchmarks": []}')
    assert cli.main(["report", str(other)]) == 2
    assert "a 'gram' result with no benchmark" in capsys.readouterr().err


def test_report_of_a_kernel_suite(tmp_path, capsys):
    """Every suite's result gets a report: its table, the geomean over torch and a plot."""
    import subprocess
    import sys
    import textwrap
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import torch
        from pybench.harness import BenchmarkSpec
        from pybench.harness.measure import run_benchmarks
        x = torch.randn(64, 64)
        def make(impl, slow):
            def setup():
                def run():
                    for _ in range(slow):
                        y = x @ x
                    return y
                return run, lambda out: 0.0
            return BenchmarkSpec(suite="gram", case="c64", implementation=impl, device="cpu",
                                 threads=1, flops=2 * 64 ** 3, bytes=0, setup=setup)
        run_benchmarks([make("pybench", 1), make("torch", 2)], repetitions=2, min_time=0.001,
                       warmup=0, output={str(tmp_path / 'gram-1.json')!r},
                       context={{"suite": "gram"}}, console=False)
        """))
    subprocess.run([sys.executable, str(script)], check=True, capture_output=True)
    assert cli.main(["report", str(tmp_path / "gram-1.json")]) == 0
    out = capsys.readouterr().out
    assert "pybench on cpu: geomean" in out and "html:" in out
    report = tmp_path / "gram-1-report"
    assert "data:image/png;base64," in (report / "report.html").read_text()
    assert "c64" in (report / "summary.csv").read_text()


@pytest.mark.parametrize("command", ["run", "list", "report", "info", "peak"])
def test_help(capsys, command):
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--help"])
    assert exc.value.code == 0
    assert "usage: pybench " + command in capsys.readouterr().out


def test_list(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for text in ("cnn", "conv", "resnet50", "mobilenet_v1", "cifar10_cnn", "mnist_mlp",
                 "DenseNet", "conv.txt" if False else "conv ", "compile"):
        assert text in out, text
    assert cli.main(["list", "shapes", "--shapes-file", "conv"]) == 0
    assert "lenet5:conv1 C=1 H=28 W=28 K=6" in capsys.readouterr().out


def test_run_cnn_end_to_end(tmp_path):
    proc = _pybench("run", "--suite", "cnn", "--models", "lenet5,mobilenet_v1", "--batch", "1,2",
                    "--size", "32", "--threads", "2", "--repetitions", "2", "--min-time", "0.001",
                    "--warmup", "0", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [path] = tmp_path.glob("cnn-*.json")
    df = results.load(path)
    ok = df[df.status == "ok"]
    # models x batches x default backends (torch, pybench and both engines) x 2
    assert len(ok) == 2 * 2 * len(cnn.DEFAULT_BACKENDS) * 2 and set(ok["size"]) == {28, 32}
    extra = json.loads(path.read_text())["context"]["pybench"]
    assert extra["threads"] == 2 and extra["fingerprint"]["gpu"] == "no CUDA device"
    assert extra["peak"]["fma_flops"] > 0 and extra["complete"]
    assert extra["conversion"]["mobilenet_v1"]["folded"]
    # The default --layout auto: per batch, the blocked and the NCHW conversion timed
    # against each other and the faster kept, with both times recorded.
    lenet = extra["conversion"]["lenet5"]
    assert lenet["layout"] == "auto" and set(lenet["layout_choice"]) == {"1", "2"}
    for c in lenet["layout_choice"].values():
        assert c["nchwc_s"] > 0 and c["nchw_s"] > 0
        assert c["chosen"] == ("nchwc" if c["nchwc_s"] <= c["nchw_s"] else "nchw")
    assert set(extra["onnx_export"]) == {"lenet5", "mobilenet_v1"}
    assert extra["fingerprint"]["onnxruntime"] and extra["fingerprint"]["openvino"]
    rep = path.with_name(path.stem + "-report")
    assert (rep / "report.html").is_file() and (rep / "summary.csv").is_file()
    assert "geomean speedup over torch eager per family" in proc.stdout
    # The progress bar counts the 2 models (one worker each) and ends at ETA 00:00.
    assert "ETA" in proc.stderr and "] 2/2  done  elapsed " in proc.stderr
    # The workers exit without multiprocessing's clean-up: they must leave nothing for its
    # resource tracker (tqdm's lock, taken by torch.fx, once did).
    assert "leaked" not in proc.stderr, proc.stderr


def test_report_states_compile_time(tmp_path):
    """The compile backend's first call (its compilation) is reported, beside eager's."""
    proc = _pybench("run", "--suite", "cnn", "--models", "lenet5", "--backends", "torch,compile",
                    "--batch", "1", "--threads", "2", "--repetitions", "1", "--min-time", "0.001",
                    "--warmup", "0", "--no-layers", "--out", str(tmp_path), timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (md,) = tmp_path.glob("cnn-*-report/report.md")
    text = md.read_text()
    assert "torch.compile: compilation" in text
    row = next(line for line in text.splitlines() if line.startswith("| lenet5"))
    compile_s, torch_s = (float(v) for v in row.strip("| ").split("|")[-2:])
    assert compile_s > torch_s > 0
