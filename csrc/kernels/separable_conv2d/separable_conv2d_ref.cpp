// Scalar reference of the fused separable convolution: the depthwise output in double
// (the whole tensor: the reference is plain, not fused), then the pointwise one, both
// accumulated in double. The oracle of the C++ tests and the fallback without AVX2.
#include <algorithm>
#include <vector>

#include "separable_conv2d/separable_conv2d.h"

namespace pybench::kernels::cpu {
namespace {


}  // namespace

void separable_conv2d_ref(const SeparableConv2dParams& sp) {
  const DepthwiseConv2dParams& p = sp.dw;
  const int64_t mid = p.out_channels();
  const int64_t in_plane = p.in_h * p.in_w;
  const int64_t out_plane = p.out_h * p.out_w;
  const int64_t taps = p.kernel_h * p.kernel_w;
  std::vector<double> t(static_cast<size_t>(p.batch * mid * out_plane));
  run_parallel(p.exec, 0, p.batch * mid, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / mid, k = item % mid;
      const float* x = p.input + (n * p.channels + k / p.multiplier) * in_plane;
      const float* w = p.weight + k * taps;
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
          t[item * out_plane + oy * p.out_w + ox] = activate_ref(acc, sp.dw_activation);
        }
      }
    }
  });
  const int64_t k_out = sp.out_channels;
  run_parallel(p.exec, 0, p.batch * k_out, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> acc(static_cast<size_t>(out_plane));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / k_out, k = item % k_out;
      std::fill(acc.begin(), acc.end(), sp.pw_bias ? static_cast<double>(sp.pw_bias[k]) : 0.0);
      for (int64_t c = 0; c < mid; ++c) {
        const double w = sp.pw_weight[k * mid + c];
        const double* tc = t.data() + (n * mid + c) * out_plane;
        for (int64_t i = 0; i < out_plane; ++i) acc[i] += w * tc[i];
      }
      float* y = sp.output + item * out_plane;
      for (int64_t i = 0; i < out_plane; ++i) {
        y[i] = static_cast<float>(activate_ref(acc[i], sp.pw_activation));
      }
    }
  });
}

}  // namespace pybench::kernels::cpu
