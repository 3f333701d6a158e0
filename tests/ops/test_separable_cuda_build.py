"""Build-time checks of the CUDA depthwise and fused separable kernels: a fresh ptxas run
on depthwise_conv2d_cuda.cu and separable_conv2d_cuda.cu for sm_80 and sm_90 (both kernels
present, spill-free, within the launch bounds' register budget), and the installed
extension's report when it is a CUDA build. No kernel runs, so no GPU is needed; each test
skips without nvcc / a CUDA build. The kernels' results are checked under the SIMT emulator
(tests/simt/depthwise_conv2d_simt_test.cc, separable_conv2d_simt_test.cc) and, where a GPU
exists, in test_depthwise_conv2d.py / test_separable_conv2d.py."""
from test_gram_cuda_build import ARCHS, ROOT, fresh_report, installed_report, ptxas

DW_CU = ROOT / "csrc" / "kernels" / "depthwise_conv2d" / "depthwise_conv2d_cuda.cu"
SEP_CU = ROOT / "csrc" / "kernels" / "separable_conv2d" / "separable_conv2d_cuda.cu"
KERNELS = ("depthwise_conv2d_kernel", "separable_conv2d_kernel")


def test_depthwise_cuda_ptxas_fresh_build():
    report = fresh_report(DW_CU, SEP_CU)
    for arch in ARCHS:
        for kernel in KERNELS:
            entries = ptxas.kernel_entries(report, kernel, arch)
            assert len(entries) == 1, f"expected one {kernel} for {arch}: {entries}"
            # __launch_bounds__(256, 2): at most 128 registers a thread
            assert entries[0]["registers"] is not None and entries[0]["registers"] <= 128
    assert ptxas.spilling_kernels(report) == [], ptxas.format_report(report)


def test_installed_extension_has_the_kernels():
    report = installed_report()
    for arch in ARCHS:
        for kernel in KERNELS:
            assert ptxas.kernel_entries(report, kernel, arch), f"no {kernel} for {arch}"
