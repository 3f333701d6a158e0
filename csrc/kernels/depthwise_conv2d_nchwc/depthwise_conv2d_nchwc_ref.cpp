// Scalar reference of the blocked depthwise convolution: direct loops, the sum and the
// epilogue in double. The oracle of the C++ tests, the fallback on CPUs without AVX2 and
// for blocks the SIMD variants have no vector for; deliberately plain.
#include <algorithm>
#include <cmath>

#include "depthwise_conv2d_nchwc/depthwise_conv2d_nchwc.h"

namespace pybench::kernels::cpu {
namespace {

double activate(Activation act, double v) {
  switch (act) {
    case Activation::none: return v;
    case Activation::relu: return v > 0.0 ? v : (std::isnan(v) ? v : 0.0);
    case Activation::relu6: return std::isnan(v) ? v : std::min(std::max(v, 0.0), 6.0);
    case Activation::hardswish: return v * std::min(std::max(v + 3.0, 0.0), 6.0) / 6.0;
    case Activation::sigmoid: return 1.0 / (1.0 + std::exp(-v));
  }
  return v;
}

}  // namespace

void depthwise_conv2d_nchwc_ref(const DepthwiseConv2dNchwcParams& p) {
  const int64_t B = p.block;
  const int64_t cb_count = p.channel_blocks();
  const int64_t rows = depthwise_nchwc_rows_per_item(p);
  const int64_t chunks = ceil_div(p.out_h, rows);
  const int64_t in_plane = p.in_h * p.in_w * B;
  const int64_t out_plane = p.out_plane();
  run_parallel(p.exec, 0, p.batch * cb_count * chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t plane = item / chunks;  // n * Cb + cb
      const int64_t cb = plane % cb_count;
      const int64_t y0 = (item % chunks) * rows;
      const int64_t y1 = std::min(y0 + rows, p.out_h);
      const float* x = p.input + plane * in_plane;
      const float* w = p.weight + cb * p.kernel_h * p.kernel_w * B;
      const float* res = p.residual ? p.residual + plane * out_plane : nullptr;
      float* out = p.output + plane * out_plane;
      for (int64_t oy = y0; oy < y1; ++oy) {
        for (int64_t ox = 0; ox < p.out_w; ++ox) {
          const int64_t o = (oy * p.out_w + ox) * B;
          for (int64_t l = 0; l < B; ++l) {
            if (cb * B + l >= p.channels) {
              out[o + l] = 0.0f;
              continue;
            }
            double acc = p.bias ? static_cast<double>(p.bias[cb * B + l]) : 0.0;
            for (int64_t r = 0; r < p.kernel_h; ++r) {
              const int64_t iy = oy * p.stride_h - p.pad_h + r * p.dilation_h;
              if (iy < 0 || iy >= p.in_h) continue;
              for (int64_t s = 0; s < p.kernel_w; ++s) {
                const int64_t ix = ox * p.stride_w - p.pad_w + s * p.dilation_w;
                if (ix < 0 || ix >= p.in_w) continue;
                acc += static_cast<double>(w[(r * p.kernel_w + s) * B + l]) *
                       static_cast<double>(x[(iy * p.in_w + ix) * B + l]);
              }
            }
            if (res) acc += static_cast<double>(res[o + l]);
            out[o + l] = static_cast<float>(activate(p.activation, acc));
          }
        }
      }
    }
  });
}

}  // namespace pybench::kernels::cpu
