// Scalar reference of the NCHW pooling: direct loops over each output's window, sums in
// double, ATen's NaN rule for max (a NaN in the window is the result). The oracle of the
// C++ tests and the fallback on CPUs without AVX2; deliberately plain and serial.
#include <cmath>
#include <limits>
#include <vector>

#include "pool2d/pool2d.h"

namespace pybench::kernels::cpu {

void pool2d_ref(const Pool2dParams& p) {
  const std::vector<PoolWindow> rows = p.row_windows(), cols = p.col_windows();
  const bool max = p.mode == PoolMode::max;
  for (int64_t plane = 0; plane < p.planes; ++plane) {
    const float* in = p.input + plane * p.in_h * p.in_w;
    float* out = p.output + plane * p.out_h * p.out_w;
    for (int64_t oy = 0; oy < p.out_h; ++oy) {
      const PoolWindow& rw = rows[static_cast<size_t>(oy)];
      for (int64_t ox = 0; ox < p.out_w; ++ox) {
        const PoolWindow& cw = cols[static_cast<size_t>(ox)];
        double acc = max ? -std::numeric_limits<double>::infinity() : 0.0;
        for (int64_t r = 0; r < rw.taps && !std::isnan(acc); ++r) {
          const float* row = in + (rw.first + r * p.dilation_h) * p.in_w;
          for (int64_t s = 0; s < cw.taps; ++s) {
            const double v = row[cw.first + s * p.dilation_w];
            if (!max) {
              acc += v;
            } else if (v > acc || std::isnan(v)) {
              acc = v;
              if (std::isnan(v)) break;
            }
          }
        }
        if (!max) {
          acc /= static_cast<double>(
              pool_divisor(rw, cw, p.count_include_pad, p.divisor_override));
        }
        out[oy * p.out_w + ox] = static_cast<float>(acc);
      }
    }
  }
}

}  // namespace pybench::kernels::cpu
