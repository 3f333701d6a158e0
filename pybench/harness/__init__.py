"""The benchmark harness: validate, time through Google Benchmark, write versioned JSON.

A suite describes each (case, implementation, device) as a frozen :class:`BenchmarkSpec`
(like torch.utils.benchmark's ``TaskSpec``). :func:`run_benchmarks`

1. validates every spec against its float64 reference -- a spec that raises or misses its
   tolerance becomes a :class:`Failure` and is never timed;
2. registers the valid ones with the ``google_benchmark`` Python bindings (manual time:
   ``time.perf_counter`` around each call on the CPU, CUDA events on the GPU) and runs them
   all once, with repetitions randomly interleaved so that host noise hits every
   implementation alike;
3. rewrites Google Benchmark's JSON (``context`` + ``benchmarks[]``, still readable by its
   ``tools/compare.py``) with pybench's extras under ``"pybench"`` keys, ``null`` for any
   NaN/inf, and returns :class:`Measurement` objects for the table.

Google Benchmark's flags are process-global: run_benchmarks may be called once per process
(run further sets in a subprocess).
"""
from pybench.harness.measure import (ROOFLINE_COLUMNS, Report, TargetCI, peak_bandwidth,
                                    peak_flops, run_benchmarks, validate)
from pybench.harness.spec import BenchmarkSpec, Failure, Measurement, Setup, relative_error
from pybench.harness.timer import _bare_context  # noqa: F401 (the cnn runner's empty context)
from pybench.results.schema import (API_VERSION, BASELINE, INTERRUPTED, gb_spec_name,
                                    result_path, sanitize)

__all__ = ["API_VERSION", "BASELINE", "INTERRUPTED", "BenchmarkSpec", "Measurement", "Failure",
           "Report", "Setup", "TargetCI", "validate", "run_benchmarks", "sanitize", "result_path",
           "gb_spec_name", "peak_flops", "peak_bandwidth", "ROOFLINE_COLUMNS", "relative_error"]
