"""How freed memory is handled while a suite runs: glibc's defaults, or kept mapped.

glibc returns every allocation of more than its mmap threshold (128 KiB at first, raised
dynamically up to 32 MiB) to the kernel when it is freed, and trims the heap's free top past
its trim threshold. An output allocated afresh on each call is then page-faulted back in,
and the kernel zeroes every page. On a KVM guest that cost is large and erratic: a 3->64 7x7
stride-2 convolution at batch 8 (a 25.7 MiB output) took a median 9.0-10.1 ms per call with
pages kept and 15-26 ms with glibc's defaults, in PyTorch and pybench alike, bimodally from
call to call and from process to process (2 threads, AMD EPYC Zen 5 under KVM, capped to
AVX2). The fault cost belongs to neither kernel, but it decided which one "won" such a layer.

The kernel suites therefore time with pages kept, as oneDNN's benchdnn and NVBench time a
kernel on buffers allocated once: glibc is told never to give memory back
(``M_TRIM_THRESHOLD`` at its maximum) and never to map an allocation of its own
(``M_MMAP_MAX`` 0), so a freed output is reused by the next call, warm. (PyTorch allocates
with posix_memalign, whose request exceeds the chunk it frees by the alignment: glibc
reaches that steady state only after the heap's free chunks have merged: within the first
10 allocations of a size in tests/test_allocator.py, a benchmark's first calls.) The same
settings go to child processes through ``GLIBC_TUNABLES``.

``keep`` also turns glibc's per-thread cache of small freed chunks (the tcache) off. A small
chunk freed into it stays "in use" as far as the heap is concerned, so when a call's
temporaries were carved out of the heap right after its output, the freed output can no
longer merge with its neighbours, and the next output (asking posix_memalign for its
alignment on top) is taken from fresh heap above it: in a suite run the heap grew by an
output per call and every call page-faulted it in (VGG-16's first layer at batch 1, 12.8 MB:
1.35-1.59 ms a call in one run against 0.84 ms in others; with the tcache off, the same call
sequence reused one address throughout). glibc reads that setting only at start-up, so
``apply("keep")`` re-executes the process once with it in ``GLIBC_TUNABLES``.

The cnn suite keeps glibc's defaults by
default: it times models the way a user's process runs them, and the pybench backend's own
output cache (:mod:`pybench.ops.output_cache`) is part of what it measures.
"""
from __future__ import annotations

import ctypes
import os
import sys
from typing import Any

POLICIES = ("keep", "system")

# <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_TRIM_MAX = 2**31 - 1  # mallopt takes an int
_TUNABLES = {"glibc.malloc.trim_threshold": _TRIM_MAX, "glibc.malloc.mmap_max": 0,
             "glibc.malloc.tcache_count": 0}


def _glibc() -> tuple[Any, str] | None:
    """(libc handle, version) of the glibc this process runs on, or None (musl, macOS)."""
    try:
        libc = ctypes.CDLL(None)
        version = libc.gnu_get_libc_version
    except (OSError, AttributeError):
        return None
    version.restype = ctypes.c_char_p
    return libc, version().decode()


def apply(policy: str) -> dict[str, Any]:
    """Set this process's (and its future children's) handling of freed memory; returns
    the record stored as ``context.pybench.allocator``. ``keep`` needs glibc: elsewhere
    the record says so and the system's allocator runs unchanged."""
    if policy not in POLICIES:
        raise ValueError(f"allocator policy {policy!r}: expected one of {', '.join(POLICIES)}")
    found = _glibc()
    record: dict[str, Any] = {"policy": policy, "libc": f"glibc {found[1]}" if found else None}
    if policy == "system":
        return record
    if found is None:
        return {**record, "policy": "system",
                "note": "not glibc: freed memory is handled by the system's allocator"}
    _keep_pages(found[0])
    return {**record, "mallopt": {"M_TRIM_THRESHOLD": _TRIM_MAX, "M_MMAP_MAX": 0},
            "tcache": "off" if _started_with_tunables() else "on (could not restart)"}


def _keep_pages(libc: Any) -> None:
    """This process through mallopt; the processes it starts from now on (the cnn suite's
    workers) through GLIBC_TUNABLES, which glibc reads at start-up. Other tunables already
    set are kept. Then, unless this process started with those tunables, it re-executes
    itself (same interpreter, same command line) so that the tcache is off too: this call
    does not return then, and the new process makes it again. The test suite replaces this:
    it is process-wide and irreversible."""
    if not (libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_MAX) and libc.mallopt(_M_MMAP_MAX, 0)):
        raise OSError("mallopt refused M_TRIM_THRESHOLD / M_MMAP_MAX")
    tunables = [t for t in os.environ.get("GLIBC_TUNABLES", "").split(":")
                if t and t.split("=", 1)[0] not in _TUNABLES]
    os.environ["GLIBC_TUNABLES"] = ":".join(
        tunables + [f"{k}={v}" for k, v in _TUNABLES.items()])
    argv = getattr(sys, "orig_argv", [])
    # Only a command line that can run again: not a script read from stdin.
    if not _started_with_tunables() and len(argv) > 1 and argv[1] != "-":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, *argv[1:]])


def _started_with_tunables() -> bool:
    """Whether this process started with every tunable of ``keep`` (glibc reads them then,
    not later): the environment as it was when this module was imported, the first thing
    pybench's command line does. (/proc/self/environ cannot tell: glibc cuts the variable
    short there while it parses it.)"""
    return all(f"{k}={v}" in _START_TUNABLES for k, v in _TUNABLES.items())


_START_TUNABLES = set(os.environ.get("GLIBC_TUNABLES", "").split(":"))


def describe(record: dict[str, Any] | None) -> str:
    """One line for the console and the report."""
    if not record:
        return "allocator: not recorded"
    if record.get("policy") == "keep":
        return (f"allocator: freed memory kept mapped ({record.get('libc')}: M_MMAP_MAX 0, "
                f"M_TRIM_THRESHOLD max, tcache {record.get('tcache', 'on')}), so outputs "
                f"reuse warm pages")
    return f"allocator: the system's defaults ({record.get('note') or record.get('libc')})"
