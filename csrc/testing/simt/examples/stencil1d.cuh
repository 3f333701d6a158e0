#pragma once
// Example kernel of the SIMT emulator with dynamic shared memory: a 1-D stencil,
// out[i] = sum_{k=0..2R} w[k] * in[i + k - R], with in = 0 outside [0, n).
//
// Each block of blockDim.x threads stages its blockDim.x outputs' inputs plus a halo of
// R on each side in `extern __shared__` memory (blockDim.x + 2R floats, the launch's
// shared_bytes), then every thread reads its 2R + 1 neighbours from there. Grid:
// ceil(n / blockDim.x). Plain CUDA: the same file compiles with nvcc. An emulator test
// declares the shared array first (PYBENCH_SIMT_DYNAMIC_SHARED(float, stencil_smem)).

namespace pybench::simt::examples {

// Dynamic shared memory the launch needs.
inline constexpr unsigned long stencil1d_shared_bytes(int block, int radius) {
  return sizeof(float) * static_cast<unsigned long>(block + 2 * radius);
}

template <int R>
__global__ void stencil1d_kernel(const float* __restrict__ in, const float* __restrict__ w,
                                 float* __restrict__ out, int n) {
  extern __shared__ float stencil_smem[];
  const int base = blockIdx.x * blockDim.x;
  const int span = blockDim.x + 2 * R;
  for (int t = threadIdx.x; t < span; t += blockDim.x) {
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

}  // namespace pybench::simt::examples
