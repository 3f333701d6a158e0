"""The sdist carries everything a build from it needs: every tracked C++ / CUDA source and
header (setuptools alone packed only the sources named in ext_modules, and a build from the
sdist failed on the first #include), CMake's tests and benchmarks, and the shape files."""
from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tracked(*paths: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", *paths], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"not a git checkout: {out.stderr.strip()}")
    return out.stdout.split()


def test_sdist_holds_every_source_and_header(tmp_path):
    wanted = _tracked("csrc", "bench", "pybench/shapes", "CMakeLists.txt", "MANIFEST.in")
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path)], cwd=ROOT,
                   check=True, capture_output=True, timeout=600)
    (archive,) = tmp_path.glob("pybench-*.tar.gz")
    with tarfile.open(archive) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    missing = [f for f in wanted if f not in names and f != "MANIFEST.in"]
    assert not missing, missing[:20]
    assert not any(n.endswith((".so", ".o")) for n in names)


def test_wheel_is_tagged_abi3():
    text = (ROOT / "setup.py").read_text()
    assert '"py_limited_api": "cp310"' in text and "py_limited_api=True" in text
