"""A pybench worker with faults injected, for tests of the runner (not a test module).

PYBENCH_FAULTS is a comma-separated list of model=fault:
  wrong  -- the pybench backend's output is off by 1% (must fail validation);
  crash  -- the worker process dies (os._exit(3)) before writing anything;
  hang   -- the worker sleeps for an hour before starting (to be interrupted).
"""
import os
import sys
import time

from pybench import worker
from pybench.suites import cnn

FAULTS = dict(item.split("=") for item in os.environ.get("PYBENCH_FAULTS", "").split(",") if item)

_module = cnn.ModelBench.module.__wrapped__


def module(self, backend):
    m = _module(self, backend)
    if backend == "pybench" and FAULTS.get(self.name) == "wrong":
        return lambda x: m(x) * 1.01
    return m


cnn.ModelBench.module = module
_run_model = cnn.run_model


def run_model(work, output):
    fault = FAULTS.get(work.model)
    if fault == "crash":
        print("injected crash", flush=True)
        os._exit(3)
    if fault == "hang":
        print("hanging", flush=True)
        time.sleep(3600)
    return _run_model(work, output)


cnn.run_model = run_model

if __name__ == "__main__":
    sys.exit(worker.main())
