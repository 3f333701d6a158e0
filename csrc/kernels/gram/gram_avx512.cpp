// AVX-512 Gram micro-kernels: 4 x 4 dot products per tile, 16 zmm accumulators of 16
// floats each, 8 zmm loads per 16 FMAs (24 of the 32 zmm registers). On Zen 4 a zmm FMA
// takes both 256-bit FMA pipes, so the loop is FMA-bound with loads to spare.
// The L tail (len % 16) uses masked loads, which never touch memory past the row.
#include <cstdint>

#include "gram/gram.h"
#include "gram/gram_blocking.h"

#include "isa/avx512_begin.h"

namespace pybench::kernels::cpu {
namespace {

// Sums of 8 ymm vectors, in order, as one ymm.
inline __m256 reduce8(__m256 v0, __m256 v1, __m256 v2, __m256 v3, __m256 v4, __m256 v5,
                      __m256 v6, __m256 v7) {
  const __m256 t0 = _mm256_hadd_ps(v0, v1), t1 = _mm256_hadd_ps(v2, v3);
  const __m256 t2 = _mm256_hadd_ps(v4, v5), t3 = _mm256_hadd_ps(v6, v7);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20),
                       _mm256_permute2f128_ps(u0, u1, 0x31));
}

// Lanes [0, n) set, all 16 for n >= 16.
inline __mmask16 tail_mask(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1);
}

inline __m256 halve(__m512 v) {
  return _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
}

// Adds acc[r][c] (r < rows, c < cols, and c >= r when `upper`) into g.
inline void store_tile(__m512 (&acc)[4][4], float* g, int64_t ldg, int64_t rows,
                       int64_t cols, bool upper) {
  alignas(32) float sums[16];
  _mm256_store_ps(sums, reduce8(halve(acc[0][0]), halve(acc[0][1]), halve(acc[0][2]),
                                halve(acc[0][3]), halve(acc[1][0]), halve(acc[1][1]),
                                halve(acc[1][2]), halve(acc[1][3])));
  _mm256_store_ps(sums + 8, reduce8(halve(acc[2][0]), halve(acc[2][1]), halve(acc[2][2]),
                                    halve(acc[2][3]), halve(acc[3][0]), halve(acc[3][1]),
                                    halve(acc[3][2]), halve(acc[3][3])));
  if (!upper && rows == 4 && cols == 4) {
    for (int64_t r = 0; r < 4; ++r) {
      _mm_storeu_ps(g + r * ldg, _mm_add_ps(_mm_loadu_ps(g + r * ldg), _mm_load_ps(sums + 4 * r)));
    }
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = upper ? r : 0; c < cols; ++c) g[r * ldg + c] += sums[r * 4 + c];
  }
}

struct Avx512Kernel {
  static void tile(const float* a[4], const float* b[4], int64_t len, float* g, int64_t ldg,
                   int64_t rows, int64_t cols) {
    __m512 acc[4][4];
    for (auto& row : acc)
      for (auto& v : row) v = _mm512_setzero_ps();
    // One loop for body and tail: a full mask costs nothing on zmm loads, and a single
    // loop body keeps all 16 accumulators in registers (a second, tail copy of the body
    // made GCC keep them in memory).
    for (int64_t l = 0; l < len; l += 16) {
      const __mmask16 m = tail_mask(len - l);
      const __m512 a0 = _mm512_maskz_loadu_ps(m, a[0] + l), a1 = _mm512_maskz_loadu_ps(m, a[1] + l);
      const __m512 a2 = _mm512_maskz_loadu_ps(m, a[2] + l), a3 = _mm512_maskz_loadu_ps(m, a[3] + l);
      for (int c = 0; c < 4; ++c) {
        const __m512 bc = _mm512_maskz_loadu_ps(m, b[c] + l);
        acc[0][c] = _mm512_fmadd_ps(a0, bc, acc[0][c]);
        acc[1][c] = _mm512_fmadd_ps(a1, bc, acc[1][c]);
        acc[2][c] = _mm512_fmadd_ps(a2, bc, acc[2][c]);
        acc[3][c] = _mm512_fmadd_ps(a3, bc, acc[3][c]);
      }
    }
    store_tile(acc, g, ldg, rows, cols, false);
  }

  static void diag_tile(const float* a[4], int64_t len, float* g, int64_t ldg, int64_t rows) {
    __m512 acc[4][4];
    for (auto& row : acc)
      for (auto& v : row) v = _mm512_setzero_ps();
    for (int64_t l = 0; l < len; l += 16) {
      const __mmask16 m = tail_mask(len - l);
      const __m512 v0 = _mm512_maskz_loadu_ps(m, a[0] + l), v1 = _mm512_maskz_loadu_ps(m, a[1] + l);
      const __m512 v2 = _mm512_maskz_loadu_ps(m, a[2] + l), v3 = _mm512_maskz_loadu_ps(m, a[3] + l);
      acc[0][0] = _mm512_fmadd_ps(v0, v0, acc[0][0]);
      acc[0][1] = _mm512_fmadd_ps(v0, v1, acc[0][1]);
      acc[0][2] = _mm512_fmadd_ps(v0, v2, acc[0][2]);
      acc[0][3] = _mm512_fmadd_ps(v0, v3, acc[0][3]);
      acc[1][1] = _mm512_fmadd_ps(v1, v1, acc[1][1]);
      acc[1][2] = _mm512_fmadd_ps(v1, v2, acc[1][2]);
      acc[1][3] = _mm512_fmadd_ps(v1, v3, acc[1][3]);
      acc[2][2] = _mm512_fmadd_ps(v2, v2, acc[2][2]);
      acc[2][3] = _mm512_fmadd_ps(v2, v3, acc[2][3]);
      acc[3][3] = _mm512_fmadd_ps(v3, v3, acc[3][3]);
    }
    store_tile(acc, g, ldg, rows, rows, true);
  }
};

}  // namespace

void gram_avx512(const GramParams& p) { gram_detail::gram_blocked<Avx512Kernel>(p); }

}  // namespace pybench::kernels::cpu

#include "isa/avx512_end.h"
