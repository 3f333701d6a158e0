#pragma once
// Gram matrix G = F * F^T of a batch of feature maps (neural style transfer's
// feature correlations), the torch-free kernel core.
//
// Layout: features[b][c][l] at features + b * batch_stride + c * row_stride + l; each
// row of `length` floats is contiguous (the adapter copies anything else). The output
// gram[b][i][j] is a dense, contiguous (batch, channels, channels) array.
//
// Only the upper triangle (j >= i) is computed; the lower triangle is a copy of it, so
// the result is exactly symmetric and costs about half the FLOPs of a GEMM. `scale`
// multiplies every entry (1, or 1 / (C * L) for normalised Gram matrices).
#include <cstdint>

#include "common/index_math.h"
#include "common/parallel.h"

namespace pybench::kernels {

struct GramParams {
  const float* features = nullptr;
  float* gram = nullptr;
  int64_t batch = 0;
  int64_t channels = 0;
  int64_t length = 0;
  int64_t batch_stride = 0;  // elements between consecutive feature maps
  int64_t row_stride = 0;    // elements between consecutive channels (>= length)
  float scale = 1.0f;
  CpuExecution exec;  // threading (the SIMD kernels split L by max_threads); CUDA ignores it
};

// Useful FLOPs of one Gram matrix batch: the upper triangle with its diagonal,
// C*(C+1)/2 dot products of length L, 2 FLOPs per term -- the BLAS SSYRK count.
// Every implementation (pybench, PyTorch's F @ F^T, which does twice the work) is
// credited with this same count, so GFLOP/s ratios equal time ratios.
inline double gram_flops(int64_t batch, int64_t channels, int64_t length) {
  return static_cast<double>(batch) * static_cast<double>(channels) *
         static_cast<double>(channels + 1) * static_cast<double>(length);
}

namespace cpu {
// Dispatches on active_cpu_isa().
void gram(const GramParams& p);
// The variants, callable directly by tests and benchmarks. The caller makes sure the
// CPU supports the ISA (cpu_supports()).
void gram_ref(const GramParams& p);
void gram_avx2(const GramParams& p);
void gram_avx512(const GramParams& p);
}  // namespace cpu

}  // namespace pybench::kernels
