#pragma once
// Host side of the CUDA depthwise kernel, shared with the fused separable kernel
// (separable_conv2d/separable_conv2d_cuda.cuh) without defining either kernel twice: the
// size checks, the launch geometry, the kernels' plain-integer arguments and the launch
// bounds / unroll macros. Torch-free and CUDA-runtime-free; depthwise_conv2d_cuda.cuh
// describes the kernel these feed.
#include <cstdint>

#include "common/index_math.h"
#include "depthwise_conv2d/depthwise_conv2d.h"

#if defined(__CUDACC__)
#define PYBENCH_DW_LAUNCH_BOUNDS(threads, blocks) __launch_bounds__(threads, blocks)
#define PYBENCH_DW_UNROLL _Pragma("unroll")
#else
#define PYBENCH_DW_LAUNCH_BOUNDS(threads, blocks)
#define PYBENCH_DW_UNROLL
#endif

namespace pybench::kernels::cuda {

inline constexpr int kDwThreads = 256;
inline constexpr int kDwMaxGridY = 65535;
inline constexpr int64_t kDwMaxSharedBytes = 48 * 1024;  // no opt-in needed below this

// nullptr when the kernels' 32-bit indices hold for p, else why not.
inline const char* depthwise_cuda_unsupported(const DepthwiseConv2dParams& p) {
  constexpr int64_t kMax = (int64_t{1} << 31) - 1;
  if (p.in_h * p.in_w > kMax || p.out_h * p.out_w > kMax) return "a plane exceeds 2^31 elements";
  if (p.batch * p.out_h * p.out_w > kMax) return "batch x output plane exceeds 2^31";
  if (p.out_channels() * p.kernel_h * p.kernel_w > kMax) return "the weights exceed 2^31";
  return nullptr;
}

struct DepthwiseLaunchGeometry {
  int tile_w = 0, tile_h = 0;    // outputs per block tile
  int in_tile_w = 0, in_tile_h = 0;
  int tiles_w = 0, tiles = 0;    // tiles along a row, per plane
  int grid_x = 0, grid_y = 0;
  int threads = kDwThreads;
  int64_t dynamic_smem_bytes = 0;
  bool empty() const { return grid_x == 0 || grid_y == 0; }
};

inline DepthwiseLaunchGeometry depthwise_launch_geometry(const DepthwiseConv2dParams& p) {
  DepthwiseLaunchGeometry g;
  if (p.batch <= 0 || p.out_h <= 0 || p.out_w <= 0 || p.channels <= 0) return g;
  g.tile_w = p.out_w > 16 ? 32 : (p.out_w > 8 ? 16 : 8);
  g.tile_h = kDwThreads / g.tile_w;
  g.in_tile_w = static_cast<int>((g.tile_w - 1) * p.stride_w + (p.kernel_w - 1) * p.dilation_w + 1);
  g.in_tile_h = static_cast<int>((g.tile_h - 1) * p.stride_h + (p.kernel_h - 1) * p.dilation_h + 1);
  g.tiles_w = static_cast<int>(ceil_div(p.out_w, g.tile_w));
  g.tiles = g.tiles_w * static_cast<int>(ceil_div(p.out_h, g.tile_h));
  const int64_t planes = p.batch * p.out_channels();
  g.grid_x = g.tiles;
  g.grid_y = static_cast<int>(planes < kDwMaxGridY ? planes : kDwMaxGridY);
  g.dynamic_smem_bytes = static_cast<int64_t>(sizeof(float)) *
                         (int64_t{g.in_tile_w} * g.in_tile_h + p.kernel_h * p.kernel_w);
  return g;
}

// Plain-integer arguments of depthwise_conv2d_kernel (and the depthwise half of the fused
// separable kernel).
struct DepthwiseKernelArgs {
  const float* input;
  const float* weight;
  const float* bias;  // nullptr: none
  float* output;
  int channels, multiplier, out_channels;
  int in_h, in_w, out_h, out_w, kernel_h, kernel_w;
  int stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  int64_t planes;  // batch * out_channels
  int tile_w, tile_h, in_tile_w, in_tile_h, tiles_w, tiles;
};

inline DepthwiseKernelArgs make_depthwise_kernel_args(const DepthwiseConv2dParams& p,
                                                      const DepthwiseLaunchGeometry& g) {
  DepthwiseKernelArgs a;
  a.input = p.input;
  a.weight = p.weight;
  a.bias = p.bias;
  a.output = p.output;
  a.channels = static_cast<int>(p.channels);
  a.multiplier = static_cast<int>(p.multiplier);
  a.out_channels = static_cast<int>(p.out_channels());
  a.in_h = static_cast<int>(p.in_h);
  a.in_w = static_cast<int>(p.in_w);
  a.out_h = static_cast<int>(p.out_h);
  a.out_w = static_cast<int>(p.out_w);
  a.kernel_h = static_cast<int>(p.kernel_h);
  a.kernel_w = static_cast<int>(p.kernel_w);
  a.stride_h = static_cast<int>(p.stride_h);
  a.stride_w = static_cast<int>(p.stride_w);
  a.pad_h = static_cast<int>(p.pad_h);
  a.pad_w = static_cast<int>(p.pad_w);
  a.dilation_h = static_cast<int>(p.dilation_h);
  a.dilation_w = static_cast<int>(p.dilation_w);
  a.planes = p.batch * p.out_channels();
  a.tile_w = g.tile_w;
  a.tile_h = g.tile_h;
  a.in_tile_w = g.in_tile_w;
  a.in_tile_h = g.in_tile_h;
  a.tiles_w = g.tiles_w;
  a.tiles = g.tiles;
  return a;
}

}  // namespace pybench::kernels::cuda
