import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pybench import cli

ROOT = Path(__file__).resolve().parents[1]


def _pybench(*args, timeout=120):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "pybench", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env)


def _strict_load(path):
    def no_constants(name):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(path.read_text(), parse_constant=no_constants)


def test_info_prints_fingerprint():
    proc = _pybench("info")
    assert proc.returncode == 0, proc.stderr
    for field in ("cpu_model", "cpu_isa_detected", "cpu_isa_in_use", "threads", "torch", "cuda",
                  "cudnn", "onednn", "extension_cuda_kernels", "gpu"):
        assert any(line.split()[0] == field for line in proc.stdout.splitlines()), field
    info = json.loads(_pybench("info", "--json").stdout)
    assert info["cpu_isa_in_use"] in ("avx512", "avx2", "scalar")
    assert isinstance(info["gpu"], str) and info["threads"] >= 1


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", "--suite", "no_such_suite"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        cli.main(["run", "--suite", "style", "--repetitions", "0"])
    with pytest.raises(SystemExit):
        cli.main([])


def test_run_style_quick_end_to_end(tmp_path):
    proc = _pybench("run", "--suite", "style", "--quick", "--threads", "2", "--min-time", "0.001s",
                    "--repetitions", "2", "--warmup", "0", "--output", str(tmp_path))
    files = list(tmp_path.glob("style-*.json"))
    assert len(files) == 1, proc.stdout + proc.stderr
    doc = _strict_load(files[0])
    extra = doc["context"]["pybench"]
    assert extra["api_version"] == 1 and extra["suite"] == "style" and extra["threads"] == 2
    assert extra["fingerprint"]["threads"] == 2
    timed = {(b["pybench"]["case"], b["pybench"]["implementation"])
             for b in doc["benchmarks"] if b["run_type"] == "iteration"}
    failed = {(f["case"], f["implementation"]) for f in extra["failures"]}
    assert len(timed | failed) == 6  # the first 3 cases x {pybench, torch}
    assert not any(impl == "torch" for _, impl in failed), extra["failures"]
    assert proc.returncode == (1 if failed else 0), proc.stderr
    assert "vs torch" in proc.stdout and "vgg19:conv1_1/N:1/C:64/H:400/W:400" in proc.stdout


def test_run_filter_matching_nothing(tmp_path):
    proc = _pybench("run", "--suite", "gram", "--filter", "^nothing$", "--output", str(tmp_path))
    assert proc.returncode == 2 and "no benchmark matches" in proc.stderr
    assert not list(tmp_path.iterdir())
