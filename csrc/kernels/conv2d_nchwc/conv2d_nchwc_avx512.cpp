// AVX-512 blocked convolution: conv2d_nchwc_tile.h with B = 16 (one zmm per block) and a
// 4 x 6 register tile (24 accumulators, 6 broadcast inputs, 1 weight vector of the 32 zmm).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "conv2d_nchwc/conv2d_nchwc.h"

#include "isa/avx512_begin.h"

namespace pybench::kernels::cpu {
namespace {

struct Avx512 {
  using Vec = __m512;
  static constexpr int64_t kLanes = 16;
  static constexpr int kOcBlocks = 4;
  static constexpr int kPixels = 6;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec set1(float v) { return _mm512_set1_ps(v); }
  static Vec load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  static Vec sub(Vec a, Vec b) { return _mm512_sub_ps(a, b); }
  static Vec mul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
  static Vec min(Vec a, Vec b) { return _mm512_min_ps(a, b); }
  static Vec max(Vec a, Vec b) { return _mm512_max_ps(a, b); }
  // GCC's loop spills here too (8 of 384 FMAs read an accumulator from the stack), but an
  // assembly loop over the tile's taps (accumulators in zmm0-23 for the whole reduction)
  // measured no faster: 0.96-1.15x on 3x3 / 1x1 layers, 1 thread, within noise. Not kept.
  static constexpr bool kAsmTap = false;
  template <class A>
  static void tap(A&, const float*, int64_t, const float*, int64_t) {}
  static Vec keep_lanes(Vec v, int64_t n) {
    return _mm512_maskz_mov_ps(static_cast<__mmask16>((1u << n) - 1), v);
  }
};

}  // namespace

#include "conv2d_nchwc/conv2d_nchwc_tile.h"
#include "conv2d_nchwc/conv2d_nchwc_winograd.h"

void conv2d_nchwc_avx512(const Conv2dNchwcParams& p) { conv2d_nchwc_simd<Avx512>(p); }
void conv2d_nchwc_winograd_avx512(const Conv2dNchwcParams& p) {
  conv2d_nchwc_winograd_simd<Avx512>(p);
}

}  // namespace pybench::kernels::cpu

#include "isa/avx512_end.h"
