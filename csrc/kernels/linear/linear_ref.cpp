// Scalar reference of the packed linear layer: double accumulation, the packed weight read
// as the SIMD kernels read it (so a wrong pack shows in both).
#include "linear/linear.h"

namespace pybench::kernels::cpu {

void linear_ref(const LinearParams& p) {
  const int64_t K = p.in_features, N = p.out_features;
  run_parallel(p.exec, 0, p.panels(), 1, [&](int64_t begin, int64_t end) {
    for (int64_t panel = begin; panel < end; ++panel) {
      const float* w = p.weight + panel * K * kLinearPanel;
      const int64_t n0 = panel * kLinearPanel;
      const int64_t cols = std::min(kLinearPanel, N - n0);
      for (int64_t m = 0; m < p.batch; ++m) {
        const float* x = p.input + m * K;
        for (int64_t j = 0; j < cols; ++j) {
          double acc = p.bias ? p.bias[n0 + j] : 0.0;
          for (int64_t k = 0; k < K; ++k) {
            acc += static_cast<double>(x[k]) * w[k * kLinearPanel + j];
          }
          p.output[m * N + n0 + j] = static_cast<float>(activate_ref(acc, p.activation));
        }
      }
    }
  });
}

}  // namespace pybench::kernels::cpu
