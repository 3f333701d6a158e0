"""Run one model of the cnn suite in its own process: :func:`child` (what
:mod:`pybench.runner` forks), or ``python -m pybench.worker WORK OUTPUT`` by hand.

Google Benchmark runs once per process, and a model that crashes its process must not take
the whole run down, so the runner starts one worker per model and device. Exit status:
0 done, 1 an error (traceback on stderr), 130 interrupted.
"""
from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import threading
import traceback
from typing import Sequence

# Imported here, not in main(): the runner's fork server preloads this module, so every
# worker it forks starts with torch, torchvision and pybench already imported.
from pybench.suites import cnn


def _interrupt_once(signum, frame):
    # Ctrl-C reaches the worker twice (from the terminal and from the runner): the first
    # stops the timing, the second must not interrupt the writing of what finished.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pybench.worker", description=__doc__)
    parser.add_argument("work", help="pybench.suites.cnn.Work as JSON")
    parser.add_argument("output", help="result JSON to write")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, _interrupt_once)
    try:
        cnn.run_model(cnn.Work.from_json(args.work), args.output)
    except KeyboardInterrupt:
        return 130
    except Exception:  # noqa: BLE001 -- the runner records the traceback as the case's error
        traceback.print_exc()
        return 1
    return 0


def _thread_only_tqdm_lock() -> None:
    """torch.fx's Interpreter (convert's shape propagation) opens a disabled tqdm bar, and
    tqdm's first bar creates a multiprocessing lock: in a forkserver child, a named
    semaphore that only multiprocessing's exit handling unlinks. child() skips that
    handling, so every pybench-backend worker left one behind, and the run ended with
    resource_tracker's "leaked semaphore objects" warning. A worker prints no bars from
    other processes: a thread lock is all tqdm needs here."""
    try:
        import tqdm
    except ImportError:  # torch.hub's stand-in then, which takes no lock
        return
    tqdm.tqdm.set_lock(threading.RLock())


def child(work: str, output: str, log: str) -> None:
    """Process target: stdout and stderr (Google Benchmark's console output, tracebacks) go
    to the file ``log``; the exit status is :func:`main`'s."""
    _thread_only_tqdm_lock()
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    code = main([work, output])
    sys.stdout.flush()
    sys.stderr.flush()
    ctypes.CDLL(None).fflush(None)  # Google Benchmark's console output sits in C stdio
    os._exit(code)  # skip multiprocessing's exit handling: the status is ours


if __name__ == "__main__":
    sys.exit(main())
