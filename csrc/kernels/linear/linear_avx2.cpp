// AVX2 + FMA packed linear layer: linear_simd.h with a 6 x 2 tile (6 ymm of the 48-column
// panel x 2 batch rows).
#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "linear/linear.h"

#include "isa/avx2_begin.h"

namespace pybench::kernels::cpu {
namespace {

struct Avx2 {
  using Vec = __m256;
  static constexpr int64_t kLanes = 8;
  static constexpr int kRows = 2;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec set1(float v) { return _mm256_set1_ps(v); }
  static Vec load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
};

}  // namespace

#include "linear/linear_simd.h"

void linear_avx2(const LinearParams& p) { linear_simd<Avx2>(p); }

}  // namespace pybench::kernels::cpu

#include "isa/avx2_end.h"
