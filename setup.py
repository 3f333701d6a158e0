"""Builds pybench._C, the one torch extension holding every pybench kernel.

CPU sources always; CUDA sources when torch is a CUDA build and nvcc is found, unless
PYBENCH_CUDA=0 (PYBENCH_CUDA=1 makes a missing toolkit an error instead of a CPU build).
The CUDA toolkit and the cuBLAS/cuSPARSE/cuDNN headers of torch's nvidia-* wheels are
found here, so no CUDA_HOME or CPATH has to be set by hand.
"""
import glob
import importlib.util
import os
import sys
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent
CUDA_ARCHS = ("80", "90")


def nvidia_wheel_include_dirs():
    """Header folders of the nvidia-* wheels torch depends on (cuBLAS, cuSPARSE, cuDNN).

    ATen's CUDA headers include cublas_v2.h and cusparse.h, which a bare toolkit lacks.
    """
    spec = importlib.util.find_spec("nvidia")
    if spec is None or not spec.submodule_search_locations:
        return []
    dirs = []
    for base in spec.submodule_search_locations:
        dirs += sorted(glob.glob(os.path.join(base, "*", "include")))
    return [d for d in dirs if os.path.isdir(d)]


def want_cuda(torch_module):
    flag = os.environ.get("PYBENCH_CUDA", "auto").lower()
    if flag in ("0", "off", "false", "no"):
        return False, None
    cuda_home = load_ptxas_module().find_cuda_home()
    ok = torch_module.version.cuda is not None and cuda_home is not None
    if flag in ("1", "on", "true", "yes") and not ok:
        sys.exit("PYBENCH_CUDA=1 but torch is not a CUDA build or no CUDA toolkit was found")
    return ok, cuda_home


def load_ptxas_module():
    path = ROOT / "pybench" / "_ptxas.py"
    spec = importlib.util.spec_from_file_location("pybench_ptxas", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def extension():
    import torch

    with_cuda, cuda_home = want_cuda(torch)
    if with_cuda:
        # Must be set before torch.utils.cpp_extension is imported: it reads CUDA_HOME once.
        os.environ["CUDA_HOME"] = cuda_home
    from torch.utils import cpp_extension

    def rel(pattern):
        return sorted(str(p.relative_to(ROOT)) for p in ROOT.glob(pattern))

    sources = rel("csrc/kernels/**/*.cpp") + rel("csrc/ops/*.cpp") + rel("csrc/ops/cpu/*.cpp")
    include_dirs = [str(ROOT / "csrc" / "kernels"), str(ROOT / "csrc" / "ops")]
    # -fopenmp: at::parallel_for is an inline header around `#pragma omp parallel`;
    # without the flag it silently runs every kernel on one thread.
    # -fno-wrapv: Python's own CFLAGS (which the extension builder passes first) say
    # -fwrapv, and signed wrap-around keeps GCC from folding the kernels' int64 index
    # arithmetic: the AVX-512 blocked conv tile kept 40% more values on the stack and ran
    # 1.4x slower than the same source built by CMake (1 thread, ResNet-18's 64-channel
    # 3x3: 2.0 ms against 1.47 ms).
    cxx_flags = ["-O3", "-fno-wrapv", "-fvisibility=hidden", "-Wall", "-fopenmp"]
    kwargs = dict(
        name="pybench._C",
        extra_link_args=["-fopenmp"],
        include_dirs=include_dirs,
        py_limited_api=True,  # torch defines Py_LIMITED_API for such extensions
    )
    if not with_cuda:
        return cpp_extension.CppExtension(
            sources=sources, extra_compile_args={"cxx": cxx_flags}, **kwargs
        ), None
    # The CUDA adapters hold host code only (checks, guard, stream, the launcher call), so
    # g++ compiles them once: as .cu, nvcc ran each through the host compiler again per
    # target architecture, torch's CUDA headers and all, the slowest part of the build.
    sources += rel("csrc/kernels/**/*.cu") + rel("csrc/ops/cuda/*.cpp")
    include_dirs += nvidia_wheel_include_dirs()
    gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in CUDA_ARCHS]
    nvcc_flags = ["-O3", "-lineinfo", *gencode]
    ext = cpp_extension.CUDAExtension(
        sources=sources,
        extra_compile_args={"cxx": cxx_flags + ["-DPYBENCH_WITH_CUDA"],
                            "nvcc": nvcc_flags + ["-DPYBENCH_WITH_CUDA", "-Xcompiler=-fopenmp"]},
        **kwargs,
    )
    return ext, cuda_home


def write_build_info(package_dir: Path, cuda_home):
    """pybench/build_info.json beside the library: what `pybench --version` prints without
    loading torch or the extension."""
    import json
    import platform
    import subprocess

    import torch

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    info = {
        "torch": torch.__version__,
        "cuda_kernels": cuda_home is not None,
        "cuda_archs": [f"sm_{a}" for a in CUDA_ARCHS] if cuda_home is not None else [],
        "python": platform.python_version(),
        "machine": platform.machine(),
        "commit": commit,
    }
    (package_dir / "build_info.json").write_text(json.dumps(info, indent=1) + "\n")


def main():
    ext, cuda_home = extension()  # first: it sets CUDA_HOME before cpp_extension is imported
    from torch.utils.cpp_extension import BuildExtension

    class Build(BuildExtension):
        def run(self):
            super().run()
            write_build_info(Path(self.get_ext_fullpath("pybench._C")).parent, cuda_home)
            if cuda_home is None:
                return
            # ptxas -v of every torch-free kernel source, for sm_80 and sm_90, kept next to
            # the built library; a kernel that spills registers fails the build.
            ptxas = load_ptxas_module()
            kernels = sorted(ROOT.glob("csrc/kernels/**/*.cu"))
            report = ptxas.build_report(
                nvcc=str(Path(cuda_home) / "bin" / "nvcc"),
                sources=[str(k) for k in kernels],
                include_dirs=[str(ROOT / "csrc" / "kernels")],
                archs=CUDA_ARCHS,
            )
            out = Path(self.get_ext_fullpath("pybench._C")).parent / "ptxas_report.json"
            ptxas.write_report(report, out)
            spills = ptxas.spilling_kernels(report)
            if spills:
                sys.exit(f"CUDA kernels spill registers: {spills}")

    # One wheel for every CPython >= 3.10: the extension uses only the limited API
    # (py_limited_api above; torch compiles it with Py_LIMITED_API), so tag it abi3.
    setup(ext_modules=[ext], cmdclass={"build_ext": Build.with_options(use_ninja=True)},
          options={"bdist_wheel": {"py_limited_api": "cp310"}})


main()
