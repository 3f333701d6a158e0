#pragma once
// Fully connected layer, y = act(x W^T + b), for the small batches of inference (the
// classifier of AlexNet / VGG at batch 1-32), with the weight packed once: the torch-free
// kernel core of pybench::linear.
//
// Layouts:
//   input   (batch, in_features) = (M, K), row-major, contiguous.
//   weight  packed once (pybench.ops.pack_linear): (Np, K, kLinearPanel) with
//           Np = ceil(N / kLinearPanel), element [p][k][j] = W[p * kLinearPanel + j][k]
//           (PyTorch's (N, K) weight), zero for rows past N. Each panel's K x 48 floats
//           are one contiguous stream.
//   bias    (N) or nullptr.
//   output  (M, N), row-major, contiguous.
//
// Why: at batch 8 the classifier's weights (AlexNet 233 MB, VGG-16 496 MB) are read from
// memory once per call whatever the kernel, and the arithmetic is 2 * 8 FLOPs per weight
// read, so the layer is bound by the memory stream. MKL's sgemm, tuned for large
// products, reaches 10-18 GB/s there on the 2-core Sapphire Rapids (12 ms for AlexNet's
// 9216 -> 4096 at batch 8, 4.3 ms at batch 1). Here every weight is read once, in order,
// and multiplied into all the batch's rows while it is in registers: the outer-product
// micro-kernel of a packed GEMM (BLIS / MLAS), with the packed operand being the weight.
//
// Register tile (linear_simd.h): kLinearPanel / lanes weight vectors x MR rows of the
// batch, one accumulator each; per k, the panel's vectors are loaded once and each row's
// x[m][k] is broadcast. K is cut into chunks whose panel slice (kc x 48 floats) stays in
// the L1d (linear_k_chunk), so a batch taller than MR re-reads the slice from there, not
// from memory; partial sums of a panel live in a per-item scratch of M x 48 floats.
#include <algorithm>
#include <cstdint>

#include "common/activation.h"
#include "common/cpu_caches.h"
#include "common/parallel.h"

namespace pybench::kernels {

// Output columns per packed panel: 3 zmm (AVX-512: a 3 x 8 tile, 24 accumulators) or
// 6 ymm (AVX2: 6 x 2, 12 accumulators). One width for every ISA, so a weight packed
// under one ISA runs under another.
inline constexpr int64_t kLinearPanel = 48;

struct LinearParams {
  int64_t batch = 0;         // M
  int64_t in_features = 0;   // K
  int64_t out_features = 0;  // N
  const float* input = nullptr;
  const float* weight = nullptr;  // packed
  const float* bias = nullptr;
  float* output = nullptr;
  Activation activation = Activation::none;
  CpuExecution exec;

  int64_t panels() const { return (out_features + kLinearPanel - 1) / kLinearPanel; }
};

// Multiply-adds times two, the bias not counted.
inline double linear_flops(const LinearParams& p) {
  return 2.0 * static_cast<double>(p.batch) * static_cast<double>(p.in_features) *
         static_cast<double>(p.out_features);
}

// K per chunk: the panel's slice (k x 48 floats) within half the L1d, so that the batch's
// row groups after the first (AVX2's tile has 2 rows, so batch 8 is 4 groups) read it from
// there while the next slice streams in: with the slice sized to the L2, the groups after
// the first ran with no memory traffic and the first with no reuse (AVX2, AlexNet's
// 9216 -> 4096 at batch 8: 11.4 ms, 13 GB/s). The other half holds the rows of x the
// chunk multiplies and the lines in flight. At least 16 steps: the partial sums' load
// and store per chunk are then under 1/16 of its loads.
inline int64_t linear_k_chunk(const cpu::CpuCaches& c, int64_t in_features) {
  const int64_t k = c.l1d / 2 / (4 * kLinearPanel);
  return std::clamp<int64_t>(k, 16, std::max<int64_t>(16, in_features));
}

namespace cpu {
void linear(const LinearParams& p);  // ISA-dispatched
void linear_ref(const LinearParams& p);
void linear_avx2(const LinearParams& p);
void linear_avx512(const LinearParams& p);
}  // namespace cpu

}  // namespace pybench::kernels
