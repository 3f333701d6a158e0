#pragma once
// CUDA depthwise kernel body (FP32 SIMT). Its size checks, launch geometry and arguments
// are in depthwise_conv2d_cuda_args.h, which the fused separable kernel
// (separable_conv2d/separable_conv2d_cuda.cuh) shares.
//
// Torch-free and CUDA-runtime-free like conv2d_cuda.cuh: only CUDA keywords, so
// depthwise_conv2d_cuda.cu launches it with nvcc and the SIMT emulator runs the same
// code on the CPU (tests/simt/depthwise_conv2d_simt_test.cc). The launch geometry and the
// kernel arguments are host functions, shared by the launcher and the tests.
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
//
// Index widths: a plane, an image's positions and a weight tensor fit int32
// (depthwise_cuda_unsupported); image and plane offsets are int64.
#include <cstdint>

#include "depthwise_conv2d/depthwise_conv2d_cuda_args.h"

namespace pybench::kernels::cuda {

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

}  // namespace pybench::kernels::cuda
