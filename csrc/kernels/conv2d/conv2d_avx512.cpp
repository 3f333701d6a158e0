// AVX-512 direct convolution: the phase-plane kernel of conv2d_direct.h with 6 x 4 zmm
// register tiles (6 output channels x 64 positions, 24 accumulators). Tails use masked
// loads and stores, which never touch memory past the last valid lane.
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

#include "isa/avx512_begin.h"

namespace pybench::kernels::cpu {
namespace {

struct Avx512 {
  using Vec = __m512;
  using Mask = __mmask16;
  static constexpr int64_t kLanes = 16;
  static constexpr int kRows = 6;
  static constexpr int kVecs = 4;
  static constexpr int kTallRows = 6;  // = kRows: no taller tail tiles (conv2d_direct.h)
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec set1(float v) { return _mm512_set1_ps(v); }
  static Vec loadu(const float* p) { return _mm512_loadu_ps(p); }
  static Mask mask(int64_t n) { return static_cast<Mask>((1u << n) - 1); }
  static Vec maskload(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void storeu(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static void maskstore(float* p, Mask m, Vec v) { _mm512_mask_storeu_ps(p, m, v); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  static Vec mul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
  // The maskz forms: GCC 12's plain _mm512_min_ps / _mm512_max_ps trip
  // -Wmaybe-uninitialized on their own _mm512_undefined_ps (GCC bug 105593); an all-ones
  // mask is the same instruction (as in depthwise_conv2d_vec.h).
  static Vec min(Vec a, Vec b) { return _mm512_maskz_min_ps(static_cast<Mask>(-1), a, b); }
  static Vec max(Vec a, Vec b) { return _mm512_maskz_max_ps(static_cast<Mask>(-1), a, b); }
};

}  // namespace

#include "conv2d/conv2d_direct.h"
#include "common/transpose8_simd.h"
#include "conv2d/conv2d_via_nchwc.h"

void conv2d_avx512(const Conv2dParams& p) {
  if (is_depthwise(p)) return depthwise_conv2d_avx512(as_depthwise(p));
  if (conv2d_via_nchwc(p, 16)) return conv2d_through_nchwc<16>(p, &conv2d_nchwc_avx512);
  conv2d_direct<Avx512>(p);
}

}  // namespace pybench::kernels::cpu

#include "isa/avx512_end.h"
