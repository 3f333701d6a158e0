#!/usr/bin/env bash
# All set-up on a fresh machine, idempotent: Debian packages (when missing), the venv
# with torch==2.14.1 / torchvision==0.29.1 and the other Python packages, and the build
# of pybench._C (with the CUDA kernels whenever torch is a CUDA build and nvcc exists).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(cmake ninja-build g++ libbenchmark-dev libgtest-dev)
apt_packages+=(chromium)  # the dashboard's headless-browser test (tests/test_dashboard.py)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1 ninja numpy pandas \
  google-benchmark==1.9.5 pytest expecttest matplotlib tabulate jinja2 hypothesis
# The compare gate (scipy), the dashboard's step detection (ruptures) and charts (plotly,
# whose plotly.js the dashboard copies into its site), the opt-in op microbenchmarks
# (pytest-benchmark), pybench run's progress bar (tqdm).
.venv/bin/python -m pip install -q scipy ruptures plotly pytest-benchmark tqdm
# The cnn suite's engine baselines: the ONNX exporter (onnx, onnxscript), ONNX Runtime, OpenVINO.
.venv/bin/python -m pip install -q onnx onnxscript onnxruntime openvino
# --no-build-isolation: compile against the torch just installed in the venv.
.venv/bin/python -m pip install -q --no-build-isolation -e .
.venv/bin/python -c "import pybench.ops as o; print('setup: pybench built; CPU ISA', o.cpu_isa(), '| CUDA kernels:', o.has_cuda_kernels())"
