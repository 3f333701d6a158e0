#pragma once
// CUDA fused depthwise-separable kernel body (FP32 SIMT): depthwise -> activation -> 1x1
// -> activation without the depthwise output ever leaving shared memory.
//
// Torch-free and CUDA-runtime-free like depthwise_conv2d_cuda.cuh; it builds on the
// depthwise kernel's argument struct, size checks and launch-bound macros
// (depthwise_conv2d_cuda_args.h), not on that kernel: separable_conv2d_cuda.cu launches it
// with nvcc and the SIMT emulator runs the same code on the CPU
// (tests/simt/separable_conv2d_simt_test.cc). The launch geometry and the kernel
// arguments are host functions here, shared by the launcher and the tests.
//
// separable_conv2d_kernel -- a block owns kSepPositions = 32 consecutive output positions
//   (flattened over images) and kSepTileK = 64 pointwise output channels. For each chunk
//   of kSepChunk = 64 depthwise channels it computes the depthwise outputs of those
//   channels at its positions (activation applied) into shared memory T[chunk][32], stages
//   the matching pointwise weights W[chunk][64], and accumulates
//   out[k][p] += W[c][k] * T[c][p] in registers: thread (lane p, warp w) owns positions p
//   and output channels w*8 .. w*8+7 (8 accumulators; T reads are conflict-free along
//   lanes, W reads broadcast). Blocks of other output-channel tiles recompute the
//   depthwise output (9 FMAs per element against 64 pointwise FMAs per element per tile).
//   Grid: x = position tiles, y = output-channel tiles (block-stride loops on both).
//
// Index widths: as the depthwise kernel's, and the pointwise weights fit int32
// (separable_cuda_unsupported).
#include <cstdint>

#include "common/index_math.h"
#include "depthwise_conv2d/depthwise_conv2d_cuda_args.h"
#include "separable_conv2d/separable_conv2d.h"

namespace pybench::kernels::cuda {

inline constexpr int kSepThreads = 256;
inline constexpr int kSepPositions = 32;   // positions per block (one per lane)
inline constexpr int kSepTileK = 64;       // pointwise output channels per block
inline constexpr int kSepChunk = 64;       // depthwise channels per shared-memory stage
inline constexpr int kSepKPerThread = kSepTileK / (kSepThreads / kSepPositions);  // 8

inline const char* separable_cuda_unsupported(const SeparableConv2dParams& p) {
  if (const char* why = depthwise_cuda_unsupported(p.dw)) return why;
  if (p.out_channels * p.dw.out_channels() > (int64_t{1} << 31) - 1) {
    return "the pointwise weights exceed 2^31";
  }
  return nullptr;
}

struct SeparableLaunchGeometry {
  int grid_x = 0, grid_y = 0;
  int threads = kSepThreads;
  int64_t position_tiles = 0, k_tiles = 0;
  bool empty() const { return grid_x == 0 || grid_y == 0; }
};

inline SeparableLaunchGeometry separable_launch_geometry(const SeparableConv2dParams& p) {
  SeparableLaunchGeometry g;
  const int64_t positions = p.dw.batch * p.dw.out_h * p.dw.out_w;
  if (positions <= 0 || p.out_channels <= 0) return g;
  g.position_tiles = ceil_div(positions, kSepPositions);
  g.k_tiles = ceil_div(p.out_channels, kSepTileK);
  g.grid_x = static_cast<int>(g.position_tiles < (int64_t{1} << 30) ? g.position_tiles
                                                                     : (int64_t{1} << 30));
  g.grid_y = static_cast<int>(g.k_tiles < kDwMaxGridY ? g.k_tiles : kDwMaxGridY);
  return g;
}

struct SeparableKernelArgs {
  DepthwiseKernelArgs dw;  // the depthwise geometry (tile fields unused)
  const float* pw_weight;  // (out_channels, mid)
  const float* pw_bias;
  float* output;
  int out_channels, mid;
  int positions;  // batch * out_h * out_w
  int dw_activation, pw_activation;  // Activation values
  int position_tiles, k_tiles;
};

inline SeparableKernelArgs make_separable_kernel_args(const SeparableConv2dParams& p,
                                                      const SeparableLaunchGeometry& g) {
  SeparableKernelArgs a;
  a.dw = make_depthwise_kernel_args(p.dw, DepthwiseLaunchGeometry{});
  a.pw_weight = p.pw_weight;
  a.pw_bias = p.pw_bias;
  a.output = p.output;
  a.out_channels = static_cast<int>(p.out_channels);
  a.mid = static_cast<int>(p.dw.out_channels());
  a.positions = static_cast<int>(p.dw.batch * p.dw.out_h * p.dw.out_w);
  a.dw_activation = static_cast<int>(p.dw_activation);
  a.pw_activation = static_cast<int>(p.pw_activation);
  a.position_tiles = static_cast<int>(g.position_tiles);
  a.k_tiles = static_cast<int>(g.k_tiles);
  return a;
}

// NaN-propagating, as torch.relu / relu6 (fmaxf would turn NaN into 0).
__host__ __device__ inline float dw_activate(float v, int act) {
  if (act == static_cast<int>(Activation::none)) return v;
  v = v < 0.0f ? 0.0f : v;
  if (act == static_cast<int>(Activation::relu6)) v = v > 6.0f ? 6.0f : v;
  return v;
}

__global__ void PYBENCH_DW_LAUNCH_BOUNDS(kSepThreads, 2)
    separable_conv2d_kernel(const SeparableKernelArgs a) {
  __shared__ float t_s[kSepChunk][kSepPositions];  // depthwise outputs of a chunk
  __shared__ float w_s[kSepChunk][kSepTileK];      // pointwise weights, [channel][k]
  const DepthwiseKernelArgs& d = a.dw;
  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % kSepPositions, warp = tid / kSepPositions;
  const int out_hw = d.out_h * d.out_w;
  const int taps = d.kernel_h * d.kernel_w;
  for (int pt = static_cast<int>(blockIdx.x); pt < a.position_tiles;
       pt += static_cast<int>(gridDim.x)) {
    const int pos0 = pt * kSepPositions;
    for (int kt = static_cast<int>(blockIdx.y); kt < a.k_tiles;
         kt += static_cast<int>(gridDim.y)) {
      const int k0 = kt * kSepTileK;
      float acc[kSepKPerThread];
      PYBENCH_DW_UNROLL
      for (int i = 0; i < kSepKPerThread; ++i) acc[i] = 0.0f;
      for (int c0 = 0; c0 < a.mid; c0 += kSepChunk) {
        // Depthwise outputs of channels [c0, c0 + kSepChunk) at the tile's positions;
        // zero beyond the last channel or position (they then add nothing).
        for (int i = tid; i < kSepChunk * kSepPositions; i += kSepThreads) {
          const int c = i / kSepPositions, p = i % kSepPositions;
          const int ch = c0 + c, pos = pos0 + p;
          float v = 0.0f;
          if (ch < a.mid && pos < a.positions) {
            const int n = pos / out_hw, pix = pos - n * out_hw;
            const int oy = pix / d.out_w, ox = pix - oy * d.out_w;
            const float* __restrict__ in =
                d.input + (static_cast<int64_t>(n) * d.channels + ch / d.multiplier) *
                              static_cast<int64_t>(d.in_h) * d.in_w;
            const float* __restrict__ w = d.weight + ch * taps;
            v = d.bias != nullptr ? __ldg(d.bias + ch) : 0.0f;
            for (int r = 0; r < d.kernel_h; ++r) {
              const int iy = oy * d.stride_h - d.pad_h + r * d.dilation_h;
              if (static_cast<unsigned>(iy) >= static_cast<unsigned>(d.in_h)) continue;
              for (int s = 0; s < d.kernel_w; ++s) {
                const int ix = ox * d.stride_w - d.pad_w + s * d.dilation_w;
                if (static_cast<unsigned>(ix) < static_cast<unsigned>(d.in_w)) {
                  v = fmaf(__ldg(w + r * d.kernel_w + s), __ldg(in + iy * d.in_w + ix), v);
                }
              }
            }
            v = dw_activate(v, a.dw_activation);
          }
          t_s[c][p] = v;
        }
        // Pointwise weights of the chunk, transposed to [channel][k]; zero outside.
        for (int i = tid; i < kSepChunk * kSepTileK; i += kSepThreads) {
          const int k = i / kSepChunk, c = i % kSepChunk;  // c fastest: coalesced reads
          const int kk = k0 + k, ch = c0 + c;
          w_s[c][k] = kk < a.out_channels && ch < a.mid
                          ? __ldg(a.pw_weight + static_cast<int64_t>(kk) * a.mid + ch)
                          : 0.0f;
        }
        __syncthreads();
        const int chunk = a.mid - c0 < kSepChunk ? a.mid - c0 : kSepChunk;
        for (int c = 0; c < chunk; ++c) {
          const float t = t_s[c][lane];
          PYBENCH_DW_UNROLL
          for (int i = 0; i < kSepKPerThread; ++i) {
            acc[i] = fmaf(w_s[c][warp * kSepKPerThread + i], t, acc[i]);
          }
        }
        __syncthreads();  // the next chunk overwrites t_s / w_s
      }
      const int pos = pos0 + lane;
      if (pos < a.positions) {
        const int n = pos / out_hw, pix = pos - n * out_hw;
        PYBENCH_DW_UNROLL
        for (int i = 0; i < kSepKPerThread; ++i) {
          const int k = k0 + warp * kSepKPerThread + i;
          if (k < a.out_channels) {
            const float b = a.pw_bias != nullptr ? __ldg(a.pw_bias + k) : 0.0f;
            a.output[(static_cast<int64_t>(n) * a.out_channels + k) * out_hw + pix] =
                dw_activate(acc[i] + b, a.pw_activation);
          }
        }
      }
    }
  }
}

}  // namespace pybench::kernels::cuda
