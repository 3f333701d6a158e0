"""The inference engines users pick instead of PyTorch: ONNX Runtime and OpenVINO.

Both run the same ONNX file, exported once per model by :func:`export_onnx`
(``torch.onnx.export``, the dynamo exporter, batch dimension dynamic), in FP32 with the
thread count of the run:

- :class:`OnnxRuntimeModel`: an ``InferenceSession`` on the CPU execution provider
  (``intra_op_num_threads`` = threads, sequential execution, every graph optimisation), or on
  the CUDA provider for a CUDA device when onnxruntime has one (``onnxruntime-gpu``), with
  inputs and outputs bound to torch's CUDA memory so no copy is timed;
- :class:`OpenVinoModel`: the OpenVINO CPU plugin, compiled per input shape (static shapes,
  as users deploy it) with ``INFERENCE_NUM_THREADS`` = threads, one stream, the latency hint
  and ``INFERENCE_PRECISION_HINT=f32`` -- without it OpenVINO computes in bf16 on CPUs with
  AMX or AVX512-BF16 and would be held to a different tolerance than every other backend.

Each takes and returns float32 torch tensors, so the cnn suite validates them against its
float64 reference like any backend. A model the exporter rejects, or an engine that is not
installed, raises :class:`EngineError` with the reason; the suite records that as a failed
case and the run goes on.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import re
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["ENGINES", "EngineError", "Export", "OnnxRuntimeModel", "OpenVinoModel",
           "export_onnx", "versions"]

#: cnn backend name -> the Python package it needs.
ENGINES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}


class EngineError(RuntimeError):
    """An engine cannot run the model: not installed, export failed, or no such device."""


def versions() -> dict[str, str | None]:
    """Installed versions of the exporter's and engines' packages (None: not installed), for
    the machine fingerprint."""
    out: dict[str, str | None] = {}
    for pkg in ("onnx", "onnxscript", "onnxruntime", "onnxruntime-gpu", "openvino"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise EngineError(f"{name} is not installed ({exc}); `bash scripts/setup.sh` installs "
                          f"it, or `pip install {name}`") from None


def _reason(exc: BaseException) -> str:
    """The line of an exporter error that names the cause: its "Exception summary" (the
    exporter's own messages open with pages of advice), else its first line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if "## Exception summary" in lines:
        rest = lines[lines.index("## Exception summary") + 1:]
        if rest:
            return rest[0]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


class Export(dict):
    """What :func:`export_onnx` did: ``path``, ``opset``, ``exporter``, ``seconds``."""


def export_onnx(model: nn.Module, example: torch.Tensor, path: str | Path) -> Export:
    """Export ``model`` (eval mode, float32, on the CPU) to ``path`` with a dynamic batch
    dimension. Raises EngineError naming what the exporter rejected."""
    _import("onnxscript")  # the dynamo exporter's dependency: a clear message when missing
    model = model.eval()
    batch = torch.export.Dim("batch", min=1, max=4096)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (example.cpu(),), dynamo=True,
                                        dynamic_shapes=({0: batch},), verbose=False)
            program.save(str(path))
    except Exception as exc:  # noqa: BLE001 -- any exporter failure fails this backend only
        raise EngineError(f"torch.onnx.export failed: {_reason(exc)}") from exc
    onnx = _import("onnx")
    proto = onnx.load(str(path), load_external_data=False)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    return Export(path=str(path), opset=opset, exporter="torch.onnx.export(dynamo=True)",
                  seconds=time.perf_counter() - start)


class OnnxRuntimeModel:
    """``model(x)`` through ONNX Runtime; ``device`` "cpu" or "cuda[:i]"."""

    def __init__(self, onnx_path: str | Path, threads: int, device: str = "cpu"):
        ort = _import("onnxruntime")
        self.device = torch.device(device)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.device.type == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise EngineError("this onnxruntime has no CUDA execution provider "
                                  "(install onnxruntime-gpu for the GPU)")
            providers: list[Any] = [("CUDAExecutionProvider",
                                     {"device_id": self.device.index or 0})]
        else:
            providers = ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(onnx_path), options, providers=providers)
        self.providers = self.session.get_providers()
        self.input = self.session.get_inputs()[0].name
        self.output = self.session.get_outputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        if self.device.type != "cuda":
            return torch.from_numpy(self.session.run([self.output], {self.input: x.numpy()})[0])
        # CUDA: bind torch's buffers so the timing has no host round trip. The output shape
        # is only known after a run, so the first call per shape lets ORT allocate it.
        binding = self.session.io_binding()
        binding.bind_input(self.input, "cuda", self.device.index or 0, np.float32,
                           tuple(x.shape), x.data_ptr())
        binding.bind_output(self.output, "cuda", self.device.index or 0)
        self.session.run_with_iobinding(binding)
        out = binding.get_outputs()[0]
        return torch.from_dlpack(out.to_dlpack()) if hasattr(out, "to_dlpack") else \
            torch.from_numpy(binding.copy_outputs_to_cpu()[0]).to(self.device)


class OpenVinoModel:
    """``model(x)`` through OpenVINO's CPU plugin, one compiled model per input shape."""

    def __init__(self, onnx_path: str | Path, threads: int, device: str = "cpu"):
        if torch.device(device).type != "cpu":
            raise EngineError("pybench runs OpenVINO on the CPU only (it has no CUDA plugin)")
        self.ov = _import("openvino")
        self.core = self.ov.Core()
        self.model = self.core.read_model(str(onnx_path))
        self.config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                       "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        self.requests: dict[tuple[int, ...], Any] = {}

    def _request(self, shape: tuple[int, ...]):
        request = self.requests.get(shape)
        if request is None:
            model = self.model.clone()
            model.reshape({model.inputs[0].any_name: self.ov.PartialShape(list(shape))})
            compiled = self.core.compile_model(model, "CPU", self.config)
            request = self.requests[shape] = compiled.create_infer_request()
        return request

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        request = self._request(tuple(x.shape))
        request.infer({0: x.numpy()}, share_inputs=True)
        # The request reuses its output buffer on the next call: hand out a copy.
        return torch.from_numpy(request.get_output_tensor(0).data.copy())
