#pragma once
// Example kernel of the SIMT emulator with warp primitives: out[r] = sum of row r of a
// rows x cols matrix, one block per row.
//
// Each thread sums a strided slice of the row, each warp reduces its 32 partial sums with
// __shfl_down_sync, lane 0 of every warp parks its sum in shared memory, and warp 0
// reduces those with __shfl_xor_sync (all lanes end with the total). blockDim.x is a
// multiple of 32, at most 1024. Plain CUDA: the same file compiles with nvcc.

namespace pybench::simt::examples {

__device__ inline float warp_sum_down(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;  // the total in lane 0
}

__device__ inline float warp_sum_xor(float v) {
  for (int mask = 16; mask > 0; mask /= 2) v += __shfl_xor_sync(0xffffffffu, v, mask);
  return v;  // the total in every lane
}

__global__ void row_sum_kernel(const float* __restrict__ in, float* __restrict__ out, int cols) {
  __shared__ float warp_sums[32];
  const float* row = in + static_cast<long>(blockIdx.x) * cols;
  float v = 0.0f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) v += row[c];
  v = warp_sum_down(v);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < static_cast<int>(blockDim.x / 32) ? warp_sums[lane] : 0.0f;
    v = warp_sum_xor(v);
    if (lane == 0) out[blockIdx.x] = v;
  }
}

}  // namespace pybench::simt::examples
