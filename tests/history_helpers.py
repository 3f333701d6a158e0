"""Synthetic result documents in the exact layouts pybench.results.store reads: pybench's (as
pybench.harness writes it), a C++ Google Benchmark binary's, pytest-benchmark's."""
from __future__ import annotations

import json

import numpy as np

FINGERPRINT_A = {"cpu_model": "AMD EPYC 9999 Test", "cpu_count": 2, "cpu_isa_detected": "avx512",
                 "cpu_isa_in_use": "avx512", "threads": 2, "gpu": "no CUDA device"}
FINGERPRINT_B = {"cpu_model": "Intel Xeon Test", "cpu_count": 8, "cpu_isa_detected": "avx2",
                 "cpu_isa_in_use": "avx2", "threads": 8, "gpu": "NVIDIA H100"}


def lognormal(seed: int, median: float, n: int, sigma: float = 0.03) -> list[float]:
    return list(np.random.default_rng(seed).lognormal(np.log(median), sigma, n))


def pybench_doc(times: dict[tuple[str, str, str], list[float]], *, suite: str = "gram",
                fingerprint: dict | None = None, threads: int = 2) -> dict:
    """``times[(case, implementation, device)]`` = per-repetition seconds."""
    benchmarks = []
    for (case, impl, device), samples in times.items():
        name = f"{suite}/{case}/{impl}/{device}"
        extra = {"suite": suite, "case": case, "implementation": impl, "device": device,
                 "threads": threads, "flops": 2_000_000, "bytes": 1000, "tolerance": 1e-5,
                 "params": {}, "validation_error": 1e-7, "samples_s": samples,
                 "iterations": [100] * len(samples)}
        for i, s in enumerate(samples):
            benchmarks.append({"name": f"{name}/manual_time", "family_index": 0,
                               "per_family_instance_index": 0, "run_name": f"{name}/manual_time",
                               "run_type": "iteration", "repetitions": len(samples),
                               "repetition_index": i, "threads": 1, "iterations": 100,
                               "real_time": s * 1e3, "cpu_time": s * 1e3, "time_unit": "ms",
                               "pybench": extra})
        for agg in ("mean", "median", "stddev", "cv"):
            value = {"mean": np.mean(samples), "median": np.median(samples),
                     "stddev": np.std(samples), "cv": 0.01}[agg]
            benchmarks.append({"name": f"{name}/manual_time_{agg}", "run_name": f"{name}/manual_time",
                               "run_type": "aggregate", "aggregate_name": agg,
                               "aggregate_unit": "percentage" if agg == "cv" else "time",
                               "repetitions": len(samples), "iterations": len(samples),
                               "real_time": float(value) * (1 if agg == "cv" else 1e3),
                               "cpu_time": float(value) * 1e3, "time_unit": "ms",
                               "pybench": extra})
    return {"context": {"date": "2026-12-02T03:00:00+00:00", "host_name": "test",
                        "executable": "pybench", "num_cpus": 2, "library_version": "v1.9.5",
                        "json_schema_version": 1,
                        "pybench": {"api_version": 1, "suite": suite, "threads": threads,
                                    "fingerprint": fingerprint or FINGERPRINT_A,
                                    "repetitions": 5, "min_time_s": 0.01, "warmup_s": 0.05,
                                    "failures": []}},
            "benchmarks": benchmarks}


def gram_times(pybench_s: float, torch_s: float, n: int = 10, seed: int = 0,
               cases=("grid:c64_hw784", "grid:c128_hw784"), sigma: float = 0.03) -> dict:
    out = {}
    for k, case in enumerate(cases):
        out[(case, "pybench", "cpu")] = lognormal(seed * 100 + 2 * k, pybench_s, n, sigma)
        out[(case, "torch", "cpu")] = lognormal(seed * 100 + 2 * k + 1, torch_s, n, sigma)
    return out


# What a C++ Google Benchmark binary writes with --benchmark_repetitions=3
# --benchmark_out_format=json (google/benchmark 1.9: iteration entries per repetition,
# then the aggregates; times in the benchmark's unit).
CPP_GBENCH = {
    "context": {"date": "2026-12-02T03:10:11+00:00", "host_name": "ci-box",
                "executable": "/repo/build/cmake/bench/gram_bench", "num_cpus": 2,
                "mhz_per_cpu": 2450, "cpu_scaling_enabled": False,
                "caches": [{"type": "Data", "level": 1, "size": 49152, "num_sharing": 1}],
                "load_avg": [1.5, 1.2, 1.0], "library_version": "v1.8.2",
                "library_build_type": "release", "json_schema_version": 1},
    "benchmarks": [
        *({"name": f"BM_gram/{v}/grid:c64_hw784/N=1", "family_index": f, "per_family_instance_index": 0,
           "run_name": f"BM_gram/{v}/grid:c64_hw784/N=1", "run_type": "iteration", "repetitions": 3,
           "repetition_index": i, "threads": 1, "iterations": 1000, "real_time": t, "cpu_time": t,
           "time_unit": "us", "FLOP/s": 5.0e10, "bytes/s": 1.0e10}
          for f, (v, ts) in enumerate([("avx512", [40.1, 39.8, 41.0]), ("avx2", [55.0, 54.2, 56.3])])
          for i, t in enumerate(ts)),
        {"name": "BM_gram/avx512/grid:c64_hw784/N=1_median", "family_index": 0,
         "run_name": "BM_gram/avx512/grid:c64_hw784/N=1", "run_type": "aggregate", "repetitions": 3,
         "threads": 1, "aggregate_name": "median", "aggregate_unit": "time", "iterations": 3,
         "real_time": 40.1, "cpu_time": 40.1, "time_unit": "us"},
        {"name": "BM_gram/scalar/grid:c64_hw784/N=1", "family_index": 2, "run_name":
         "BM_gram/scalar/grid:c64_hw784/N=1", "run_type": "iteration", "repetitions": 3,
         "repetition_index": 0, "threads": 1, "iterations": 0, "real_time": 0, "cpu_time": 0,
         "time_unit": "us", "error_occurred": True, "error_message": "skipped: no such ISA"},
    ],
}

# What `pytest perf/ --benchmark-only --benchmark-json=F` writes (pytest-benchmark 5,
# with --benchmark-save-data, which perf/conftest.py turns on), abridged.
PYTEST_BENCHMARK = {
    "machine_info": {"node": "ci-box", "processor": "x86_64", "python_version": "3.11.7",
                     "cpu": {"brand_raw": "AMD EPYC", "count": 2}},
    "commit_info": {"id": "abc", "dirty": False},
    "benchmarks": [
        {"group": "gram", "name": "test_gram[pybench-grid:c64_hw784]",
         "fullname": "benchmarks/test_ops.py::test_gram[pybench-grid:c64_hw784]",
         "params": {"impl": "pybench"}, "param": "pybench-grid:c64_hw784",
         "extra_info": {"suite": "pytest-ops", "case": "grid:c64_hw784",
                        "implementation": "pybench", "device": "cpu"},
         "options": {"min_rounds": 5},
         "stats": {"min": 4.0e-5, "max": 4.4e-5, "mean": 4.1e-5, "stddev": 1e-6, "rounds": 4,
                   "median": 4.1e-5, "iqr": 1e-6, "q1": 4.0e-5, "q3": 4.2e-5, "iqr_outliers": 0,
                   "stddev_outliers": 0, "outliers": "0;0", "ld15iqr": 4.0e-5, "hd15iqr": 4.4e-5,
                   "ops": 24390.2, "total": 1.64e-4, "iterations": 10,
                   "data": [4.0e-5, 4.1e-5, 4.4e-5, 4.1e-5]}},
        {"group": "gram", "name": "test_other", "fullname": "benchmarks/test_ops.py::test_other",
         "params": None, "param": None, "extra_info": {}, "options": {},
         "stats": {"min": 1e-3, "max": 1e-3, "mean": 1e-3, "stddev": 0, "rounds": 1,
                   "median": 1e-3, "iterations": 1}},
    ],
    "datetime": "2026-12-02T03:12:00.000000+00:00", "version": "5.3.1",
}


def write(path, doc) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return str(path)
