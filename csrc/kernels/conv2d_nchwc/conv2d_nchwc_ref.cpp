// Scalar reference of the blocked convolution: direct loops, double accumulation, any block.
// The oracle of the C++ tests and the fallback for a block the ISA has no kernel for.
#include "conv2d_nchwc/conv2d_nchwc.h"

namespace pybench::kernels::cpu {


void conv2d_nchwc_ref(const Conv2dNchwcParams& p) {
  const int64_t B = p.block, kb_count = p.out_blocks(), groups = p.channel_groups(),
                bi_count = p.group_channels();
  const int64_t out_plane = p.out_h * p.out_w * B;
  const int64_t in_plane =
      p.in_plane_stride > 0 ? p.in_plane_stride : p.in_h * p.in_w * (p.input_blocked ? B : 1);
  // One work item is one output channel block of one image.
  run_parallel(p.exec, 0, p.batch * kb_count, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / kb_count, kb = item % kb_count;
      float* y = p.output + (n * p.output_blocks + kb) * out_plane;
      const float* res = p.residual ? p.residual + item * out_plane : nullptr;
      for (int64_t oy = 0; oy < p.out_h; ++oy) {
        for (int64_t ox = 0; ox < p.out_w; ++ox) {
          for (int64_t o = 0; o < B; ++o) {
            const int64_t at = (oy * p.out_w + ox) * B + o;
            if (kb * B + o >= p.out_channels) {
              y[at] = 0.0f;
              continue;
            }
            double acc = p.bias ? static_cast<double>(p.bias[kb * B + o]) : 0.0;
            for (int64_t g = 0; g < groups; ++g) {
              for (int64_t r = 0; r < p.kernel_h; ++r) {
                const int64_t iy = oy * p.stride_h - p.pad_h + r * p.dilation_h;
                if (iy < 0 || iy >= p.in_h) continue;
                for (int64_t s = 0; s < p.kernel_w; ++s) {
                  const int64_t ix = ox * p.stride_w - p.pad_w + s * p.dilation_w;
                  if (ix < 0 || ix >= p.in_w) continue;
                  const float* w =
                      p.weight + ((((kb * groups + g) * p.kernel_h + r) * p.kernel_w + s) *
                                  bi_count) * B + o;
                  for (int64_t i = 0; i < bi_count; ++i) {
                    const float* plane = p.input + (n * groups + g) * in_plane;
                    const float x = p.input_blocked ? plane[(iy * p.in_w + ix) * B + i]
                                                    : plane[iy * p.in_w + ix];
                    acc += static_cast<double>(w[i * B]) * static_cast<double>(x);
                  }
                }
              }
            }
            if (res) acc += static_cast<double>(res[at]);
            y[at] = static_cast<float>(activate_ref(acc, p.activation));
          }
        }
      }
    }
  });
}

}  // namespace pybench::kernels::cpu
