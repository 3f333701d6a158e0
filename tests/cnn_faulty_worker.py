"""A pybench worker with faults injected, for tests of the runner (not a test module).

``child(work, output, log, faults)`` is :func:`pybench.worker.child` after applying
``faults``, a comma-separated list of model=fault:
  wrong  -- the pybench backend's output is off by 1% (must fail validation);
  crash  -- the worker process dies (os._exit(3)) before writing anything;
  hang   -- the worker sleeps for an hour before starting (to be interrupted).
"""
import os
import time

from pybench import worker
from pybench.suites import cnn


def child(work, output, log, faults=""):
    faults = dict(item.split("=") for item in faults.split(",") if item)
    module = cnn.ModelBench.module

    def faulty_module(self, backend, batch=None):
        m = module(self, backend, batch)
        if backend == "pybench" and faults.get(self.name) == "wrong":
            return lambda x: m(x) * 1.01
        return m

    run_model = cnn.run_model

    def faulty_run_model(work, output):
        fault = faults.get(work.model)
        if fault == "crash":
            print("injected crash", flush=True)
            os._exit(3)
        if fault == "hang":
            print("hanging", flush=True)
            time.sleep(3600)
        return run_model(work, output)

    cnn.ModelBench.module = faulty_module
    cnn.run_model = faulty_run_model
    worker.child(work, output, log)
