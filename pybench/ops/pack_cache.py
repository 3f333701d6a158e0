"""Caches of tensors derived from weight tensors (packed layouts), for the raw ops and modules.

``pybench.nn`` modules keep the packs of their own weights (one :class:`PackSlot` each); a user
calling an op in a loop with the same weight tensors would otherwise repack them on every
call. :class:`PackCache` remembers ``make(*sources)`` for the exact source tensors it was
computed from.

Key: for every source, its ``id`` plus what a write or a swap changes -- ``data_ptr``,
``_version`` (every in-place op, ``copy_`` under ``no_grad``, ``load_state_dict`` and the
optimizers bump it), shape, strides, dtype and device -- and the caller's ``extra`` key (the
active CPU ISA for packed layouts). :class:`PackCache` entries hold the sources by weakref and
a hit also needs each weakref to still point at the very object passed in: ``data_ptr`` +
``_version`` alone are not unique, since a freed weight's memory is reused by new tensors that
start at version 0. The cache never keeps a source alive; an entry whose source dies is
dropped. It holds at most ``maxsize`` entries, least recently used out first.

Content probe: writes that bypass the version counter -- ``w.data.copy_(...)``,
``w.numpy()[...] = ...``, ``torch.from_numpy`` / DLPack aliases, writes from C or CUDA code --
change the values but not the key. So a hit also compares a probe of each source's values
with the probe taken when the pack was made, bit for bit (:func:`content_probe`):
:data:`PROBE_SIZE` (256) elements spread down the diagonal of the tensor seen as
``shape[0]`` rows. Where rows and columns are both at most 256 (an LSTM up to H = 64) that
is every row and every column; beyond, any write that changes ``rows / 256`` whole
consecutive rows or ``cols / 256`` whole consecutive columns is seen -- every whole-tensor
rewrite (``copy_``, ``fill_``, ``nn.init``, a checkpoint loaded through ``.data``) included.
Cost: the probe reads memory the kernel no longer touches (it reads the pack), so its
loads miss the caches. For an LSTM cell at H = 1024 on the shared 2-core development
machine, right after a step: about 0.1 ms a call (median 0.12 ms, the same with 64
elements), a few percent of a batch-1 step (3-12 ms there, streaming 32 MB of packed
weights), less at larger batches, once per sequence for :func:`~pybench.ops.lstm`. A probe
of every row and column (4096 loads a weight) measured 0.34 ms, a checksum of the whole
weights 3 ms: too dear per step.
What can still go unseen: a write through such an alias that changes only a few rows,
columns or scattered elements off the probe (``w.data[3, 5] = 0``). After one, call
:func:`clear_pack_cache`, pass packs explicitly, or run with ``PYBENCH_PACK_CACHE=0`` (read at
import) to turn the caches off.
"""
from __future__ import annotations

import collections
import functools
import itertools
import math
import os
import threading
import weakref
from typing import Callable, NamedTuple, Sequence

import numpy as np
import torch

__all__ = ["PackCache", "PackSlot", "PackCacheInfo", "PROBE_SIZE", "uncacheable_reason",
           "content_probe", "clear_pack_cache", "pack_cache_info"]

#: Whether the caches are used at all (``PYBENCH_PACK_CACHE=0`` turns them off).
ENABLED = os.environ.get("PYBENCH_PACK_CACHE", "1") != "0"

_PLAIN_TYPES = (torch.Tensor, torch.nn.Parameter)


def uncacheable_reason(*tensors: torch.Tensor) -> str | None:
    """Why a value derived from ``tensors`` must not be cached now, or None if it may be.

    The key needs a version counter and real storage; tracing needs to see the derivation
    happen rather than receive a constant; and a pack made while autograd records would
    carry a graph back to (and so keep alive) its sources.
    """
    if not ENABLED:
        return "disabled by PYBENCH_PACK_CACHE=0"
    if torch.compiler.is_compiling():
        return "torch.compile is tracing"
    if torch._C._len_torch_dispatch_stack() or torch._C._is_torch_function_mode_enabled():
        return "a torch dispatch or function mode is active (tracing, fake tensors, ...)"
    for t in tensors:
        if type(t) not in _PLAIN_TYPES:
            # FakeTensor, FunctionalTensor and other subclasses: values are not real data.
            return f"a {type(t).__name__}, not a plain tensor"
        if t.is_meta:
            return "a meta tensor"
        if t.is_inference():
            return "an inference tensor (no version counter)"
        if torch._C._functorch.is_functorch_wrapped_tensor(t):
            return "a functorch (vmap / grad) wrapped tensor"
        if t.requires_grad and torch.is_grad_enabled():
            return "autograd is recording"
    return None


#: Elements per source tensor that a cache hit reads back (see the module docstring).
PROBE_SIZE = 256


@functools.lru_cache(maxsize=64)
def _probe_index(shape: tuple[int, ...]) -> np.ndarray:
    # Row-major indices of n points spread evenly down the diagonal of the (rows, cols) view:
    # point i at row i * rows // n, column i * cols // n, so consecutive points are at most
    # ceil(rows / n) rows and ceil(cols / n) columns apart -- and n = max(rows, cols) when
    # that is within PROBE_SIZE, meeting every row and every column.
    numel = math.prod(shape)
    if numel == 0:
        return np.empty(0, dtype=np.int64)
    rows = shape[0] if len(shape) >= 2 else 1
    cols = numel // rows
    n = min(max(rows, cols), PROBE_SIZE)
    i = np.arange(n, dtype=np.int64)
    return (i * rows // n) * cols + i * cols // n


def content_probe(t: torch.Tensor) -> bytes:
    """The bytes of :data:`PROBE_SIZE` elements of ``t`` spread over its rows and columns
    (``t`` seen as ``shape[0]`` rows; a 1-D tensor as one row), compared bit for bit: NaNs
    equal themselves and ``-0.0`` differs from ``0.0``, so a changed value always shows."""
    index = _probe_index(tuple(t.shape))
    t = t.detach()
    if t.device.type == "cpu" and t.is_contiguous() and not (t.is_conj() or t.is_neg()):
        try:
            # numpy gathers on this thread; torch.take may wake the OpenMP pool, which
            # costs milliseconds on a loaded machine for a few hundred loads.
            return t.numpy().reshape(-1)[index].tobytes()
        except TypeError:  # a dtype numpy lacks (bfloat16, ...)
            pass
    # take() indexes the logical row-major order, whatever the strides.
    probe = torch.take(t, torch.from_numpy(index).to(t.device))
    return probe.view(torch.uint8).cpu().numpy().tobytes()


def _source_key(t: torch.Tensor) -> tuple:
    return (id(t), t.data_ptr(), t._version, tuple(t.shape), t.stride(), t.dtype, t.device)


class PackCacheInfo(NamedTuple):
    hits: int
    misses: int
    size: int
    maxsize: int
    #: Misses whose key matched but whose content probe did not: a write the version
    #: counter missed (through ``.data``, ``.numpy()``, ...), caught by the probe.
    stale: int = 0


class _Entry:
    __slots__ = ("refs", "value", "token", "probes")

    def __init__(self, refs, value, token, probes) -> None:
        self.refs, self.value, self.token, self.probes = refs, value, token, probes


# Every cache and slot, for clear_pack_cache; only the named caches are listed by
# pack_cache_info (a module's slot is its own business).
_caches: "weakref.WeakSet[PackCache | PackSlot]" = weakref.WeakSet()


class PackCache:
    """An LRU of ``make(*sources)`` keyed by the identity, storage and version of ``sources``
    and checked against a probe of their values (see the module docstring).

    Thread-safe; ``make`` runs outside the lock, so two threads missing at once both compute.
    """

    def __init__(self, name: str, maxsize: int = 8) -> None:
        self.name, self.maxsize = name, maxsize
        self._entries: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()
        # Keys of entries whose source died while the lock was held (filled by the weakref
        # callbacks, which may run in the middle of this cache's own code on this thread).
        self._dead: collections.deque = collections.deque()
        self._tokens = itertools.count()
        self.hits = self.misses = self.stale = 0
        _caches.add(self)

    @staticmethod
    def _key(sources: Sequence[torch.Tensor], extra) -> tuple:
        return (extra, *(_source_key(t) for t in sources))

    def get(self, sources: Sequence[torch.Tensor], make: Callable, extra=()):
        """``make(*sources)``, from the cache when these very tensors, unchanged, were seen
        with the same ``extra``. The caller checks :func:`uncacheable_reason` first."""
        key = self._key(sources, extra)
        # Taken before make() runs: a write racing with the packing leaves a probe of the
        # older values, so the next call repacks rather than trusting a mixed pack.
        probes = tuple(content_probe(t) for t in sources)
        with self._lock:
            self._drain()
            entry = self._entries.get(key)
            if entry is not None and all(r() is t for r, t in zip(entry.refs, sources)):
                if entry.probes == probes:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return entry.value
                self.stale += 1
            self.misses += 1
        value = make(*sources)
        token = next(self._tokens)
        callback = self._callback(key, token)
        entry = _Entry(tuple(weakref.ref(t, callback) for t in sources), value, token, probes)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return value

    def _callback(self, key, token):
        # Holds the cache weakly too, and the entry only by token, so no cycle keeps a pack.
        cache_ref = weakref.ref(self)

        def source_died(_):
            cache = cache_ref()
            if cache is None:
                return
            if cache._lock.acquire(blocking=False):
                try:
                    cache._remove(key, token)
                finally:
                    cache._lock.release()
            else:
                cache._dead.append((key, token))
        return source_died

    def _remove(self, key, token) -> None:
        entry = self._entries.get(key)
        # A newer entry may have replaced the dead one under the same key.
        if entry is not None and entry.token == token:
            del self._entries[key]

    def _drain(self) -> None:
        while self._dead:
            self._remove(*self._dead.popleft())

    def clear(self) -> None:
        with self._lock:
            self._dead.clear()
            self._entries.clear()
            self.hits = self.misses = self.stale = 0

    def info(self) -> PackCacheInfo:
        with self._lock:
            self._drain()
            return PackCacheInfo(self.hits, self.misses, len(self._entries), self.maxsize,
                                 self.stale)


class PackSlot:
    """The one pack of a module's own weights: ``make(*sources)``, made again when the key
    or the content probe of ``sources`` changes (see the module docstring).

    Unlike :class:`PackCache` it holds no reference to the sources, weak or strong: a
    module's parameters stay swappable (``torch.utils.swap_tensors`` refuses tensors with
    weakrefs, and ``torch.__future__.set_swap_module_params_on_conversion`` makes
    ``module.to()`` swap). So identity is ``id()`` alone, which a dead parameter's successor
    may reuse -- but then its address, version, layout and probed values must all match too.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key = self._probes = self.value = None
        self.hits = self.misses = self.stale = 0
        _caches.add(self)

    def __reduce__(self):
        # A copied or pickled module starts empty: a pack belongs to the tensors it was
        # made from (and a lock cannot be copied).
        return (PackSlot, ())

    def get(self, sources: Sequence[torch.Tensor], make: Callable, extra=()):
        """``make(*sources)``, the kept one while these tensors and ``extra`` are unchanged.
        The caller checks :func:`uncacheable_reason` first."""
        key = (extra, *(_source_key(t) for t in sources))
        probes = tuple(content_probe(t) for t in sources)
        with self._lock:
            if key == self._key:
                if probes == self._probes:
                    self.hits += 1
                    return self.value
                self.stale += 1
            self.misses += 1
        value = make(*sources)
        with self._lock:
            self._key, self._probes, self.value = key, probes, value
        return value

    def clear(self) -> None:
        with self._lock:
            self._key = self._probes = self.value = None
            self.hits = self.misses = self.stale = 0

    def info(self) -> PackCacheInfo:
        with self._lock:
            return PackCacheInfo(self.hits, self.misses, int(self._key is not None), 1,
                                 self.stale)


def clear_pack_cache() -> None:
    """Forget every cached pack (of every op and every ``pybench.nn`` module) and zero the
    hit / miss counts; the next call of each op packs again.

    Needed only after a write that bypasses the version counter and touches only elements
    off the content probe (scattered writes through ``.data``, ``.numpy()`` or another alias
    that does not share it); see :mod:`pybench.ops.pack_cache`.
    """
    for cache in list(_caches):
        cache.clear()


def pack_cache_info() -> dict[str, PackCacheInfo]:
    """Hits, misses, size, bound and probe-caught stale hits of every op's pack cache, by
    cache name (modules' slots are not listed: ``module._pybench_pack.info()``)."""
    return {cache.name: cache.info() for cache in list(_caches) if isinstance(cache, PackCache)}
