"""The machine fingerprint stored in every result file (``context["pybench"]["fingerprint"]``)
and printed by ``pybench info``: CPU, ISA detected and in use, the cache sizes the kernels
blocked for, threads, software versions, GPU. Every speed figure pybench prints names the machine it came from through it."""
from __future__ import annotations

import os
import platform
import re

import torch

import pybench
from pybench import engines, ops

__all__ = ["machine_info"]


#: Environment variables that cap the ISA (or cache sizes) a library uses at run time.
ISA_CAP_VARIABLES = ("PYBENCH_MAX_CPU_ISA", "PYBENCH_CPU_CACHES", "ONEDNN_MAX_CPU_ISA",
                     "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cudnn_version() -> str | None:
    if not torch.backends.cudnn.is_available():
        return None
    v = torch.backends.cudnn.version()  # 9.x: M*10000 + m*100 + p; 8.x: M*1000 + m*100 + p
    major, rest = (v // 10000, v % 10000) if v >= 90000 else (v // 1000, v % 1000)
    return f"{major}.{rest // 100}.{rest % 100}"


def _git_commit() -> str | None:
    """HEAD of the checkout pybench runs from, "+dirty" when it has local changes; None
    outside a git checkout (an installed wheel)."""
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(pybench.__file__)))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _gpu_driver() -> str | None:
    if not torch.cuda.is_available():
        return None
    try:  # CUDA driver API version, e.g. 13000 -> "13.0"
        v = torch._C._cuda_getDriverVersion()
        return f"CUDA driver API {v // 1000}.{v % 1000 // 10}"
    except (AttributeError, RuntimeError):
        return None


def machine_info() -> dict[str, object]:
    """Fingerprint of the machine and software stack; ``context["pybench"]["fingerprint"]``."""
    config = torch.__config__.show()
    onednn = re.search(r"(?:oneDNN|MKL-DNN) v([\w.]+)", config)
    blas = re.search(r"BLAS_INFO=(\w+)", config)
    cuda = torch.cuda.is_available()
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_isa_detected": ops.detected_cpu_isa(),
        "cpu_isa_in_use": ops.cpu_isa(),
        # What the kernels' blocking was derived from (PYBENCH_CPU_CACHES included); not a
        # machine-kind field (results/store.py): cpu_model already names the caches.
        "cpu_caches": ops.cpu_caches(),
        # Set by scripts/as_avx2_machine.sh and the like: figures taken under a cap are an
        # emulation of another machine, and must say so.
        "isa_caps": {k: os.environ[k] for k in ISA_CAP_VARIABLES if os.environ.get(k)},
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "pybench": pybench.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": _cudnn_version(),
        "onednn": onednn.group(1) if onednn and torch.backends.mkldnn.is_available() else None,
        "blas": blas.group(1) if blas else None,
        # The engines the cnn suite compares against (None: not installed).
        **{k.replace("-", "_"): v for k, v in engines.versions().items()},
        "extension_cuda_kernels": ops.has_cuda_kernels(),
        "gpu": torch.cuda.get_device_name(0) if cuda else "no CUDA device",
        "gpu_capability": ".".join(map(str, torch.cuda.get_device_capability(0))) if cuda else None,
        "gpu_count": torch.cuda.device_count() if cuda else 0,
        "gpu_driver": _gpu_driver(),
        "git_commit": _git_commit(),
    }
