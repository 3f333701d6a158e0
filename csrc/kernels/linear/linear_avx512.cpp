// AVX-512 packed linear layer: linear_simd.h with a 3 x 8 tile (3 zmm of the 48-column
// panel x 8 batch rows).
#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "linear/linear.h"

#include "isa/avx512_begin.h"

namespace pybench::kernels::cpu {
namespace {

struct Avx512 {
  using Vec = __m512;
  static constexpr int64_t kLanes = 16;
  static constexpr int kRows = 8;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec set1(float v) { return _mm512_set1_ps(v); }
  static Vec load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
};

}  // namespace

#include "linear/linear_simd.h"

void linear_avx512(const LinearParams& p) { linear_simd<Avx512>(p); }

}  // namespace pybench::kernels::cpu

#include "isa/avx512_end.h"
