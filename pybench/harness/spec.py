"""What a suite hands the harness (:class:`BenchmarkSpec`) and what it gets back
(:class:`Measurement`, :class:`Failure`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from pybench.results import stats as _stats


#: ``setup()`` returns ``(run, check)``: ``run()`` does one timed call and returns its output;
#: ``check(output)`` returns the output's error against a float64 reference.
Setup = Callable[[], "tuple[Callable[[], Any], Callable[[Any], float]]"]


@dataclass(frozen=True)
class BenchmarkSpec:
    """What to run: one implementation of one case on one device.

    ``flops`` and ``bytes`` are per call; FLOP/s and bytes/s are derived from them. Credit
    every implementation of a case with the same ``flops`` (the useful work), so that FLOP/s
    ratios equal time ratios.
    """

    suite: str
    case: str
    implementation: str
    device: str
    threads: int
    flops: int
    bytes: int
    setup: Setup = field(compare=False, repr=False)
    tolerance: float = 1e-5
    params: Mapping[str, Any] = field(default_factory=dict, compare=False)
    #: Samples (images) one call processes; > 0 adds an ``images/s`` counter.
    images: int = 0
    #: FLOPs the implementation actually executes per call, where that differs from the
    #: credited ``flops`` (PyTorch's ``F @ F.T`` computes the whole Gram matrix, twice the
    #: useful triangle): the table's "% HW" column, hardware efficiency against the
    #: measured FMA peak, beside "% peak" of the useful FLOPs. 0: same as ``flops``.
    executed_flops: int = 0
    #: One untimed call at the start of every repetition. For an implementation whose
    #: steady state is a warm cache a user's loop keeps (the raw ops' packed weights), which
    #: repetitions of other specs, interleaved in between, evict; a slow call gets one or
    #: two iterations per repetition, so otherwise every timed call would be the cold one.
    #: Also for a spec whose call would be slowed by what the previous spec left running
    #: (another runtime's spinning thread pool: the cnn suite's backends).
    rewarm: bool = False

    @property
    def name(self) -> str:
        """Google Benchmark name, ``<suite>/<case>/<implementation>/<device>``."""
        return f"{self.suite}/{self.case}/{self.implementation}/{self.device}"

    def describe(self) -> dict[str, Any]:
        return {"suite": self.suite, "case": self.case, "implementation": self.implementation,
                "device": self.device, "threads": self.threads, "flops": self.flops,
                "bytes": self.bytes, "images": self.images,
                "executed_flops": self.executed_flops or self.flops, "tolerance": self.tolerance,
                "rewarm": self.rewarm, "params": dict(self.params)}


@dataclass(frozen=True)
class Measurement:
    """Timing samples of one spec.

    ``samples[i]`` is the wall time of one call, in seconds, averaged by Google Benchmark
    over the ``iterations[i]`` calls of repetition ``i``. Repetitions of all specs are
    randomly interleaved in one process, so slow phases of a noisy host are spread over every
    implementation rather than biasing whichever ran during them. The samples are treated as
    independent draws; nothing assumes they are normally distributed.
    """

    spec: BenchmarkSpec
    samples: tuple[float, ...]
    iterations: tuple[int, ...]
    validation_error: float

    @property
    def median(self) -> float:
        """:func:`pybench.results.stats.median` of the samples."""
        return _stats.median(self.samples)

    def stats(self) -> dict[str, float]:
        """:func:`pybench.results.stats.summarize` of the samples (median, mean, stddev, CV,
        p10, p90)."""
        return _stats.summarize(self.samples)

    @property
    def cv(self) -> float:
        return self.stats()["cv"]

    @property
    def flops_per_s(self) -> float:
        """``spec.flops`` divided by the median time."""
        return self.spec.flops / self.median



@dataclass(frozen=True)
class Failure:
    """A spec that was not (fully) timed: ``stage`` is "validation" or "timing"."""

    spec: BenchmarkSpec
    stage: str
    error: str
    validation_error: float | None = None

    def describe(self) -> dict[str, Any]:
        return {"name": self.spec.name, **self.spec.describe(), "stage": self.stage,
                "error": self.error, "validation_error": self.validation_error}


def relative_error(out: Any, ref: Any, shape: tuple[int, ...] | None = None) -> float:
    """||out - ref||_F / ||ref||_F in float64 on the CPU: what a spec's ``check`` returns.
    With ``shape``, an output that is not float32 of that shape raises ValueError first."""
    if shape is not None and (tuple(out.shape) != tuple(shape) or out.dtype != torch.float32):
        raise ValueError(f"expected float32 output of shape {tuple(shape)}, "
                         f"got {out.dtype} {tuple(out.shape)}")
    diff = out.detach().to("cpu", torch.float64) - ref.to("cpu", torch.float64)
    return (torch.linalg.vector_norm(diff)
            / torch.linalg.vector_norm(ref.to("cpu", torch.float64))).item()
