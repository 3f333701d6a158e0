// The avx512 FMA throughput loop (see peak.h): 16 lanes x kPeakChains accumulators.
#include <cstdint>

#include "peak/peak.h"

#include "isa/avx512_begin.h"

namespace pybench::kernels::cpu {

float fma_loop_avx512(int64_t iterations) {
  __m512 acc[kPeakChains];
  for (int64_t j = 0; j < kPeakChains; ++j) acc[j] = _mm512_set1_ps(1.0f + 0.01f * static_cast<float>(j));
  const __m512 m = _mm512_set1_ps(0.9999999f), a = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int64_t j = 0; j < kPeakChains; ++j) acc[j] = _mm512_fmadd_ps(acc[j], m, a);
  }
  __m512 sum = acc[0];
  for (int64_t j = 1; j < kPeakChains; ++j) sum = _mm512_add_ps(sum, acc[j]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, sum);
  float total = 0.0f;
  for (float v : lanes) total += v;
  return total;
}

}  // namespace pybench::kernels::cpu

#include "isa/avx512_end.h"
