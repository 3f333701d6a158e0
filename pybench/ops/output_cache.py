"""The memory the blocked-layout ops take their outputs from, kept between calls.

A converted model allocates every activation afresh on each forward; glibc returns an
allocation above its mmap threshold (at most 32 MiB) to the system when it is freed, so the
next forward pays a page fault and a zeroed page for every 4 KiB it writes again (about
400 MB a forward for VGG-16 at batch 8). ONNX Runtime's arena and OpenVINO's memory plan
keep that memory; so does this cache, for the outputs of the blocked ops
(:func:`~pybench.ops.conv2d_nchwc`, :func:`~pybench.ops.depthwise_conv2d_nchwc`, the
blocked pooling ops) and the concat buffers of converted models. The public NCHW ops
allocate as PyTorch does, so the kernel suites compare kernels, not allocators.

Blocks of 256 KiB and more are cached, at most ``PYBENCH_OUTPUT_CACHE_MB`` MiB of them
unused at a time (default 1024; 0 turns the cache off); tensors in use are not counted.
``PYBENCH_OUTPUT_CACHE_POISON=1`` fills every output of those ops with NaN first, cached or
not (the test suite runs so: an output element a kernel forgets to write fails its test).
"""
from __future__ import annotations

from typing import NamedTuple

import torch


class OutputCacheInfo(NamedTuple):
    cached_bytes: int  #: bytes of free blocks held for reuse
    cached_blocks: int
    hits: int  #: allocations served from a freed block, since the process started
    misses: int  #: allocations of 256 KiB or more that found no block to reuse
    limit_bytes: int
    poison: bool


def output_cache_info() -> OutputCacheInfo:
    """The output cache's state and counters."""
    *counts, poison = torch.ops.pybench.output_cache_info()
    return OutputCacheInfo(*counts, bool(poison))


def empty_output_cache() -> None:
    """Returns every free block to the system (tensors in use keep theirs)."""
    torch.ops.pybench.empty_output_cache()


def set_output_cache(limit_bytes: int | None = None, poison: bool | None = None) -> None:
    """Changes the cache's limit of unused bytes (0 turns it off; a lower limit frees
    blocks now) and / or its NaN poisoning; ``None`` keeps the current setting."""
    info = output_cache_info()
    if limit_bytes is not None and (isinstance(limit_bytes, bool)
                                    or not isinstance(limit_bytes, int) or limit_bytes < 0):
        raise ValueError(f"set_output_cache: limit_bytes must be an int >= 0, got "
                         f"{limit_bytes!r}")
    torch.ops.pybench.set_output_cache(info.limit_bytes if limit_bytes is None else limit_bytes,
                                       info.poison if poison is None else bool(poison))


def empty_output(size: tuple[int, ...]) -> torch.Tensor:
    """An uninitialised float32 CPU tensor of ``size`` from the output cache."""
    return torch.ops.pybench.empty_output(list(size))
