"""CPU ISA detection, the PYBENCH_MAX_CPU_ISA cap and the in-process switch."""
import os
import subprocess
import sys

import pytest

import pybench.ops as ops
from conftest import available_cpu_isas


def test_detected_isa_is_known():
    assert ops.detected_cpu_isa() in ops.CPU_ISAS
    assert ops.cpu_isa() in available_cpu_isas()


def test_use_cpu_isa_switches_and_restores():
    before = ops.cpu_isa()
    for isa in available_cpu_isas():
        with ops.use_cpu_isa(isa):
            assert ops.cpu_isa() == isa
        assert ops.cpu_isa() == before


def test_use_cpu_isa_restores_after_error():
    before = ops.cpu_isa()
    with pytest.raises(RuntimeError):
        with ops.use_cpu_isa("scalar"):
            raise RuntimeError("boom")
    assert ops.cpu_isa() == before


def test_unknown_isa_is_rejected():
    with pytest.raises(ValueError, match="unknown CPU ISA"):
        with ops.use_cpu_isa("sse9"):
            pass


@pytest.mark.skipif(ops.detected_cpu_isa() == "avx512", reason="this CPU supports every ISA")
def test_unsupported_isa_is_rejected():
    with pytest.raises(ValueError, match="does not support"):
        with ops.use_cpu_isa("avx512"):
            pass


def _run_with_env(value):
    env = dict(os.environ, PYBENCH_MAX_CPU_ISA=value)
    return subprocess.run(
        [sys.executable, "-c", "import pybench.ops as o; print(o.cpu_isa())"],
        env=env, capture_output=True, text=True,
    )


@pytest.mark.parametrize("cap", available_cpu_isas())
def test_env_cap(cap):
    result = _run_with_env(cap)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == cap


def test_env_cap_unknown_value_raises():
    result = _run_with_env("avx1024")
    assert result.returncode != 0
    assert "PYBENCH_MAX_CPU_ISA" in result.stderr
