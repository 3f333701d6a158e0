"""The module a blocked conversion returns: its torch.fx graph, run through TorchScript.

A converted model is a chain of op calls whose arguments never change; run by the
GraphModule's Python ``forward``, each layer costs an ``nn.Module.__call__``, a Python frame
and a dispatcher entry whose Python objects are cold again by the time the next forward
reaches them -- measured on MobileNet-v2 at batch 1 (2 threads), 4.5 ms through the
GraphModule against 3.7 ms for the same ops run by TorchScript, which
walks the graph in C++. (ONNX Runtime and OpenVINO run their graphs in C++ too.)

So :class:`BlockedGraphModule` traces itself with ``torch.jit.trace`` on the first call for
each input signature (shapes, dtype, device: the graph's concat buffers and reorders are
recorded for that batch), checks that the trace returns bit for bit what the GraphModule
returned, and runs the trace from then on. It falls back to the GraphModule's own
``forward`` -- always correct, just slower -- whenever the trace could miss something:

- any forward or backward hook on the model, one of its submodules, or registered
  globally (the cnn suite's per-layer breakdown hooks every layer);
- keyword arguments, non-tensor arguments, or an input that requires grad;
- the trace failed, or its output differed from the GraphModule's;
- ``use_trace`` set to False (``model.use_trace = False``), e.g. to compare the two.

``.to()`` / ``.float()`` and the like drop the traces (they may replace the buffers a trace
holds); a pickled or deep-copied model traces again on its first call.
"""
from __future__ import annotations

import threading
import warnings
import weakref
from typing import Any

import torch
import torch.fx as fx
from torch import nn
from torch.nn.modules import module as _module

#: Per model: {"modules": its submodules, signature: traced module or None (failed)}.
_TRACES: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()
_tracing = threading.local()

_GLOBAL_HOOKS = ("_global_forward_hooks", "_global_forward_pre_hooks",
                 "_global_backward_hooks", "_global_backward_pre_hooks")
_MODULE_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                 "_backward_pre_hooks")


def _signature(args: tuple, kwargs: dict) -> tuple | None:
    if kwargs or not args:
        return None
    sig = []
    for a in args:
        if not isinstance(a, torch.Tensor) or a.requires_grad:
            return None
        sig.append((tuple(a.shape), a.dtype, a.device, a.is_contiguous()))
    return tuple(sig)


def _hooked(modules: list[nn.Module]) -> bool:
    if any(getattr(_module, name, None) for name in _GLOBAL_HOOKS):
        return True
    return any(getattr(m, name, None) for m in modules for name in _MODULE_HOOKS)


class BlockedGraphModule(fx.GraphModule):
    """A ``torch.fx.GraphModule`` that runs a TorchScript trace of itself when it safely
    can (see the module docstring)."""

    use_trace: bool = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.use_trace or getattr(_tracing, "active", False):
            return super().__call__(*args, **kwargs)
        sig = _signature(args, kwargs)
        if sig is None:
            return super().__call__(*args, **kwargs)
        entry = _TRACES.get(self)
        if entry is None:
            entry = _TRACES[self] = {"modules": list(self.modules())}
        if _hooked(entry["modules"]):
            return super().__call__(*args, **kwargs)
        if sig not in entry:
            return self._trace(entry, sig, args)
        traced = entry[sig]
        if traced is None:
            return super().__call__(*args, **kwargs)
        return traced(*args)

    def _trace(self, entry: dict, sig: tuple, args: tuple) -> Any:
        """The GraphModule's result for ``args``; records the trace for ``sig`` if it
        reproduces that result exactly, else records that this signature runs untraced."""
        expected = super().__call__(*args)
        _tracing.active = True
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                traced = torch.jit.trace(self, args, check_trace=False)
                got = traced(*args)
            same = (isinstance(got, torch.Tensor) and isinstance(expected, torch.Tensor)
                    and got.shape == expected.shape and got.dtype == expected.dtype
                    and torch.equal(got, expected))
            entry[sig] = traced if same else None
        except Exception:  # noqa: BLE001 -- any tracing failure: run the GraphModule
            entry[sig] = None
        finally:
            _tracing.active = False
        return expected

    def traced_signatures(self) -> dict[tuple, bool]:
        """The input signatures seen so far, each with whether it runs traced."""
        entry = _TRACES.get(self, {})
        return {k: v is not None for k, v in entry.items() if k != "modules"}

    def _apply(self, fn, *args, **kwargs):
        _TRACES.pop(self, None)
        return super()._apply(fn, *args, **kwargs)
