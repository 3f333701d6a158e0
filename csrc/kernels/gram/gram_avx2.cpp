// AVX2 + FMA Gram micro-kernels. Sixteen ymm registers cannot hold a 4 x 4 tile of
// accumulators plus its operands, so a tile is computed as two 4 x 2 halves: 8
// accumulators + 4 "i" rows + 2 "j" rows = 14 registers, 6 loads per 8 FMAs. The "i"
// rows are read twice, from L1 (the blocking keeps them there). Zen 4 issues two ymm
// FMAs and two ymm loads per cycle, so this stays FMA-bound.
// The L tail (len % 8) uses masked loads, which never touch memory past the row.
#include <cstdint>

#include "gram/gram.h"
#include "gram/gram_blocking.h"

#include "isa/avx2_begin.h"

namespace pybench::kernels::cpu {
namespace {

inline __m256i tail_mask(int64_t n) {
  // Lane k is loaded when k < n.
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), lanes);
}

// Sums of 8 ymm vectors, in order, as one ymm.
inline __m256 reduce8(const __m256 (&v)[8]) {
  const __m256 t0 = _mm256_hadd_ps(v[0], v[1]), t1 = _mm256_hadd_ps(v[2], v[3]);
  const __m256 t2 = _mm256_hadd_ps(v[4], v[5]), t3 = _mm256_hadd_ps(v[6], v[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20),
                       _mm256_permute2f128_ps(u0, u1, 0x31));
}

// acc[2 * r + c] += dot(a[r], b[c]) over len, for r < 4, c < 2; returns the 8 sums in
// that order.
inline __m256 dots_4x2(const float* const a[4], const float* const b[2], int64_t len) {
  __m256 acc[8];
  for (auto& v : acc) v = _mm256_setzero_ps();
  int64_t l = 0;
  auto fma_step = [&](__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 b0, __m256 b1) {
    acc[0] = _mm256_fmadd_ps(a0, b0, acc[0]);
    acc[1] = _mm256_fmadd_ps(a0, b1, acc[1]);
    acc[2] = _mm256_fmadd_ps(a1, b0, acc[2]);
    acc[3] = _mm256_fmadd_ps(a1, b1, acc[3]);
    acc[4] = _mm256_fmadd_ps(a2, b0, acc[4]);
    acc[5] = _mm256_fmadd_ps(a2, b1, acc[5]);
    acc[6] = _mm256_fmadd_ps(a3, b0, acc[6]);
    acc[7] = _mm256_fmadd_ps(a3, b1, acc[7]);
  };
  for (; l + 8 <= len; l += 8) {
    fma_step(_mm256_loadu_ps(a[0] + l), _mm256_loadu_ps(a[1] + l), _mm256_loadu_ps(a[2] + l),
             _mm256_loadu_ps(a[3] + l), _mm256_loadu_ps(b[0] + l), _mm256_loadu_ps(b[1] + l));
  }
  if (l < len) {
    const __m256i m = tail_mask(len - l);
    fma_step(_mm256_maskload_ps(a[0] + l, m), _mm256_maskload_ps(a[1] + l, m),
             _mm256_maskload_ps(a[2] + l, m), _mm256_maskload_ps(a[3] + l, m),
             _mm256_maskload_ps(b[0] + l, m), _mm256_maskload_ps(b[1] + l, m));
  }
  return reduce8(acc);
}

// Adds the 4 x 4 tile of dot products into g; with `upper`, only entries c >= r.
inline void tile4x4(const float* const a[4], const float* const b[4], int64_t len, float* g,
                    int64_t ldg, int64_t rows, int64_t cols, bool upper) {
  alignas(32) float sums[2][8];
  _mm256_store_ps(sums[0], dots_4x2(a, b, len));
  if (cols > 2) _mm256_store_ps(sums[1], dots_4x2(a, b + 2, len));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = upper ? r : 0; c < cols; ++c) g[r * ldg + c] += sums[c / 2][2 * r + c % 2];
  }
}

struct Avx2Kernel {
  static void tile(const float* a[4], const float* b[4], int64_t len, float* g, int64_t ldg,
                   int64_t rows, int64_t cols) {
    tile4x4(a, b, len, g, ldg, rows, cols, false);
  }
  static void diag_tile(const float* a[4], int64_t len, float* g, int64_t ldg, int64_t rows) {
    tile4x4(a, a, len, g, ldg, rows, rows, true);
  }
};

}  // namespace

void gram_avx2(const GramParams& p) { gram_detail::gram_blocked<Avx2Kernel>(p); }

}  // namespace pybench::kernels::cpu

#include "isa/avx2_end.h"
