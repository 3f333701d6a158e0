// AVX2 + FMA LSTM kernels: 8-unit panels, 3-row tiles (12 ymm accumulators + 1 broadcast
// of the 16 registers; the weight vectors are FMA memory operands, read from L1 once per
// row), masked loads and stores for the hidden tail. The tile, epilogue and activation
// code is lstm_simd.h, instantiated here for V below.
#include <cstdint>
#include <type_traits>

#include "lstm/lstm.h"

#include "isa/avx2_begin.h"

namespace pybench::kernels::cpu {
namespace {

struct V {
  using reg = __m256;
  using mask = __m256;
  static constexpr int64_t W = 8;
  static constexpr int MR = static_cast<int>(kLstmTileRowsAvx2);
  static constexpr bool kHoistW = false;

  static __m256i lanes(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static reg zero() { return _mm256_setzero_ps(); }
  static reg set1(float v) { return _mm256_set1_ps(v); }
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static reg loadm(const float* p, int64_t n) {
    return n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lanes(n));
  }
  static void storem(float* p, reg v, int64_t n) {
    if (n >= 8) {
      _mm256_storeu_ps(p, v);
    } else {
      _mm256_maskstore_ps(p, lanes(n), v);
    }
  }
  static reg bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg fnmadd(reg a, reg b, reg c) { return _mm256_fnmadd_ps(a, b, c); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static reg rcp(reg a) { return _mm256_rcp_ps(a); }
  static reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  static reg abs(reg a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static reg copysign(reg mag, reg sign) {
    const reg s = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(s, mag), _mm256_and_ps(s, sign));
  }
  static mask lt(reg a, reg b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static reg blend(mask m, reg if_true, reg if_false) {
    return _mm256_blendv_ps(if_false, if_true, m);
  }
  static reg round(reg a) {
    return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static reg pow2n(reg n) {
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
  }
};

#include "lstm/lstm_simd.h"

}  // namespace

void lstm_cell_avx2(const LstmCellParams& p) { cell_simd(p); }
void lstm_input_gemm_avx2(const LstmInputGemmParams& p) { input_gemm_simd(p); }
void lstm_backward_step_avx2(const LstmBackwardStepParams& p) { backward_step_simd(p); }
void lstm_sigmoid_avx2(const float* x, float* y, int64_t n) {
  map_array<false>(x, y, n);
}
void lstm_tanh_avx2(const float* x, float* y, int64_t n) {
  map_array<true>(x, y, n);
}

}  // namespace pybench::kernels::cpu

#include "isa/avx2_end.h"
