// AVX2 + FMA blocked convolution: conv2d_nchwc_tile.h with B = 8 (one ymm per block) and a
// 4 x 3 register tile (4 output channel blocks x 3 pixels: 12 accumulators, 3 broadcast
// inputs, 1 weight vector -- all 16 ymm registers).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "conv2d_nchwc/conv2d_nchwc.h"

#include "isa/avx2_begin.h"

namespace pybench::kernels::cpu {
namespace {

struct Avx2 {
  using Vec = __m256;
  static constexpr int64_t kLanes = 8;
  static constexpr int kOcBlocks = 4;
  static constexpr int kPixels = 3;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec set1(float v) { return _mm256_set1_ps(v); }
  static Vec load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static Vec sub(Vec a, Vec b) { return _mm256_sub_ps(a, b); }
  static Vec mul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
  static Vec min(Vec a, Vec b) { return _mm256_min_ps(a, b); }
  static Vec max(Vec a, Vec b) { return _mm256_max_ps(a, b); }
  // Lanes [0, n) of v, zeros above.
  // One tap of a full 4 x 3 tile over the 8 channels of an input block: per channel 3
  // broadcasts (ymm13-15), then each block's weight vector (ymm12) into its 3 pixels'
  // accumulators -- oneDNN's / MLAS's AVX2 schedule, 12 FMAs per 7 loads, the 12
  // accumulators held in ymm0-11 by the operands. x: pixel 0's input; step: floats between
  // pixels; w: block 0's weights; w_block: floats between blocks.
  static constexpr bool kAsmTap = true;
  static void tap(Vec (&a)[4][3], const float* x, int64_t step, const float* w,
                  int64_t w_block) {
    const int64_t st = step * 4, wb = w_block * 4;
    const float* w3 = w + 3 * w_block;
    asm(".irp i,0,1,2,3,4,5,6,7\n\t"
        "vbroadcastss 4*\\i(%[x]), %%ymm13\n\t"
        "vbroadcastss 4*\\i(%[x],%[st],1), %%ymm14\n\t"
        "vbroadcastss 4*\\i(%[x],%[st],2), %%ymm15\n\t"
        "vmovups 32*\\i(%[w]), %%ymm12\n\t"
        "vfmadd231ps %%ymm13, %%ymm12, %[a00]\n\t"
        "vfmadd231ps %%ymm14, %%ymm12, %[a01]\n\t"
        "vfmadd231ps %%ymm15, %%ymm12, %[a02]\n\t"
        "vmovups 32*\\i(%[w],%[wb],1), %%ymm12\n\t"
        "vfmadd231ps %%ymm13, %%ymm12, %[a10]\n\t"
        "vfmadd231ps %%ymm14, %%ymm12, %[a11]\n\t"
        "vfmadd231ps %%ymm15, %%ymm12, %[a12]\n\t"
        "vmovups 32*\\i(%[w],%[wb],2), %%ymm12\n\t"
        "vfmadd231ps %%ymm13, %%ymm12, %[a20]\n\t"
        "vfmadd231ps %%ymm14, %%ymm12, %[a21]\n\t"
        "vfmadd231ps %%ymm15, %%ymm12, %[a22]\n\t"
        "vmovups 32*\\i(%[w3]), %%ymm12\n\t"
        "vfmadd231ps %%ymm13, %%ymm12, %[a30]\n\t"
        "vfmadd231ps %%ymm14, %%ymm12, %[a31]\n\t"
        "vfmadd231ps %%ymm15, %%ymm12, %[a32]\n\t"
        ".endr"
        : [a00] "+x"(a[0][0]), [a01] "+x"(a[0][1]), [a02] "+x"(a[0][2]),
          [a10] "+x"(a[1][0]), [a11] "+x"(a[1][1]), [a12] "+x"(a[1][2]),
          [a20] "+x"(a[2][0]), [a21] "+x"(a[2][1]), [a22] "+x"(a[2][2]),
          [a30] "+x"(a[3][0]), [a31] "+x"(a[3][1]), [a32] "+x"(a[3][2])
        : [x] "r"(x), [st] "r"(st), [w] "r"(w), [wb] "r"(wb), [w3] "r"(w3)
        : "xmm12", "xmm13", "xmm14", "xmm15", "memory");
  }
  static Vec keep_lanes(Vec v, int64_t n) {
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                                         _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_and_ps(v, _mm256_castsi256_ps(m));
  }
};

}  // namespace

#include "conv2d_nchwc/conv2d_nchwc_tile.h"
#include "conv2d_nchwc/conv2d_nchwc_winograd.h"

void conv2d_nchwc_avx2(const Conv2dNchwcParams& p) { conv2d_nchwc_simd<Avx2>(p); }
void conv2d_nchwc_winograd_avx2(const Conv2dNchwcParams& p) {
  conv2d_nchwc_winograd_simd<Avx2>(p);
}

}  // namespace pybench::kernels::cpu

#include "isa/avx2_end.h"
