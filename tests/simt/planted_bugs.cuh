#pragma once
// Copies of the emulator's example kernels (csrc/testing/simt/examples), each with one
// classic mistake planted at the line marked BUG. planted_bugs_test.cc asserts that the
// emulator, or its ASan/UBSan build, reports every one of them: a checker that cannot fail
// is not a checker. Plain CUDA, like the originals.

namespace pybench::simt::planted {

inline constexpr int kTile = 32;
inline constexpr int kRows = 8;

// transpose_kernel without the barrier between the shared store and the transposed load:
// a thread reads tile entries other threads may not have written yet.
__global__ void transpose_missing_sync_kernel(const float* __restrict__ in, float* __restrict__ out,
                                              int rows, int cols) {
  __shared__ float tile[kTile][kTile + 1];
  int x = blockIdx.x * kTile + threadIdx.x;
  int y = blockIdx.y * kTile + threadIdx.y;
  for (int j = 0; j < kTile; j += kRows) {
    if (x < cols && y + j < rows) tile[threadIdx.y + j][threadIdx.x] = in[(y + j) * cols + x];
  }
  // BUG: __syncthreads() missing here.
  x = blockIdx.y * kTile + threadIdx.x;
  y = blockIdx.x * kTile + threadIdx.y;
  for (int j = 0; j < kTile; j += kRows) {
    if (x < rows && y + j < cols) out[(y + j) * rows + x] = tile[threadIdx.x][threadIdx.y + j];
  }
}

// transpose_kernel with an off-by-one tile bound on the store: `<=` writes row `cols` of
// `out`, one row past its end.
__global__ void transpose_off_by_one_kernel(const float* __restrict__ in, float* __restrict__ out,
                                            int rows, int cols) {
  __shared__ float tile[kTile][kTile + 1];
  int x = blockIdx.x * kTile + threadIdx.x;
  int y = blockIdx.y * kTile + threadIdx.y;
  for (int j = 0; j < kTile; j += kRows) {
    if (x < cols && y + j < rows) tile[threadIdx.y + j][threadIdx.x] = in[(y + j) * cols + x];
  }
  __syncthreads();
  x = blockIdx.y * kTile + threadIdx.x;
  y = blockIdx.x * kTile + threadIdx.y;
  for (int j = 0; j < kTile; j += kRows) {
    if (x < rows && y + j <= cols) out[(y + j) * rows + x] = tile[threadIdx.x][threadIdx.y + j];  // BUG: <=
  }
}

// transpose_kernel with an unguarded tail read: the load forgets `x < cols`. The values
// land in tile columns no thread stores, so the result stays right; only the read past
// the end of `in` (last row of the last tile column) is wrong, and only ASan sees it.
__global__ void transpose_unguarded_tail_kernel(const float* __restrict__ in,
                                                float* __restrict__ out, int rows, int cols) {
  __shared__ float tile[kTile][kTile + 1];
  int x = blockIdx.x * kTile + threadIdx.x;
  int y = blockIdx.y * kTile + threadIdx.y;
  for (int j = 0; j < kTile; j += kRows) {
    if (y + j < rows) tile[threadIdx.y + j][threadIdx.x] = in[(y + j) * cols + x];  // BUG: no x < cols
  }
  __syncthreads();
  x = blockIdx.y * kTile + threadIdx.x;
  y = blockIdx.x * kTile + threadIdx.y;
  for (int j = 0; j < kTile; j += kRows) {
    if (x < rows && y + j < cols) out[(y + j) * rows + x] = tile[threadIdx.x][threadIdx.y + j];
  }
}

// stencil1d_kernel whose halo loop runs one step too far: it writes one float past the
// launch's dynamic shared memory.
template <int R>
__global__ void stencil_halo_overrun_kernel(const float* __restrict__ in, const float* __restrict__ w,
                                            float* __restrict__ out, int n) {
  extern __shared__ float stencil_smem[];
  const int base = blockIdx.x * blockDim.x;
  const int span = blockDim.x + 2 * R;
  for (int t = threadIdx.x; t <= span; t += blockDim.x) {  // BUG: <= span
    const int g = base + t - R;
    stencil_smem[t] = (g >= 0 && g < n) ? in[g] : 0.0f;
  }
  __syncthreads();
  const int i = base + threadIdx.x;
  if (i < n) {
    float acc = 0.0f;
    for (int k = 0; k <= 2 * R; ++k) acc = fmaf(w[k], stencil_smem[threadIdx.x + k], acc);
    out[i] = acc;
  }
}

// A block-wide shift through a static shared array, indexed one past its end by the last
// thread.
__global__ void shared_index_off_by_one_kernel(const float* __restrict__ in, float* __restrict__ out) {
  __shared__ float buf[64];
  const int t = threadIdx.x;
  buf[t + 1] = in[t];  // BUG: buf[64] for t = 63
  __syncthreads();
  out[t] = t > 0 ? buf[t] : 0.0f;
}

}  // namespace pybench::simt::planted
