// AVX-512 LSTM kernels: 16-unit panels, 6-row tiles (24 zmm accumulators + 4 weight
// vectors + 1 broadcast of the 32 registers), masked loads and stores for the hidden tail.
// The tile, epilogue and activation code is lstm_simd.h, instantiated here for V below.
#include <cstdint>
#include <type_traits>

#include "lstm/lstm.h"

#include "isa/avx512_begin.h"

namespace pybench::kernels::cpu {
namespace {

struct V {
  using reg = __m512;
  using mask = __mmask16;
  static constexpr int64_t W = 16;
  static constexpr int MR = static_cast<int>(kLstmTileRowsAvx512);
  static constexpr bool kHoistW = true;

  static mask lanes(int64_t n) {
    return n >= 16 ? static_cast<mask>(0xFFFF) : static_cast<mask>((1u << n) - 1);
  }
  static reg zero() { return _mm512_setzero_ps(); }
  static reg set1(float v) { return _mm512_set1_ps(v); }
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static reg loadm(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(lanes(n), p); }
  static void storem(float* p, reg v, int64_t n) { _mm512_mask_storeu_ps(p, lanes(n), v); }
  static reg bcast(const float* p) { return _mm512_set1_ps(*p); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg fnmadd(reg a, reg b, reg c) { return _mm512_fnmadd_ps(a, b, c); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static reg rcp(reg a) { return _mm512_rcp14_ps(a); }
  static reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
  static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  static reg abs(reg a) { return _mm512_abs_ps(a); }
  static reg copysign(reg mag, reg sign) {
    const reg s = _mm512_set1_ps(-0.0f);
    return _mm512_or_ps(_mm512_andnot_ps(s, mag), _mm512_and_ps(s, sign));
  }
  static mask lt(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static reg blend(mask m, reg if_true, reg if_false) {
    return _mm512_mask_blend_ps(m, if_false, if_true);
  }
  static reg round(reg a) {
    return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static reg pow2n(reg n) {
    const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
  }
};

#include "lstm/lstm_simd.h"

}  // namespace

void lstm_cell_avx512(const LstmCellParams& p) { cell_simd(p); }
void lstm_input_gemm_avx512(const LstmInputGemmParams& p) { input_gemm_simd(p); }
void lstm_backward_step_avx512(const LstmBackwardStepParams& p) { backward_step_simd(p); }
void lstm_sigmoid_avx512(const float* x, float* y, int64_t n) {
  map_array<false>(x, y, n);
}
void lstm_tanh_avx512(const float* x, float* y, int64_t n) {
  map_array<true>(x, y, n);
}

}  // namespace pybench::kernels::cpu

#include "isa/avx512_end.h"
