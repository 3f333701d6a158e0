"""Op microbenchmarks under pytest-benchmark: opt in with

    pytest perf/ --benchmark-only --benchmark-json=ops.json
    python -m pybench history add ops.json

Never part of the normal test run (pyproject's testpaths is tests/). Each benchmark names
its suite/case/implementation/device in ``extra_info`` so pybench.results.store files it like a
``pybench run`` result, and per-round times are kept (``--benchmark-save-data``) so the
compare gate has samples, not just a summary.
"""
import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if hasattr(config.option, "benchmark_save_data"):
        config.option.benchmark_save_data = True
