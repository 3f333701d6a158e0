#!/usr/bin/env bash
# Run a command as if on an AVX2-only machine with Zen 1 caches, on an AVX-512 host: the way to
# measure the other kind of machine when you do not have it (issue 23). Caps every library
# that picks its own ISA at run time:
#   pybench           PYBENCH_MAX_CPU_ISA=avx2, PYBENCH_CPU_CACHES (blocking sizes)
#   oneDNN (torch)    ONEDNN_MAX_CPU_ISA=AVX2
#   MKL (torch BLAS)  MKL_ENABLE_INSTRUCTIONS=AVX2
#   ATen's own kernels ATEN_CPU_CAPABILITY=avx2
# What it cannot emulate: the host's cache sizes, memory bandwidth and FMA pipes stay the
# host's (Zen 1 has two 128-bit FMA pipes: AVX2 runs at half rate there), and ONNX Runtime
# and OpenVINO pick their kernels from the CPU's features with no cap. Figures measured
# this way say "capped emulation" and name the host CPU.
# Usage: bash scripts/as_avx2_machine.sh .venv/bin/python -m pybench run --suite conv
set -euo pipefail
export PYBENCH_MAX_CPU_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
  ATEN_CPU_CAPABILITY=avx2
export PYBENCH_CPU_CACHES=${PYBENCH_CPU_CACHES:-l1d=32K,l2=512K,l3=8M}
exec "$@"
