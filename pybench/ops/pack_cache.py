"""A small cache of tensors derived from weight tensors (packed layouts), for the raw ops.

``pybench.nn`` modules own their weights and keep their packs; a user calling an op in a loop
with the same weight tensors would otherwise repack them on every call. :class:`PackCache`
remembers ``make(*sources)`` for the exact source tensors it was computed from.

Key: for every source, its ``id`` plus what a write or a swap changes -- ``data_ptr``,
``_version`` (every in-place op, ``copy_`` under ``no_grad``, ``load_state_dict`` and the
optimizers bump it), shape, strides, dtype and device -- and the caller's ``extra`` key (the
active CPU ISA for packed layouts). Entries hold the sources by weakref and a hit also needs
each weakref to still point at the very object passed in: ``data_ptr`` + ``_version`` alone
are not unique, since a freed weight's memory is reused by new tensors that start at version
0. The cache never keeps a source alive; an entry whose source dies is dropped. It holds at
most ``maxsize`` entries, least recently used out first.

The one unsafe case: a write that bypasses the version counter. ``w.data.add_(1)``,
``w.numpy()[...] = ...``, ``torch.from_numpy`` / DLPack aliases and writes from C or CUDA code
change the values without bumping ``w._version``, so the cache returns the pack of the old
values. After such writes call :func:`clear_pack_cache`, pass packs explicitly, or run with
``PYBENCH_PACK_CACHE=0`` (read at import) to turn the cache off.
"""
from __future__ import annotations

import collections
import itertools
import os
import threading
import weakref
from typing import Callable, NamedTuple, Sequence

import torch

__all__ = ["PackCache", "PackCacheInfo", "uncacheable_reason", "clear_pack_cache",
           "pack_cache_info"]

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


class PackCacheInfo(NamedTuple):
    hits: int
    misses: int
    size: int
    maxsize: int


class _Entry:
    __slots__ = ("refs", "value", "token")

    def __init__(self, refs, value, token) -> None:
        self.refs, self.value, self.token = refs, value, token


_caches: "weakref.WeakSet[PackCache]" = weakref.WeakSet()


class PackCache:
    """An LRU of ``make(*sources)`` keyed by the identity, storage and version of ``sources``.

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
        self.hits = self.misses = 0
        _caches.add(self)

    @staticmethod
    def _key(sources: Sequence[torch.Tensor], extra) -> tuple:
        return (extra, *((id(t), t.data_ptr(), t._version, tuple(t.shape), t.stride(), t.dtype,
                          t.device) for t in sources))

    def get(self, sources: Sequence[torch.Tensor], make: Callable, extra=()):
        """``make(*sources)``, from the cache when these very tensors, unchanged, were seen
        with the same ``extra``. The caller checks :func:`uncacheable_reason` first."""
        key = self._key(sources, extra)
        with self._lock:
            self._drain()
            entry = self._entries.get(key)
            if entry is not None and all(r() is t for r, t in zip(entry.refs, sources)):
                self._entries.move_to_end(key)
                self.hits += 1
                return entry.value
            self.misses += 1
        value = make(*sources)
        token = next(self._tokens)
        callback = self._callback(key, token)
        entry = _Entry(tuple(weakref.ref(t, callback) for t in sources), value, token)
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
            self.hits = self.misses = 0

    def info(self) -> PackCacheInfo:
        with self._lock:
            self._drain()
            return PackCacheInfo(self.hits, self.misses, len(self._entries), self.maxsize)


def clear_pack_cache() -> None:
    """Forget every cached pack (of every op) and zero the hit / miss counts; the next call
    of each op packs again.

    Needed only after a write that bypasses the version counter (through ``.data``,
    ``.numpy()`` or another alias that does not share it); see :mod:`pybench.ops.pack_cache`.
    """
    for cache in list(_caches):
        cache.clear()


def pack_cache_info() -> dict[str, PackCacheInfo]:
    """Hits, misses, size and bound of every op's pack cache, by cache name."""
    return {cache.name: cache.info() for cache in list(_caches)}
