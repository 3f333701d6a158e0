"""The ``pybench`` command starts fast: --help and --version import neither torch nor the
extension (only the command being run is imported), --version names what the extension
was built with, and pip installs a ``pybench`` console script."""
from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import time

import pytest
import torch

import pybench

PROBE = """
import sys
import pybench.cli as cli
try:
    cli.main({argv!r})
except SystemExit:
    pass
print("LOADED", sorted(m for m in ("torch", "pybench.ops", "pybench._C", "pandas")
                       if m in sys.modules))
"""


def _probe(argv):
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["report", "--help"],
                                  ["dashboard", "--help"]])
def test_light_commands_load_no_torch(argv):
    assert "LOADED []" in _probe(argv)


def test_list_answers_fast_without_torch():
    """`pybench list` prints the static catalog (pybench.catalog): no torch, no extension,
    no pandas, and it starts in well under a second (was ~6 s: it built every model to
    count its FLOPs). The bound is generous for a busy 2-core machine; best of 3 runs."""
    out = _probe(["list"])
    assert "LOADED []" in out and "resnet50" in out and "GFLOP b1" in out and "gram" in out
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pybench", "list"], capture_output=True,
                              text=True, timeout=60)
        best = min(best, time.perf_counter() - start)
        assert proc.returncode == 0 and "mobilenet_v2" in proc.stdout, proc.stderr
    assert best < 1.5, f"pybench list took {best:.2f} s"


def test_the_command_run_is_the_only_one_imported():
    # `info` needs torch (the fingerprint); its being loaded shows the probe can fail.
    assert "'torch'" in _probe(["info", "--json"])


def test_import_pybench_is_light_and_ops_loads_on_use():
    code = ("import sys, pybench; print('torch' in sys.modules); "
            "pybench.ops.cpu_isa(); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.split() == ["False", "True"], out.stderr
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pybench.nope  # noqa: B018


def test_version_names_the_build(capsys):
    from pybench import cli
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert text.startswith(f"pybench {pybench.__version__} (built against torch ")
    assert torch.__version__ in text
    assert ("CUDA kernels for sm_80, sm_90" in text) == pybench.ops.has_cuda_kernels()


def test_console_script():
    exe = shutil.which("pybench", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.skip("no `pybench` console script beside this interpreter: pybench is not "
                    "pip-installed here (scripts/setup.sh installs it)")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith(f"pybench {pybench.__version__}")
    out = subprocess.run([exe, "list", "nonsense"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "invalid choice" in out.stderr
