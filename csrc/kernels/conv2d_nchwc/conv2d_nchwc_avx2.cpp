// AVX2 + FMA blocked convolution: conv2d_nchwc_tile.h with B = 8 (one ymm per block) and a
// 4 x 3 register tile (4 output channel blocks x 3 pixels: 12 accumulators, 3 broadcast
// inputs, 1 weight vector -- all 16 ymm registers).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <utility>

#include "conv2d_nchwc/conv2d_nchwc.h"

#include "isa/avx2_begin.h"

namespace pybench::kernels::cpu {
namespace {

struct Avx2 {
  using Vec = __m256;
  static constexpr int64_t kLanes = 8;
  static constexpr int kOcBlocks = 4;
  static constexpr int kPixels = 3;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec set1(float v) { return _mm256_set1_ps(v); }
  static Vec load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static Vec mul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
  static Vec min(Vec a, Vec b) { return _mm256_min_ps(a, b); }
  static Vec max(Vec a, Vec b) { return _mm256_max_ps(a, b); }
  // Lanes [0, n) of v, zeros above.
  static Vec keep_lanes(Vec v, int64_t n) {
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                                         _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_and_ps(v, _mm256_castsi256_ps(m));
  }
};

}  // namespace

#include "conv2d_nchwc/conv2d_nchwc_tile.h"

void conv2d_nchwc_avx2(const Conv2dNchwcParams& p) { conv2d_nchwc_simd<Avx2>(p); }

}  // namespace pybench::kernels::cpu

#include "isa/avx2_end.h"
