// Scalar reference Gram kernel: the fallback on CPUs without AVX2 and the oracle the
// C++ tests hold the SIMD variants to. It accumulates each dot product in double, so its
// own rounding error is far below the float32 tolerance the variants are checked with.
#include <algorithm>

#include "gram/gram.h"

namespace pybench::kernels::cpu {

void gram_ref(const GramParams& p) {
  const int64_t C = p.channels;
  run_parallel(p.exec, 0, p.batch * C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / C;
      const int64_t i = item % C;
      const float* fi = p.features + b * p.batch_stride + i * p.row_stride;
      float* g = p.gram + b * C * C;
      for (int64_t j = i; j < C; ++j) {
        const float* fj = p.features + b * p.batch_stride + j * p.row_stride;
        double acc = 0.0;
        for (int64_t l = 0; l < p.length; ++l) {
          acc += static_cast<double>(fi[l]) * static_cast<double>(fj[l]);
        }
        const float v = static_cast<float>(acc) * p.scale;
        // Each work item writes its row of the upper triangle and the matching column
        // of the lower one; no two items touch the same entry.
        g[i * C + j] = v;
        g[j * C + i] = v;
      }
    }
  });
}

}  // namespace pybench::kernels::cpu
