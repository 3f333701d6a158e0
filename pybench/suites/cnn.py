"""CNN suite: whole models of every family, PyTorch eager vs pybench vs ``torch.compile``.

A case is one model (``pybench.models``) at one batch and input size on one device. Backends:

- ``torch``: the eager model (oneDNN on the CPU, cuDNN on the GPU);
- ``pybench``: ``pybench.nn.convert(model, layout="auto")`` on the CPU -- per batch, the
  blocked-layout rewrite (activations in channel blocks, epilogues fused) and the in-place
  layer swap (measured per-layer choices) timed against each other, the faster kept; on the
  GPU the layer swap. BatchNorm folded; whatever is not converted runs as PyTorch;
- ``compile``: ``torch.compile(model)`` (inductor), the choice many users would make instead;
- ``onnxruntime`` / ``openvino``: the model exported once with ``torch.onnx.export`` and run
  by the inference engines users deploy instead (:mod:`pybench.engines`: FP32, ``--threads``
  threads; OpenVINO on the CPU only). A model the exporter rejects is a failed case.

Validation, before anything is timed: every backend's output must be within
:data:`TOLERANCE` (relative Frobenius error) of the float64 eager model on the first
:data:`REFERENCE_SAMPLES` samples, and of the float32 eager output on the whole batch.
Models are in eval mode, so samples are independent and the float64 pass on a slice checks
the arithmetic without paying a float64 forward of the whole batch.

One model's cases (all batches x backends) are one Google Benchmark run in one process
(``python -m pybench.worker WORK OUT.json``, see :func:`run_model`), so its
repetitions interleave; :mod:`pybench.runner` starts one such process per model and device.
"""
from __future__ import annotations

import copy
import functools
import json
import resource
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from pybench import engines, harness, models, shapes
from pybench.results import schema
from pybench.harness import BenchmarkSpec, relative_error
from pybench.shapes import Shape
from pybench.suites import Suite, register

__all__ = ["BACKENDS", "DEFAULT_BACKENDS", "BATCHES", "QUICK_MODELS", "TOLERANCE", "CnnSuite",
           "Work", "ModelBench", "layer_breakdown", "conv_geometry", "run_model"]

#: Every backend, in report order; ``torch`` is the baseline.
BACKENDS = ("torch", "pybench", "compile", "onnxruntime", "openvino")
#: What runs without ``--backends`` (compile costs minutes of compilation per model).
DEFAULT_BACKENDS = ("torch", "pybench", "onnxruntime", "openvino")
#: Backends that run on some device types only; the others run wherever torch does.
BACKEND_DEVICES = {"openvino": ("cpu",)}
#: Batches every model runs at.
BATCHES = (1, 8)
#: ``--quick``: one model per family, at the smallest input size each takes, >= 64.
QUICK_MODELS = ("lenet5", "alexnet", "vgg11", "nin", "googlenet", "resnet18", "densenet121",
                "mobilenet_v2", "cifar10_cnn", "mnist_mlp")
QUICK_SIZE = 64
#: Relative Frobenius error allowed against the float64 / float32 eager outputs. Float32
#: through tens of layers (and BatchNorm folded into the weights) differs from float64 by
#: 1e-7..1e-5 on these models; a wrong kernel is off by O(1).
TOLERANCE = 1e-4
#: Samples of each batch checked against the float64 model (the whole batch is checked
#: against float32 eager; a float64 VGG-19 pass costs seconds per sample).
REFERENCE_SAMPLES = 1
#: A model slower than this per call gets one pass of layer breakdown instead of
#: ``Work.layer_passes``: its layers take milliseconds each, well above timer noise.
SLOW_CALL_S = 0.5


@dataclass(frozen=True)
class Settings:
    """How the main job measures, resolved once from the command line (:meth:`resolve`) and
    carried unchanged in the runner's plan and in every worker's :class:`Work`."""

    batches: tuple[int, ...] = BATCHES
    backends: tuple[str, ...] = DEFAULT_BACKENDS
    size: int | None = None
    threads: int = 1
    repetitions: int = 5
    min_time: float = 0.1
    warmup: float = 0.05
    filter: str | None = None
    layers: bool = True
    #: ``pybench.nn.convert``'s ``choose``: "measure" keeps, per layer and batch, the faster
    #: of pybench and PyTorch; "all" swaps every supported layer.
    choose: str = "measure"
    #: ``pybench.nn.convert``'s ``layout`` on the CPU: "auto" converts both ways per batch and
    #: keeps the faster on this machine; "nchwc" keeps activations blocked between pybench
    #: layers with fused epilogues (``choose`` does not apply there); "nchw" swaps layers in
    #: place. GPU runs always use "nchw".
    layout: str = "auto"

    @classmethod
    def resolve(cls, *, quick: bool = False, **given: Any) -> "Settings":
        """The settings of a run: ``given`` values that are not None, else the defaults
        (``quick``: fewer, shorter repetitions at :data:`QUICK_SIZE`). The torch baseline
        is always among the backends, since speedups need it in the same run."""
        defaults = {"repetitions": 3, "min_time": 0.01, "warmup": 0.01,
                    "size": QUICK_SIZE} if quick else {}
        values = {**defaults, **{k: v for k, v in given.items() if v is not None}}
        backends = tuple(values.get("backends", DEFAULT_BACKENDS))
        if "torch" not in backends:
            values["backends"] = ("torch", *backends)
        return cls(**values)


@dataclass(frozen=True)
class Work:
    """What one worker process runs: one model on one device, all its batches x backends."""

    model: str
    device: str
    settings: Settings = Settings()
    layer_passes: int = 2

    @classmethod
    def from_json(cls, text: str) -> "Work":
        d = json.loads(text)
        st = d["settings"]
        st["batches"], st["backends"] = tuple(st["batches"]), tuple(st["backends"])
        return cls(**{**d, "settings": Settings(**st)})

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def input_size(spec: models.ModelSpec, size: int | None) -> int:
    """H = W the model runs at: ``size`` clamped up to its ``min_size``; its native size
    when it takes no other (or ``size`` is None)."""
    native = spec.input_shape[-1]
    if size is None or spec.min_size is None:
        return native
    return max(size, spec.min_size)


def case_label(model: str, batch: int, size: int) -> str:
    return f"{model}/N:{batch}/HW:{size}"


def spec_name(model: str, batch: int, size: int, backend: str, device: str) -> str:
    return f"cnn/{case_label(model, batch, size)}/{backend}/{device}"


class ModelBench:
    """One model on one device: its input per batch, references and backends, built lazily
    and shared by every spec of the model (one converted / compiled copy for all batches)."""

    def __init__(self, name: str, device: str, batches: Sequence[int], size: int | None = None,
                 threads: int | None = None, choose: str = "all", layout: str = "nchw"):
        self.spec = models.get(name)
        self.choose = choose
        self.layout = layout if torch.device(device).type == "cpu" else "nchw"
        #: Why the blocked conversion failed and the model was converted in NCHW instead.
        self.layout_error: str | None = None
        self.threads = threads or torch.get_num_threads()
        self.name, self.device = name, device
        self.size = input_size(self.spec, size)
        self.batches = tuple(batches)
        self.eager = self.spec.build(device=device)
        full = self.spec.example_input(max(self.batches), seed=1,
                                       size=self.size if self.spec.min_size else None,
                                       device=device)
        self.inputs = {b: full[:b].contiguous() for b in self.batches}
        self.conversion: dict[str, Any] | None = None
        #: The ONNX export both engines run (:func:`pybench.engines.export_onnx`'s record).
        self.export: dict[str, Any] | None = None
        self._export_error: engines.EngineError | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="pybench-onnx-")

    @functools.cached_property
    def reference64(self) -> torch.Tensor:
        """Float64 eager output on the first REFERENCE_SAMPLES samples, on the CPU."""
        model = copy.deepcopy(self.eager).to("cpu", torch.float64)
        x = self.inputs[max(self.batches)][:REFERENCE_SAMPLES].to("cpu", torch.float64)
        with torch.inference_mode():
            return model(x)

    @functools.lru_cache(maxsize=None)
    def reference32(self, batch: int) -> torch.Tensor:
        with torch.inference_mode():
            return self.eager(self.inputs[batch])

    def error(self, batch: int, out: torch.Tensor) -> float:
        """max(relative error vs float64 on the first samples, vs float32 eager on all)."""
        ref32 = self.reference32(batch)
        error32 = relative_error(out, ref32, tuple(ref32.shape))
        k = min(batch, REFERENCE_SAMPLES)
        return max(relative_error(out[:k], self.reference64[:k]), error32)

    def module(self, backend: str, batch: int | None = None) -> nn.Module | Callable:
        """The model as ``backend`` runs it at ``batch``. One copy serves every batch, except
        pybench's with measured choices: those are made per batch (default: the largest)."""
        if backend != "pybench" or self.layout == "nchwc" or (
                self.choose == "all" and self.layout == "nchw"):
            return self._module(backend, None)
        return self._module(backend, batch or max(self.batches))

    @functools.lru_cache(maxsize=None)
    def _module(self, backend: str, batch: int | None) -> nn.Module | Callable:
        if backend == "torch":
            return self.eager
        if backend == "pybench" and self.layout == "nchwc":
            import pybench.nn
            try:
                converted = pybench.nn.convert(
                    self.eager, example_inputs=(self.inputs[min(self.batches)],), layout="nchwc")
            except Exception as exc:  # noqa: BLE001 -- fall back, and say why
                self.layout_error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
                self.layout = "nchw"
                return self._module(backend, None if self.choose == "all" else max(self.batches))
            r = converted.pybench_report
            self.conversion = {"layout": "nchwc", "converted": [list(c) for c in r.converted],
                               "folded": [list(f) for f in r.folded],
                               "skipped": [list(s) for s in r.skipped],
                               "reorders": list(r.layout)}
            return converted
        if backend == "pybench":
            import pybench.nn
            from pybench.nn.choose import as_dicts
            example = None if batch is None else (self.inputs[batch],)
            converted = pybench.nn.convert(self.eager, example_inputs=example,
                                           choose=self.choose, layout=self.layout)
            r = converted.pybench_report
            choices = (self.conversion or {}).get("choices", {})
            if r.choices:
                choices[str(batch)] = as_dicts(r.choices)
            layout_choice = (self.conversion or {}).get("layout_choice", {})
            if r.layout_choice is not None:
                layout_choice[str(batch)] = r.layout_choice
            self.conversion = {"layout": self.layout, "converted": [list(c) for c in r.converted],
                               "folded": [list(f) for f in r.folded],
                               "skipped": [list(s) for s in r.skipped], "choices": choices,
                               "layout_choice": layout_choice, "reorders": list(r.layout)}
            if self.layout_error is not None:
                self.conversion["nchwc_error"] = self.layout_error
            return converted
        if backend == "compile":
            return torch.compile(self.eager, dynamic=False)
        if backend in engines.ENGINES:
            engine = (engines.OnnxRuntimeModel if backend == "onnxruntime"
                      else engines.OpenVinoModel)
            model = engine(self._onnx_path(), self.threads, self.device)
            if self.export is not None and hasattr(model, "providers"):
                self.export["onnxruntime_providers"] = model.providers
            return model
        raise ValueError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")

    def _onnx_path(self) -> str:
        """The model exported once for both engines (a failed export fails both alike)."""
        if self._export_error is not None:
            raise self._export_error
        if self.export is None:
            example = self.inputs[min(self.batches)][:1].to("cpu")
            try:
                self.export = dict(engines.export_onnx(copy.deepcopy(self.eager).to("cpu"),
                                                       example, Path(self._tmp.name) / "model.onnx"))
            except engines.EngineError as exc:
                self._export_error = exc
                raise
            self.export.pop("path")
            self.export["file"] = str(Path(self._tmp.name) / "model.onnx")
        return self.export["file"]

    def setup(self, backend: str, batch: int):
        """``harness.Setup`` for one spec: ``(run, check)``."""
        module, x = self.module(backend, batch), self.inputs[batch]

        def run():
            with torch.inference_mode():
                return module(x)
        return run, functools.partial(self.error, batch)

    def _classes(self) -> int:
        linears = [m for m in self.eager.modules() if isinstance(m, nn.Linear)]
        return linears[-1].out_features if linears else 0

    def _bytes(self, batch: int) -> int:
        # Compulsory traffic of one call: every weight once, the input, the logits.
        x = self.inputs[batch]
        return (sum(p.numel() * p.element_size() for p in self.eager.parameters())
                + x.numel() * x.element_size() + batch * self._classes() * 4)

    def specs(self, backends: Sequence[str], threads: int) -> list[BenchmarkSpec]:
        return _model_specs(self.name, self.device, self.size, self.batches, backends, threads,
                            setup=self.setup, nbytes=self._bytes)


def _not_built() -> Any:
    raise RuntimeError("this spec's model was not built (its worker did not run it)")


def _model_specs(name: str, device: str, size: int, batches: Sequence[int],
                 backends: Sequence[str], threads: int, *,
                 setup: Callable[[str, int], Any] | None = None,
                 nbytes: Callable[[int], int] | None = None) -> list[BenchmarkSpec]:
    """The specs of one model on one device: batches x backends. Without ``setup`` /
    ``nbytes`` (:func:`planned_specs`) nothing is built: the specs only describe."""
    spec = models.get(name)
    out = []
    for batch in batches:
        flops = spec.flops(batch, size=size if spec.min_size else None)
        params = {"model": name, "family": spec.family, "batch": batch, "size": size,
                  "backend": "", "source": spec.source}
        for backend in backends:
            if torch.device(device).type not in BACKEND_DEVICES.get(backend, ("cpu", "cuda")):
                continue
            out.append(BenchmarkSpec(
                suite="cnn", case=case_label(name, batch, size), implementation=backend,
                device=device, threads=threads, flops=flops,
                bytes=nbytes(batch) if nbytes else 0, images=batch,
                setup=functools.partial(setup, backend, batch) if setup else _not_built,
                tolerance=TOLERANCE, params={**params, "backend": backend},
                # A pause and an untimed call per repetition (harness.timer.SETTLE_S):
                # the spec run before may leave its threads spinning (ONNX Runtime's
                # intra-op pool, OpenMP's workers), and a model's repetition is one or two
                # calls. Measured, 2 threads, idle machine: ResNet-18 through pybench
                # 16.1 ms alone, 35.7 ms right after an ONNX Runtime call; eager 28.8 ->
                # 58.4 ms. Each backend is timed in its own steady state, as when it
                # runs alone.
                rewarm=True))
    return out


def planned_specs(work: Work) -> list[BenchmarkSpec]:
    """The specs ``work``'s worker runs, described without building the model: what the
    runner records as failed when the worker dies."""
    size = input_size(models.get(work.model), work.settings.size)
    return _model_specs(work.model, work.device, size, work.settings.batches,
                        work.settings.backends, work.settings.threads)


# --- per-layer breakdown ---------------------------------------------------------------------

def conv_geometry(conv: nn.Conv2d, x: torch.Tensor) -> dict[str, int] | None:
    """The conv's line in ``shapes/conv.txt`` terms (C H W K R S SH SW PH PW DH DW G) for
    input ``x``; None for string padding ("same"), which has no fixed per-side size."""
    if isinstance(conv.padding, str):
        return None
    _, c, h, w = x.shape
    return {"C": c, "H": h, "W": w, "K": conv.out_channels, "R": conv.kernel_size[0],
            "S": conv.kernel_size[1], "SH": conv.stride[0], "SW": conv.stride[1],
            "PH": conv.padding[0], "PW": conv.padding[1], "DH": conv.dilation[0],
            "DW": conv.dilation[1], "G": conv.groups}


@functools.lru_cache(maxsize=1)
def _known_conv_shapes() -> dict[tuple[int, ...], str]:
    """Geometry -> ``model:layer`` name of the conv suite's shape list (first line wins)."""
    known: dict[tuple[int, ...], str] = {}
    for s in shapes.load("conv"):
        known.setdefault(tuple(sorted(s.sizes)), s.name)
    return known


def _layer_type(m: nn.Module) -> str:
    if isinstance(m, nn.Conv2d):
        if m.groups == 1:
            kind = f"{m.kernel_size[0]}x{m.kernel_size[1]}"
        elif m.groups == m.in_channels == m.out_channels:
            kind = "depthwise"
        else:
            kind = "grouped"
        return f"Conv2d {kind}"
    return type(m).__name__


def _runs_as(m: nn.Module) -> str:
    return "pybench" if type(m).__module__.startswith("pybench.nn") else "PyTorch"


def layer_breakdown(module: nn.Module, x: torch.Tensor, *, passes: int = 3,
                    warmup: bool = True) -> list[dict[str, Any]]:
    """Time of every leaf layer of ``module`` on ``x``, the fastest of ``passes`` forward
    passes (after one untimed warm-up pass unless ``warmup`` is False: the module has just
    been timed), from pre-/post-forward hooks.

    The hooks add a few microseconds per layer and stop the layers overlapping on the GPU
    (each is synchronized), so layer times add up to a little more than the model's own
    time; the remainder of each pass outside every leaf layer (functional ops such as a
    residual add, Python) is reported as one ``(other)`` row. Times are per layer call
    summed over the calls in a pass; FLOPs as :func:`pybench.models.layer_flops`.
    """
    cuda = x.device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    leaves = [(name, m) for name, m in module.named_modules()
              if not any(True for _ in m.children()) and not isinstance(m, nn.Identity)]
    info: dict[str, dict[str, Any]] = {}
    current: dict[str, float] = {}
    starts: dict[str, float] = {}
    recording = [False]

    def pre(name):
        def hook(m, args):
            sync()
            starts[name] = time.perf_counter()
        return hook

    def post(name):
        def hook(m, args, output):
            sync()
            elapsed = time.perf_counter() - starts.pop(name)
            if recording[0]:
                current[name] = current.get(name, 0.0) + elapsed
            if name not in info:
                inp = args[0] if args and isinstance(args[0], torch.Tensor) else None
                geo = conv_geometry(m, inp) if isinstance(m, nn.Conv2d) and inp is not None else None
                out_t = output if isinstance(output, torch.Tensor) else None
                flops = models.layer_flops(m, out_t) if out_t is not None else 0
                nbytes = 0
                if flops and inp is not None:  # compulsory traffic: input, output, parameters
                    nbytes = 4 * (inp.numel() + out_t.numel()
                                  + sum(p.numel() for p in m.parameters()))
                info[name] = {"type": _layer_type(m), "runs_as": _runs_as(m), "flops": 0,
                              "bytes": nbytes, "geometry": geo, "calls": 0, "_flops1": flops}
            if recording[0] and pass_index[0] == 0:
                info[name]["calls"] += 1
                info[name]["flops"] += info[name]["_flops1"]
        return hook

    pass_index = [0]
    handles = []
    for name, m in leaves:
        handles.append(m.register_forward_pre_hook(pre(name)))
        handles.append(m.register_forward_hook(post(name)))
    per_pass: list[dict[str, float]] = []
    totals: list[float] = []
    try:
        with torch.inference_mode():
            if warmup:
                module(x)
            recording[0] = True
            for i in range(passes):
                pass_index[0] = i
                current.clear()
                sync()
                start = time.perf_counter()
                module(x)
                sync()
                totals.append(time.perf_counter() - start)
                per_pass.append(dict(current))
    finally:
        for h in handles:
            h.remove()
    best = min(range(passes), key=lambda i: totals[i])
    known = _known_conv_shapes()
    rows = []
    for name, _ in leaves:
        if name not in per_pass[best]:
            continue  # defined but never called
        d = info[name]
        geo = d["geometry"]
        rows.append({"layer": name, "type": d["type"], "runs_as": d["runs_as"],
                     "calls": d["calls"], "time_s": per_pass[best][name], "flops": d["flops"],
                     "bytes": d["bytes"] * d["calls"],
                     "conv": shapes.Shape("conv", tuple(geo.items())).label.removeprefix("conv/")
                     if geo else None,
                     "conv_name": known.get(tuple(sorted(geo.items()))) if geo else None})
    other = totals[best] - sum(r["time_s"] for r in rows)
    rows.append({"layer": "(other)", "type": "(other: functional ops, Python)",
                 "runs_as": "PyTorch", "calls": 1, "time_s": max(other, 0.0), "flops": 0,
                 "bytes": 0, "conv": None, "conv_name": None})
    return rows


# --- the worker --------------------------------------------------------------------------------

def run_model(work: Work, output: str | Path) -> harness.Report:
    """Validate and time ``work``'s model (all batches x backends, interleaved) in one
    Google Benchmark run, add the per-layer breakdown at the largest batch, write ``output``."""
    torch.set_num_threads(work.settings.threads)
    settings: dict[str, Any] = {}
    if work.device.startswith("cuda"):
        # Fixed shapes: let cuDNN pick its fastest algorithms; FP32 throughout (no TF32) so
        # every backend is held to the same float32 tolerance.
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        settings = {"cudnn_benchmark": True, "cudnn_allow_tf32": False,
                    "matmul_allow_tf32": False, "timer": "cuda events"}
    else:
        settings = {"timer": "time.perf_counter"}
    bench = ModelBench(work.model, work.device, work.settings.batches, work.settings.size,
                       work.settings.threads, work.settings.choose, work.settings.layout)
    specs = bench.specs(work.settings.backends, work.settings.threads)
    if work.settings.filter:
        import re
        pattern = re.compile(work.settings.filter)
        specs = [s for s in specs if pattern.search(s.name)]
    report = harness.run_benchmarks(specs, repetitions=work.settings.repetitions, min_time=work.settings.min_time,
                                    warmup=work.settings.warmup, output=None, log=lambda _: None)
    layers: list[dict[str, Any]] = []
    layer_error = None
    timed = {(m.spec.implementation, m.spec.params["batch"]): m.median
             for m in report.measurements}
    batch = max(work.settings.batches)
    if work.settings.layers and not report.document["context"]["pybench"].get("interrupted"):
        try:
            for backend in ("torch", "pybench"):
                if (backend, batch) not in timed:
                    continue  # failed validation or timing: its layers would mean nothing
                torch.manual_seed(0)
                passes = 1 if timed[backend, batch] > SLOW_CALL_S else work.layer_passes
                for row in layer_breakdown(bench.module(backend, batch), bench.inputs[batch],
                                           passes=passes, warmup=False):
                    layers.append({"model": work.model, "family": bench.spec.family,
                                   "batch": batch, "size": bench.size, "device": work.device,
                                   "backend": backend, **row})
        except Exception as exc:  # noqa: BLE001 -- the timings stand without the breakdown
            layer_error = f"{type(exc).__name__}: {exc}"
    doc = report.document
    usage = resource.getrusage(resource.RUSAGE_SELF)
    doc["context"]["pybench"].update({
        "work": asdict(work), "device_settings": settings, "layers": layers,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "layers_error": layer_error,
        "conversion": {work.model: bench.conversion} if bench.conversion else {},
        "onnx_export": {work.model: {k: v for k, v in bench.export.items() if k != "file"}}
        if bench.export else {}})
    doc = schema.sanitize(doc)
    schema.write(output, doc, indent=None)
    report.document = doc
    return report


class CnnSuite(Suite):
    """Registry entry (for ``pybench list`` and ``run --suite cnn``); ``run`` hands this
    suite to :mod:`pybench.runner`, which runs :func:`run_model` once per model."""

    name = "cnn"
    description = ("whole CNNs of every family (pybench.models) at batch 1 and 8: torch eager "
                   "vs pybench.nn.convert vs torch.compile, with per-layer breakdown")
    implementations = BACKENDS

    def cases(self) -> list[Shape]:
        out = []
        for spec in models.specs():
            size = input_size(spec, None)
            out += [Shape(spec.name, (("N", b), ("HW", size))) for b in BATCHES]
        return out

    def specs(self, case: Shape, *, device: str, threads: int) -> list[BenchmarkSpec]:
        bench = ModelBench(case.name, device, (case["N"],), case["HW"])
        return bench.specs(DEFAULT_BACKENDS, threads)


register(CnnSuite())
