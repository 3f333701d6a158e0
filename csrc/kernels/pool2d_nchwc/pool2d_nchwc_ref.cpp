// Scalar reference of the blocked pooling: direct loops, sums in double, ATen's NaN rule
// for max (a NaN in the window is the result). The oracle of the C++ tests and the
// fallback on CPUs without AVX2; deliberately plain and serial.
#include <cmath>
#include <limits>

#include "pool2d_nchwc/pool2d_nchwc.h"

namespace pybench::kernels::cpu {

void pool2d_nchwc_ref(const Pool2dNchwcParams& p) {
  const int64_t B = p.block;
  for (int64_t plane = 0; plane < p.batch * p.blocks; ++plane) {
    const float* in = p.input + plane * p.in_h * p.in_w * B;
    float* out = p.output + plane * p.out_plane();
    for (int64_t oy = 0; oy < p.out_h; ++oy) {
      const PoolWindow& rw = p.rows[oy];
      for (int64_t ox = 0; ox < p.out_w; ++ox) {
        const PoolWindow& cw = p.cols[ox];
        for (int64_t c = 0; c < B; ++c) {
          double acc = p.mode == PoolMode::max ? -std::numeric_limits<double>::infinity() : 0.0;
          for (int64_t r = 0; r < rw.taps; ++r) {
            const int64_t iy = rw.first + r * p.dilation_h;
            for (int64_t s = 0; s < cw.taps; ++s) {
              const int64_t ix = cw.first + s * p.dilation_w;
              const double v = in[(iy * p.in_w + ix) * B + c];
              if (p.mode == PoolMode::avg) {
                acc += v;
              } else if (v > acc || std::isnan(v)) {
                acc = v;
                if (std::isnan(v)) break;
              }
            }
            if (std::isnan(acc)) break;
          }
          if (p.mode == PoolMode::avg) acc /= static_cast<double>(p.divisor(rw, cw));
          out[(oy * p.out_w + ox) * B + c] = static_cast<float>(acc);
        }
      }
    }
  }
}

}  // namespace pybench::kernels::cpu
