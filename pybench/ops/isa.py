"""Which CPU variant (AVX-512 / AVX2 / scalar) the pybench kernels run, and whether this build
has CUDA kernels."""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

import torch

#: CPU instruction-set levels, best first. Each implies the ones after it.
CPU_ISAS = ("avx512", "avx2", "scalar")


def _check_env_cap() -> None:
    cap = os.environ.get("PYBENCH_MAX_CPU_ISA")
    if cap is not None and cap not in CPU_ISAS:
        raise ValueError(
            f"PYBENCH_MAX_CPU_ISA={cap!r} is not one of {', '.join(CPU_ISAS)}"
        )


_check_env_cap()


def detected_cpu_isa() -> str:
    """The best CPU ISA level this machine supports ("avx512", "avx2" or "scalar")."""
    return torch.ops.pybench.detected_cpu_isa()


def cpu_isa() -> str:
    """The CPU ISA level the kernels use now.

    It starts as :func:`detected_cpu_isa`, capped by the ``PYBENCH_MAX_CPU_ISA``
    environment variable, and changes with :func:`set_cpu_isa` / :func:`use_cpu_isa`.
    """
    return torch.ops.pybench.active_cpu_isa()


def set_cpu_isa(name: str) -> None:
    """Make every pybench CPU kernel use the ``name`` variant from now on.

    Raises ValueError for an unknown name or one this CPU cannot run.
    """
    if name not in CPU_ISAS:
        raise ValueError(f"unknown CPU ISA {name!r}; expected one of {', '.join(CPU_ISAS)}")
    torch.ops.pybench.set_cpu_isa(name)


@contextlib.contextmanager
def use_cpu_isa(name: str) -> Iterator[str]:
    """Context manager running the pybench CPU kernels with the ``name`` variant.

    >>> with pybench.ops.use_cpu_isa("avx2"):
    ...     g = pybench.ops.gram(x)

    Raises ValueError on entry when this CPU lacks the ISA. The previous level is
    restored on exit. The setting is process-wide, not per thread.
    """
    previous = cpu_isa()
    set_cpu_isa(name)
    try:
        yield name
    finally:
        set_cpu_isa(previous)


def has_cuda_kernels() -> bool:
    """Whether this build of the extension contains the CUDA kernels."""
    return torch._C._dispatch_has_kernel_for_dispatch_key("pybench::gram", "CUDA")
