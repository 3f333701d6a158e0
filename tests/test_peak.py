"""pybench.peak: the FMA loop does the FLOPs it claims, and the roofline dict is complete."""
import pytest
import torch

import pybench.ops as ops
from pybench import harness, peak

LANES = {"avx512": 16, "avx2": 8, "scalar": 1}
CHAINS = 12


def test_fma_loop_flop_count_per_isa(cpu_isa):
    # 2 FLOPs x chains x lanes x iterations, on every thread asked for.
    assert torch.ops.pybench.fma_peak_run(1000, 1) == 2 * CHAINS * LANES[cpu_isa] * 1000
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert torch.ops.pybench.fma_peak_run(10, 2) == 2 * 2 * CHAINS * LANES[cpu_isa] * 10
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("iterations, threads", [(0, 1), (5, 0), (-1, 1)])
def test_fma_loop_rejects_non_positive_arguments(iterations, threads):
    with pytest.raises(ValueError, match="positive iterations and threads"):
        torch.ops.pybench.fma_peak_run(iterations, threads)


def test_measure_reports_every_roof():
    result = peak.measure(1)
    assert result["cpu_isa"] == ops.cpu_isa() and result["threads"] == 1
    for key in ("fma_flops_1_thread", "fma_flops", "triad_bytes_per_s"):
        assert result[key] > 0
    # One core of any x86-64 with FMA does between ~1 and ~500 GFLOP/s in FP32.
    assert 1e9 < result["fma_flops_1_thread"] < 1e12
    if not torch.cuda.is_available():
        assert result["cuda"] == "no CUDA device"
    roofs = harness.peak_flops(result)
    assert roofs["cpu"] == result["fma_flops"]
    assert harness.peak_flops(None) == {}

