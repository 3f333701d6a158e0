"""The CPU's data caches, as the pybench kernels read them to size their blocking
(``csrc/kernels/common/cpu_caches.h``): every CPU kernel derives its cache blocking from
these sizes at run time, so the same build blocks for a 512 KiB or a 2 MiB L2."""
from __future__ import annotations

import torch

#: The fields of :func:`cpu_caches`, in order; the first six are integers.
CPU_CACHE_FIELDS = ("l1d", "l2", "l3", "line", "family", "model", "vendor", "source",
                    "detected_source")
_INT_FIELDS = frozenset(CPU_CACHE_FIELDS[:6])


def cpu_caches() -> dict[str, int | str]:
    """The cache sizes the CPU kernels block for, read once per process.

    ``l1d`` / ``l2``: bytes of the L1 data cache and the L2 of one core (CPU 0's);
    ``l3``: bytes of the whole L3 instance that core uses (not a per-core share; 0 when
    none or unknown); ``line``: the L1d's line size; ``vendor`` / ``family`` / ``model``:
    the CPUID identity ("" and 0 off x86). ``source`` says where the sizes came from:
    ``"cpuid"`` (leaf 4 on Intel, 0x8000001D on AMD), ``"sysfs"``
    (``/sys/devices/system/cpu/cpu0/cache``), ``"default"`` (32 KiB L1d, 1 MiB L2), or
    ``"override"`` when the ``PYBENCH_CPU_CACHES`` environment variable
    (``l1d=32K,l2=512K,l3=8M``, any subset, K / M / G suffixes) set at least one size;
    ``detected_source`` is where the others came from.

    Raises ValueError naming the variable and the bad part when ``PYBENCH_CPU_CACHES`` is
    malformed (importing :mod:`pybench.ops` already does).
    """
    raw = torch.ops.pybench.cpu_caches()
    return {k: int(raw[k]) if k in _INT_FIELDS else raw[k] for k in CPU_CACHE_FIELDS}
