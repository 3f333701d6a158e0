// Scalar reference depthwise convolution: direct loops, double accumulation, the epilogue
// in double too. The oracle of the C++ tests and the fallback on CPUs without AVX2;
// deliberately plain.
#include "depthwise_conv2d/depthwise_conv2d.h"

namespace pybench::kernels::cpu {

void depthwise_conv2d_ref(const DepthwiseConv2dParams& p) {
  const int64_t k_total = p.out_channels();
  const int64_t in_plane = p.in_h * p.in_w;
  const int64_t out_plane = p.out_h * p.out_w;
  const int64_t taps = p.kernel_h * p.kernel_w;
  // One work item is one output plane (n, k).
  run_parallel(p.exec, 0, p.batch * k_total, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / k_total;
      const int64_t k = item % k_total;
      const float* x = p.input + (n * p.channels + k / p.multiplier) * in_plane;
      const float* w = p.weight + k * taps;
      float* y = p.output + item * out_plane;
      const float* res = p.residual ? p.residual + item * out_plane : nullptr;
      for (int64_t oy = 0; oy < p.out_h; ++oy) {
        for (int64_t ox = 0; ox < p.out_w; ++ox) {
          double acc = p.bias ? static_cast<double>(p.bias[k]) : 0.0;
          for (int64_t r = 0; r < p.kernel_h; ++r) {
            const int64_t iy = oy * p.stride_h - p.pad_h + r * p.dilation_h;
            if (iy < 0 || iy >= p.in_h) continue;
            for (int64_t s = 0; s < p.kernel_w; ++s) {
              const int64_t ix = ox * p.stride_w - p.pad_w + s * p.dilation_w;
              if (ix < 0 || ix >= p.in_w) continue;
              acc += static_cast<double>(w[r * p.kernel_w + s]) *
                     static_cast<double>(x[iy * p.in_w + ix]);
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
