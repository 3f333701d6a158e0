#pragma once
// Index math shared by host and device code: the CPU kernels, the CUDA launchers' launch
// geometry, the CUDA kernel headers (nvcc), and those same headers under the SIMT emulator
// (g++, csrc/testing/simt/cuda_compat.h), so one definition is unit-tested on the CPU.
//
// PYBENCH_HOST_DEVICE is `__host__ __device__` where nvcc compiles (__CUDACC__, both its
// host and device passes) and nothing elsewhere: a plain C++ translation unit has no such
// keywords, and the emulator maps them to nothing itself.
#include <cstdint>

#if defined(__CUDACC__)
#define PYBENCH_HOST_DEVICE __host__ __device__
#else
#define PYBENCH_HOST_DEVICE
#endif

namespace pybench::kernels {

// ceil(a / b) for b > 0 and a > -b (a tile count, or the first index at or past a bound,
// which may be negative: then truncation toward zero rounds it up as well).
PYBENCH_HOST_DEVICE constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace pybench::kernels
