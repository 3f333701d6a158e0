#pragma once
// CUDA NCHW pooling kernel body: max, average and adaptive average pooling, one thread per
// output element.
//
// Torch-free and CUDA-runtime-free like gram_cuda.cuh: only CUDA keywords, so
// pool2d_cuda.cu launches it with nvcc and the SIMT emulator runs the same code on the CPU
// (tests/simt/pool2d_simt_test.cc). The launch geometry and the kernel arguments are host
// functions here, shared by the launcher and the tests; the windows and divisors are
// pool2d.h's __host__ __device__ functions, the very code of the CPU kernels.
//
// pool2d_kernel<Index>: a grid-stride loop over the outputs of every plane, in
// (plane, oy, ox) order so a warp's loads and stores run along rows (coalesced for stride
// 1, every other float for stride 2). Each thread walks its window's inside taps only (the
// windows are clipped, so padding is never read) through the read-only cache; max keeps
// ATen's NaN rule (a NaN in the window is the result), average sums in float and divides
// by pool_divisor, as ATen's CUDA kernels do. No shared memory: a 3x3 stride-2 window
// re-reads its neighbours' inputs from L1, and pooling is bound by DRAM traffic (the input
// read once, the output written once), not by those re-reads.
//
// Index widths: Index = int32_t when every index the kernel forms fits (the usual case;
// a 64-bit division is several times the instructions of a 32-bit one), else int64_t;
// plane offsets are formed in 64 bits either way.
#include <math.h>

#include <cstdint>

#include "common/index_math.h"
#include "pool2d/pool2d.h"

#if defined(__CUDACC__)
#define PYBENCH_POOL_LAUNCH_BOUNDS(threads) __launch_bounds__(threads)
#else  // the emulator: plain C++
#define PYBENCH_POOL_LAUNCH_BOUNDS(threads)
#endif

namespace pybench::kernels::cuda {

inline constexpr int kPoolThreads = 256;
// Blocks per SM the grid is clamped to: enough resident warps to hide DRAM latency (8 x
// 256 threads = a full SM on sm_80 / sm_90); larger outputs loop.
inline constexpr int kPoolBlocksPerSm = 8;
inline constexpr int kPoolDefaultSmCount = 132;  // H100 SXM, when the caller has none
inline constexpr int64_t kPoolMaxIndex32 = 2147483647;

// Launch shape, plain integers (no dim3) so tests can check it anywhere.
struct Pool2dLaunchGeometry {
  int64_t outputs = 0;  // planes * out_h * out_w
  int grid_x = 0;
  int threads = kPoolThreads;
  int dynamic_smem_bytes = 0;
  bool index32 = false;  // pool2d_kernel<int32_t> holds every index
  bool empty() const { return grid_x == 0; }
};

// Host only (Pool2dParams holds a std::function).
inline Pool2dLaunchGeometry pool2d_launch_geometry(const Pool2dParams& p,
                                                   int sm_count = kPoolDefaultSmCount) {
  Pool2dLaunchGeometry g;
  if (p.planes <= 0 || p.out_h <= 0 || p.out_w <= 0) return g;
  g.outputs = p.planes * p.out_h * p.out_w;
  const int64_t most = static_cast<int64_t>(sm_count > 0 ? sm_count : 1) * kPoolBlocksPerSm;
  const int64_t blocks = ceil_div(g.outputs, kPoolThreads);
  g.grid_x = static_cast<int>(blocks < most ? blocks : most);
  // The loop index runs up to outputs + one grid of threads; windows form o * in (adaptive)
  // and start + kernel * dilation.
  const int64_t stride = int64_t{g.grid_x} * kPoolThreads;
  const int64_t reach_h = p.in_h + 2 * p.pad_h + p.kernel_h * p.dilation_h + p.stride_h;
  const int64_t reach_w = p.in_w + 2 * p.pad_w + p.kernel_w * p.dilation_w + p.stride_w;
  g.index32 = g.outputs + stride <= kPoolMaxIndex32 &&
              p.planes * p.in_h * p.in_w <= kPoolMaxIndex32 &&
              (p.out_h + 1) * p.in_h <= kPoolMaxIndex32 &&
              (p.out_w + 1) * p.in_w <= kPoolMaxIndex32 &&
              p.out_h * p.stride_h + reach_h <= kPoolMaxIndex32 &&
              p.out_w * p.stride_w + reach_w <= kPoolMaxIndex32 &&
              p.divisor_override <= kPoolMaxIndex32 && -p.divisor_override <= kPoolMaxIndex32;
  return g;
}

// What the kernel takes by value: Pool2dParams minus its std::function.
struct Pool2dKernelArgs {
  const float* input;
  float* output;
  int64_t planes, in_h, in_w, out_h, out_w;
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  int64_t divisor_override;  // avg: 0 = none
  int max;                   // 1: max pooling, 0: average
  int adaptive;              // 1: adaptive windows (average)
  int count_include_pad;
};

inline Pool2dKernelArgs make_pool2d_kernel_args(const Pool2dParams& p) {
  Pool2dKernelArgs a{};
  a.input = p.input;
  a.output = p.output;
  a.planes = p.planes;
  a.in_h = p.in_h;
  a.in_w = p.in_w;
  a.out_h = p.out_h;
  a.out_w = p.out_w;
  a.kernel_h = p.kernel_h;
  a.kernel_w = p.kernel_w;
  a.stride_h = p.stride_h;
  a.stride_w = p.stride_w;
  a.pad_h = p.pad_h;
  a.pad_w = p.pad_w;
  a.dilation_h = p.dilation_h;
  a.dilation_w = p.dilation_w;
  a.divisor_override = p.divisor_override;
  a.max = p.mode == PoolMode::max ? 1 : 0;
  a.adaptive = p.adaptive ? 1 : 0;
  a.count_include_pad = p.count_include_pad ? 1 : 0;
  return a;
}

// Expects blockDim = (kPoolThreads, 1, 1); any grid (the loop covers the rest).
template <class Index>
__global__ void PYBENCH_POOL_LAUNCH_BOUNDS(kPoolThreads) pool2d_kernel(const Pool2dKernelArgs a) {
  const Index in_h = static_cast<Index>(a.in_h), in_w = static_cast<Index>(a.in_w);
  const Index out_h = static_cast<Index>(a.out_h), out_w = static_cast<Index>(a.out_w);
  const Index total = static_cast<Index>(a.planes * a.out_h * a.out_w);
  const Index dil_h = static_cast<Index>(a.dilation_h), dil_w = static_cast<Index>(a.dilation_w);
  const Index step = static_cast<Index>(gridDim.x) * static_cast<Index>(blockDim.x);
  for (Index i = static_cast<Index>(blockIdx.x) * static_cast<Index>(blockDim.x) +
                 static_cast<Index>(threadIdx.x);
       i < total; i += step) {
    const Index ox = i % out_w;
    const Index rest = i / out_w;
    const Index oy = rest % out_h;
    const Index plane = rest / out_h;
    BasicPoolWindow<Index> rw, cw;
    if (a.adaptive) {
      rw = adaptive_pool_window<Index>(oy, in_h, out_h);
      cw = adaptive_pool_window<Index>(ox, in_w, out_w);
    } else {
      rw = pool_window<Index>(oy, in_h, static_cast<Index>(a.kernel_h),
                              static_cast<Index>(a.stride_h), static_cast<Index>(a.pad_h), dil_h);
      cw = pool_window<Index>(ox, in_w, static_cast<Index>(a.kernel_w),
                              static_cast<Index>(a.stride_w), static_cast<Index>(a.pad_w), dil_w);
    }
    const float* __restrict__ x = a.input + static_cast<int64_t>(plane) * a.in_h * a.in_w +
                                  rw.first * in_w + cw.first;
    const Index row_step = dil_h * in_w;
    float acc;
    if (a.max) {
      acc = -INFINITY;
      for (Index r = 0; r < rw.taps; ++r, x += row_step) {
        for (Index s = 0; s < cw.taps; ++s) {
          const float v = __ldg(x + s * dil_w);
          // A NaN acc compares false and stays; a NaN v is taken.
          if (v > acc || isnan(v)) acc = v;
        }
      }
    } else {
      acc = 0.0f;
      for (Index r = 0; r < rw.taps; ++r, x += row_step) {
        for (Index s = 0; s < cw.taps; ++s) acc += __ldg(x + s * dil_w);
      }
      acc /= static_cast<float>(pool_divisor<Index>(rw, cw, a.count_include_pad != 0,
                                                    static_cast<Index>(a.divisor_override)));
    }
    a.output[i] = acc;
  }
}

}  // namespace pybench::kernels::cuda
