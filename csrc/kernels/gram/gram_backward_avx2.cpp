// AVX2 + FMA Gram backward: gram_backward_simd.h with a 4 x 3 register tile (12 ymm
// accumulators, 3 vectors of F's row, 1 broadcast: all 16 ymm registers).
#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "common/cpu_caches.h"
#include "gram/gram.h"

#include "isa/avx2_begin.h"

namespace pybench::kernels::cpu {
namespace {

struct Avx2 {
  using Vec = __m256;
  static constexpr int64_t kLanes = 8;
  static constexpr int kRows = 4;
  static constexpr int kVecs = 3;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec set1(float v) { return _mm256_set1_ps(v); }
  static Vec load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static __m256i first(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Vec load_first(const float* p, int64_t n) { return _mm256_maskload_ps(p, first(n)); }
  static void store_first(float* p, Vec v, int64_t n) { _mm256_maskstore_ps(p, first(n), v); }
};

}  // namespace

#include "gram/gram_backward_simd.h"

void gram_backward_avx2(const GramBackwardParams& p) { gram_backward_simd<Avx2>(p); }

}  // namespace pybench::kernels::cpu

#include "isa/avx2_end.h"
