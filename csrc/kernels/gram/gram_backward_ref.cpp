// Scalar reference of the Gram backward, dF = scale * (dG + dG^T) F: each element's sum in
// double. The fallback without AVX2 and the oracle of the C++ tests.
#include "gram/gram.h"

namespace pybench::kernels::cpu {

void gram_backward_ref(const GramBackwardParams& p) {
  const int64_t C = p.channels, len = p.length;
  run_parallel(p.exec, 0, p.batch * C, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / C, i = item % C;
      const float* dg = p.grad + b * C * C;
      const float* f = p.features + b * p.batch_stride;
      float* out = p.grad_features + item * len;
      for (int64_t l = 0; l < len; ++l) {
        double acc = 0.0;
        for (int64_t j = 0; j < C; ++j) {
          const double s = static_cast<double>(dg[i * C + j]) + static_cast<double>(dg[j * C + i]);
          acc += s * static_cast<double>(f[j * p.row_stride + l]);
        }
        out[l] = static_cast<float>(acc * static_cast<double>(p.scale));
      }
    }
  });
}

}  // namespace pybench::kernels::cpu
