// Scalar reference convolution: direct loops, double accumulation, the epilogue (residual,
// activation) in double too. It is the oracle of the C++ tests, the fallback on CPUs
// without AVX2, and deliberately plain.
#include <algorithm>

#include "conv2d/conv2d.h"

namespace pybench::kernels::cpu {

void conv2d_ref(const Conv2dParams& p) {
  const int64_t cg = p.in_channels / p.groups;
  const int64_t kg = p.out_channels / p.groups;
  const int64_t in_plane = p.in_h * p.in_w;
  const int64_t out_plane = p.out_h * p.out_w;
  const int64_t taps = p.kernel_h * p.kernel_w;
  // One work item is one output plane (n, k).
  run_parallel(p.exec, 0, p.batch * p.out_channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / p.out_channels;
      const int64_t k = item % p.out_channels;
      const int64_t g = k / kg;
      const float* x = p.input + (n * p.in_channels + g * cg) * in_plane;
      const float* w = p.weight + k * cg * taps;
      float* y = p.output + item * out_plane;
      const float* res = p.residual ? p.residual + item * out_plane : nullptr;
      for (int64_t oy = 0; oy < p.out_h; ++oy) {
        for (int64_t ox = 0; ox < p.out_w; ++ox) {
          double acc = p.bias ? static_cast<double>(p.bias[k]) : 0.0;
          for (int64_t c = 0; c < cg; ++c) {
            for (int64_t r = 0; r < p.kernel_h; ++r) {
              const int64_t iy = oy * p.stride_h - p.pad_h + r * p.dilation_h;
              if (iy < 0 || iy >= p.in_h) continue;
              for (int64_t s = 0; s < p.kernel_w; ++s) {
                const int64_t ix = ox * p.stride_w - p.pad_w + s * p.dilation_w;
                if (ix < 0 || ix >= p.in_w) continue;
                acc += static_cast<double>(w[(c * p.kernel_h + r) * p.kernel_w + s]) *
                       static_cast<double>(x[c * in_plane + iy * p.in_w + ix]);
              }
            }
          }
          const int64_t at = oy * p.out_w + ox;
          if (res) acc += static_cast<double>(res[at]);
          y[at] = static_cast<float>(activate_ref(acc, p.activation));
        }
      }
    }
  });
}

}  // namespace pybench::kernels::cpu
