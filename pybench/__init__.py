"""pybench: hand-written AVX-512/AVX2/CUDA kernels benchmarked against PyTorch.

``pybench.ops`` (torch and the compiled extension) is imported on first use, so the
command line answers ``--help`` / ``--version`` without loading torch."""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ops"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "ops":
        return importlib.import_module("pybench.ops")
    raise AttributeError(f"module 'pybench' has no attribute {name!r}")
