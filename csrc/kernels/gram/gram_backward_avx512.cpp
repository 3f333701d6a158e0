// AVX-512 Gram backward: gram_backward_simd.h with a 6 x 4 register tile (24 zmm
// accumulators, 4 vectors of F's row, 1 broadcast: 29 of the 32 zmm registers).
#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "common/cpu_caches.h"
#include "gram/gram.h"

#include "isa/avx512_begin.h"

namespace pybench::kernels::cpu {
namespace {

struct Avx512 {
  using Vec = __m512;
  static constexpr int64_t kLanes = 16;
  static constexpr int kRows = 6;
  static constexpr int kVecs = 4;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec set1(float v) { return _mm512_set1_ps(v); }
  static Vec load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static __mmask16 first(int64_t n) { return static_cast<__mmask16>((1u << n) - 1); }
  static Vec load_first(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(first(n), p); }
  static void store_first(float* p, Vec v, int64_t n) { _mm512_mask_storeu_ps(p, first(n), v); }
};

}  // namespace

#include "gram/gram_backward_simd.h"

void gram_backward_avx512(const GramBackwardParams& p) { gram_backward_simd<Avx512>(p); }

}  // namespace pybench::kernels::cpu

#include "isa/avx512_end.h"
