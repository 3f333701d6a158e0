#pragma once
// CUDA depthwise and fused depthwise-separable kernel bodies (FP32 SIMT).
//
// Torch-free and CUDA-runtime-free like conv2d_cuda.cuh: only CUDA keywords, so
// depthwise_conv2d_cuda.cu launches them with nvcc and the SIMT emulator runs the same
// code on the CPU (tests/simt/depthwise_conv2d_simt_test.cc). The launch geometry and the
// kernel arguments are host functions here, shared by the launcher and the tests.
//
// depthwise_conv2d_kernel -- channel-per-block tiles with the halo in shared memory.
//   A block computes a tile of one output plane (image n, output channel k): tile_w x
//   tile_h outputs, one per thread (256 threads: 32 x 8, or 16 x 16 / 8 x 32 for planes
//   at most 16 / 8 wide, so a 7x7 plane does not leave 3/4 of a 32-wide tile idle). The
//   threads first copy the input window the tile reads -- ((tile_h-1)*s_h + (kh-1)*d_h + 1)
//   rows x ((tile_w-1)*s_w + (kw-1)*d_w + 1) columns of channel k / m, zero outside the
//   image -- and the kh*kw weights into dynamic shared memory, coalesced along rows; then
//   each thread sums its taps from shared memory. Grid: x = tiles of a plane, y (and a
//   block-stride loop) = planes, so any batch runs on a clamped grid.
// separable_conv2d_kernel -- the fused op: a block owns kSepPositions = 32 consecutive
//   output positions (flattened over images) and kSepTileK = 64 pointwise output
//   channels. For each chunk of kSepChunk = 64 depthwise channels it computes the
//   depthwise outputs of those channels at its positions (activation applied) into
//   shared memory T[chunk][32], stages the matching pointwise weights W[chunk][64], and
//   accumulates out[k][p] += W[c][k] * T[c][p] in registers: thread (lane p, warp w) owns
//   positions p and output channels w*8 .. w*8+7 (8 accumulators; T reads are
//   conflict-free along lanes, W reads broadcast). The depthwise output exists only in
//   shared memory; blocks of other output-channel tiles recompute it (9 FMAs per
//   element against 64 pointwise FMAs per element per tile). Grid: x = position tiles,
//   y = output-channel tiles (block-stride loops on both).
//
// Index widths: a plane, an image's positions and a weight tensor fit int32
// (depthwise_cuda_unsupported); image and plane offsets are int64.
#include <cstdint>

#include "separable_conv2d/separable_conv2d.h"

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
inline constexpr int kSepThreads = 256;
inline constexpr int kSepPositions = 32;   // positions per block (one per lane)
inline constexpr int kSepTileK = 64;       // pointwise output channels per block
inline constexpr int kSepChunk = 64;       // depthwise channels per shared-memory stage
inline constexpr int kSepKPerThread = kSepTileK / (kSepThreads / kSepPositions);  // 8

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
  g.tiles_w = static_cast<int>((p.out_w + g.tile_w - 1) / g.tile_w);
  g.tiles = g.tiles_w * static_cast<int>((p.out_h + g.tile_h - 1) / g.tile_h);
  const int64_t planes = p.batch * p.out_channels();
  g.grid_x = g.tiles;
  g.grid_y = static_cast<int>(planes < kDwMaxGridY ? planes : kDwMaxGridY);
  g.dynamic_smem_bytes = static_cast<int64_t>(sizeof(float)) *
                         (int64_t{g.in_tile_w} * g.in_tile_h + p.kernel_h * p.kernel_w);
  return g;
}

// Plain-integer arguments of depthwise_conv2d_kernel (and the depthwise half of the fused
// kernel).
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

__global__ void PYBENCH_DW_LAUNCH_BOUNDS(kDwThreads, 2)
    depthwise_conv2d_kernel(const DepthwiseKernelArgs a) {
  extern __shared__ float dw_smem[];
  float* tile = dw_smem;
  float* w_s = dw_smem + a.in_tile_w * a.in_tile_h;
  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % a.tile_w, ty = tid / a.tile_w;
  const int taps = a.kernel_h * a.kernel_w;
  const int in_elems = a.in_tile_w * a.in_tile_h;
  const int tile_x = static_cast<int>(blockIdx.x) % a.tiles_w;
  const int tile_y = static_cast<int>(blockIdx.x) / a.tiles_w;
  const int oy0 = tile_y * a.tile_h, ox0 = tile_x * a.tile_w;
  const int iy0 = oy0 * a.stride_h - a.pad_h, ix0 = ox0 * a.stride_w - a.pad_w;
  // Planes in a block-stride loop: uniform across the block, so the barriers inside are.
  for (int64_t plane = blockIdx.y; plane < a.planes; plane += gridDim.y) {
    const int64_t n = plane / a.out_channels;
    const int k = static_cast<int>(plane - n * a.out_channels);
    const float* __restrict__ in =
        a.input + (n * a.channels + k / a.multiplier) * static_cast<int64_t>(a.in_h) * a.in_w;
    for (int i = tid; i < in_elems; i += kDwThreads) {
      const int r = i / a.in_tile_w, c = i - r * a.in_tile_w;
      const int iy = iy0 + r, ix = ix0 + c;
      const bool inside = static_cast<unsigned>(iy) < static_cast<unsigned>(a.in_h) &&
                          static_cast<unsigned>(ix) < static_cast<unsigned>(a.in_w);
      tile[i] = inside ? __ldg(in + iy * a.in_w + ix) : 0.0f;
    }
    for (int i = tid; i < taps; i += kDwThreads) w_s[i] = __ldg(a.weight + k * taps + i);
    __syncthreads();
    const int oy = oy0 + ty, ox = ox0 + tx;
    if (oy < a.out_h && ox < a.out_w) {
      float acc = a.bias != nullptr ? __ldg(a.bias + k) : 0.0f;
      const float* t = tile + (ty * a.stride_h) * a.in_tile_w + tx * a.stride_w;
      for (int r = 0; r < a.kernel_h; ++r) {
        const float* tr = t + r * a.dilation_h * a.in_tile_w;
        const float* wr = w_s + r * a.kernel_w;
        for (int s = 0; s < a.kernel_w; ++s) acc = fmaf(wr[s], tr[s * a.dilation_w], acc);
      }
      a.output[plane * a.out_h * a.out_w + oy * a.out_w + ox] = acc;
    }
    __syncthreads();  // the next plane overwrites the tile
  }
}

// --- fused separable ----------------------------------------------------------------------

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
  g.position_tiles = (positions + kSepPositions - 1) / kSepPositions;
  g.k_tiles = (p.out_channels + kSepTileK - 1) / kSepTileK;
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
