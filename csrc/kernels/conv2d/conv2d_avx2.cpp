// AVX2 + FMA direct convolution: the phase-plane kernel of conv2d_direct.h with 4 x 3 ymm
// register tiles (4 output channels x 24 positions): 12 accumulators, 3 input vectors
// and 1 broadcast weight fill the 16 ymm registers. Tails use vmaskmovps, which never
// touches memory past the last valid lane.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "common/image_stacking.h"
#include "conv2d/conv2d.h"
#include "conv2d_nchwc/conv2d_nchwc.h"

#include "isa/avx2_begin.h"

namespace pybench::kernels::cpu {
namespace {

struct Avx2 {
  using Vec = __m256;
  using Mask = __m256i;
  static constexpr int64_t kLanes = 8;
  static constexpr int kRows = 4;
  static constexpr int kVecs = 3;
  static constexpr int kTallRows = 8;  // one-vector tail tiles (conv2d_direct.h run_chunk)
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec set1(float v) { return _mm256_set1_ps(v); }
  static Vec loadu(const float* p) { return _mm256_loadu_ps(p); }
  static Mask mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Vec maskload(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void storeu(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static void maskstore(float* p, Mask m, Vec v) { _mm256_maskstore_ps(p, m, v); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static Vec mul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
  static Vec min(Vec a, Vec b) { return _mm256_min_ps(a, b); }
  static Vec max(Vec a, Vec b) { return _mm256_max_ps(a, b); }
};

}  // namespace

#include "conv2d/conv2d_direct.h"
#include "common/transpose8_simd.h"
#include "conv2d/conv2d_via_nchwc.h"

void conv2d_avx2(const Conv2dParams& p) {
  if (is_depthwise(p)) return depthwise_conv2d_avx2(as_depthwise(p));
  if (conv2d_via_nchwc(p, 8)) return conv2d_through_nchwc<8>(p, &conv2d_nchwc_avx2);
  conv2d_direct<Avx2>(p);
}

}  // namespace pybench::kernels::cpu

#include "isa/avx2_end.h"
