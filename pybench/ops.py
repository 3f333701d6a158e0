"""The public op API: documented wrappers of ``torch.ops.pybench.*``.

Every op is a torch custom op (registered in C++ with TORCH_LIBRARY), so it works with
autograd-free inference, ``torch.compile`` (fake kernels below) and
``torch.library.opcheck``.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

import torch

from pybench import _C  # noqa: F401  (loads the library, registering torch.ops.pybench)

__all__ = ["gram", "cpu_isa", "detected_cpu_isa", "use_cpu_isa", "set_cpu_isa", "CPU_ISAS",
           "has_cuda_kernels"]

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


def gram(features: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """Gram matrix of feature maps, G = F Fᵀ (style transfer's feature correlations).

    Args:
        features: float32 tensor, either (N, C, H, W) -- each map F[n] is viewed as a
            C x (H*W) matrix -- or (C, L). CPU or CUDA; any strides (rows that are not
            contiguous are copied first).
        normalize: divide by C*H*W (C*L for 2-D input), as style-transfer losses do.

    Returns:
        (N, C, C) for 4-D input, (C, C) for 2-D input; float32, on the input's device,
        exactly symmetric. Only the upper triangle is computed (about half the FLOPs of
        ``F @ F.T``); the lower one is its mirror.

    Raises:
        TypeError: the input is not float32.
        ValueError: the input is not of rank 2 or 4.
    """
    return torch.ops.pybench.gram(features, normalize)


@torch.library.register_fake("pybench::gram")
def _gram_fake(features: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    torch._check(
        features.dim() in (2, 4),
        lambda: f"pybench.gram: expected features of rank 2 (C, L) or 4 (N, C, H, W), "
        f"got rank {features.dim()}",
    )
    torch._check(
        features.dtype == torch.float32,
        lambda: f"pybench.gram: expected float32 features, got {features.dtype}",
    )
    c = features.shape[-3] if features.dim() == 4 else features.shape[0]
    if features.dim() == 4:
        return features.new_empty((features.shape[0], c, c))
    return features.new_empty((c, c))
