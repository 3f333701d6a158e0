import pytest
import torch

import pybench.ops as ops


def available_cpu_isas():
    """Every CPU ISA variant this machine can run, best first."""
    best = ops.CPU_ISAS.index(ops.detected_cpu_isa())
    return list(ops.CPU_ISAS[best:])


CUDA_SKIP_REASON = (
    "no CUDA device: torch.cuda.is_available() is False"
    if not torch.cuda.is_available()
    else "pybench was built without CUDA kernels (PYBENCH_CUDA=0 or no nvcc at build time)"
)


def device_params():
    """cpu always; cuda where a device and the CUDA kernels exist, else skipped with why."""
    runnable = torch.cuda.is_available() and ops.has_cuda_kernels()
    return [
        pytest.param("cpu", id="cpu"),
        pytest.param(
            "cuda", id="cuda", marks=pytest.mark.skipif(not runnable, reason=CUDA_SKIP_REASON)
        ),
    ]


@pytest.fixture(params=available_cpu_isas())
def cpu_isa(request):
    """Runs the test once per CPU ISA variant, switching pybench's dispatch in-process."""
    with ops.use_cpu_isa(request.param):
        yield request.param
