"""Build-time checks of the CUDA pooling kernel: a fresh ptxas run on pool2d_cuda.cu for
sm_80 and sm_90 (both index widths present, spill-free, within the 256-thread launch
bound's register budget), and the installed extension's report when it is a CUDA build.
No kernel runs, so no GPU is needed; each test skips without nvcc / a CUDA build. The
kernel's results are checked under the SIMT emulator (tests/simt/pool2d_simt_test.cc)
and, where a GPU exists, in test_pool2d.py."""
from test_gram_cuda_build import ARCHS, ROOT, fresh_report, installed_report, ptxas

POOL_CU = ROOT / "csrc" / "kernels" / "pool2d" / "pool2d_cuda.cu"
# Mangled names (present with or without c++filt): pool2d_kernel<int32_t> and <int64_t>.
KERNELS = ("13pool2d_kernelIiE", "13pool2d_kernelIlE")


def test_pool2d_cuda_ptxas_fresh_build():
    report = fresh_report(POOL_CU)
    for arch in ARCHS:
        for kernel in KERNELS:
            entries = ptxas.kernel_entries(report, kernel, arch)
            assert len(entries) == 1, f"expected one {kernel} for {arch}: {entries}"
            # __launch_bounds__(256): at most 255 registers; one thread per output needs few
            assert entries[0]["registers"] is not None and entries[0]["registers"] <= 64
            assert entries[0]["shared_bytes"] in (None, 0)
    assert ptxas.spilling_kernels(report) == [], ptxas.format_report(report)


def test_installed_extension_has_the_kernels():
    report = installed_report()
    for arch in ARCHS:
        for kernel in KERNELS:
            assert ptxas.kernel_entries(report, kernel, arch), f"no {kernel} for {arch}"
    assert ptxas.spilling_kernels(report) == []
