#!/usr/bin/env bash
# Every test: pytest (ops vs float64 references on every CPU ISA, harness, CLI, CUDA
# build checks), then the C++ side under ctest (GoogleTest, benchmark smoke runs, and
# the SIMT-emulator runs of the CUDA kernels, plain and under ASan/UBSan).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest -q tests "$@"
cmake -S . -B build/cmake -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/cmake -j"$(nproc)"
ctest --test-dir build/cmake --output-on-failure -j"$(nproc)"
