"""Build-time checks of the CUDA LSTM kernel: it is registered and its ptxas report (sm_80,
sm_90) shows no spills. No kernel runs, so no GPU is needed; skipped on CPU-only builds.
The kernel's results are checked under the SIMT emulator (tests/simt/lstm_simt_test.cc) and,
where a GPU exists, by the cuda variants of tests/ops/test_lstm.py."""
from pathlib import Path

import pytest
import torch

import pybench
from pybench import ops
from test_gram_cuda_build import ARCHS, ptxas

pytestmark = pytest.mark.skipif(not ops.has_cuda_kernels(),
                                reason="pybench._C is a CPU-only build (no CUDA kernels)")


def test_lstm_ops_have_cuda_kernels():
    for op in ("pybench::lstm_cell", "pybench::lstm"):
        assert torch._C._dispatch_has_kernel_for_dispatch_key(op, "CUDA"), op


def test_lstm_kernel_in_ptxas_report_without_spills():
    path = Path(pybench._C.__file__).parent / ptxas.REPORT_NAME
    report = ptxas.read_report(path)
    for arch in ARCHS:
        entries = ptxas.kernel_entries(report, "lstm_cell_kernel", arch)
        assert entries, f"no lstm_cell_kernel for {arch} in {path}"
        for e in entries:
            assert e["spill_store_bytes"] == 0 and e["spill_load_bytes"] == 0, e
