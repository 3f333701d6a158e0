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

// Backward of G = scale * F F^T: dF = scale * (dG + dG^T) F. dG + dG^T is symmetric and is
// formed once, so the backward is ONE (C x C) x (C x L) product, where autograd of
// F @ F.T runs two (dG F and dG^T F).
//
// Layout: grad (dG) is a dense (batch, C, C) array; features as GramParams (rows
// contiguous, batch_stride / row_stride apart); grad_features (dF) a dense (batch, C, L)
// array.
struct GramBackwardParams {
  const float* grad = nullptr;
  const float* features = nullptr;
  float* grad_features = nullptr;
  int64_t batch = 0;
  int64_t channels = 0;
  int64_t length = 0;
  int64_t batch_stride = 0;
  int64_t row_stride = 0;
  float scale = 1.0f;
  CpuExecution exec;  // threading of the CPU kernels; CUDA ignores it
};

// FLOPs of the backward as computed: one C x C x L product, 2 FLOPs per term.
inline double gram_backward_flops(int64_t batch, int64_t channels, int64_t length) {
  return 2.0 * static_cast<double>(batch) * static_cast<double>(channels) *
         static_cast<double>(channels) * static_cast<double>(length);
}

namespace cpu {
// Dispatches on active_cpu_isa().
void gram(const GramParams& p);
void gram_backward(const GramBackwardParams& p);
void gram_backward_ref(const GramBackwardParams& p);
void gram_backward_avx2(const GramBackwardParams& p);
void gram_backward_avx512(const GramBackwardParams& p);
// The variants, callable directly by tests and benchmarks. The caller makes sure the
// CPU supports the ISA (cpu_supports()).
void gram_ref(const GramParams& p);
void gram_avx2(const GramParams& p);
void gram_avx512(const GramParams& p);
}  // namespace cpu

}  // namespace pybench::kernels
