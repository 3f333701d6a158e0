// Scalar reference of the blocked Winograd convolution: the same F(4x4, 3x3) algorithm in
// double (transforms and sums), any block. The fallback where no SIMD kernel fits the block
// and the oracle of the C++ tests; only the packed weights' float32 rounding remains.
#include <algorithm>
#include <array>
#include <vector>

#include "conv2d_nchwc/conv2d_nchwc.h"

namespace pybench::kernels::cpu {
namespace {

constexpr double kBT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                              {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
constexpr double kAT[4][6] = {
    {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

}  // namespace

void conv2d_nchwc_winograd_ref(const Conv2dNchwcParams& p) {
  const int64_t B = p.block, cb = p.in_blocks(), kb_count = p.out_blocks();
  const int64_t tiles_h = (p.out_h + 3) / 4, tiles_w = (p.out_w + 3) / 4;
  const int64_t in_plane = p.in_h * p.in_w * B, out_plane = p.out_h * p.out_w * B;
  // One work item is one tile of one image, every channel.
  run_parallel(p.exec, 0, p.batch * tiles_h * tiles_w, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> v(36 * cb * B);  // [xi * 6 + nu][c]
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / (tiles_h * tiles_w), rest = item % (tiles_h * tiles_w);
      const int64_t oy = rest / tiles_w * 4, ox = rest % tiles_w * 4;
      for (int64_t c = 0; c < cb * B; ++c) {
        double d[6][6];
        for (int i = 0; i < 6; ++i) {
          for (int j = 0; j < 6; ++j) {
            const int64_t iy = oy - p.pad_h + i, ix = ox - p.pad_w + j;
            d[i][j] = iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w
                          ? p.input[(n * cb + c / B) * in_plane + (iy * p.in_w + ix) * B + c % B]
                          : 0.0;
          }
        }
        for (int xi = 0; xi < 6; ++xi) {
          for (int nu = 0; nu < 6; ++nu) {
            double s = 0;
            for (int i = 0; i < 6; ++i) {
              for (int j = 0; j < 6; ++j) s += kBT[xi][i] * d[i][j] * kBT[nu][j];
            }
            v[(xi * 6 + nu) * cb * B + c] = s;
          }
        }
      }
      for (int64_t k = 0; k < kb_count * B; ++k) {
        const int64_t kb = k / B, o = k % B;
        float* out = p.output + (n * p.output_blocks + kb) * out_plane + o;
        double m[6][6];
        for (int xinu = 0; xinu < 36; ++xinu) {
          const float* u = p.weight + (xinu * kb_count + kb) * cb * B * B + o;
          double s = 0;
          for (int64_t c = 0; c < cb * B; ++c) {
            s += static_cast<double>(u[c * B]) * v[xinu * cb * B + c];
          }
          m[xinu / 6][xinu % 6] = s;
        }
        for (int y = 0; y < 4 && oy + y < p.out_h; ++y) {
          for (int x = 0; x < 4 && ox + x < p.out_w; ++x) {
            const int64_t at = ((oy + y) * p.out_w + ox + x) * B;
            if (k >= p.out_channels) {
              out[at] = 0.0f;
              continue;
            }
            double acc = p.bias ? static_cast<double>(p.bias[k]) : 0.0;
            for (int xi = 0; xi < 6; ++xi) {
              for (int nu = 0; nu < 6; ++nu) acc += kAT[y][xi] * m[xi][nu] * kAT[x][nu];
            }
            if (p.residual) acc += static_cast<double>(p.residual[(n * kb_count + kb) * out_plane + at + o]);
            out[at] = static_cast<float>(activate_ref(acc, p.activation));
          }
        }
      }
    }
  });
}

}  // namespace pybench::kernels::cpu
