#include "peak/peak.h"

#include <cmath>

#include "common/cpu_isa.h"

namespace pybench::kernels::cpu {

double fma_loop_flops(int64_t iterations) {
  int64_t lanes = 1;
  switch (active_cpu_isa()) {
    case CpuIsa::avx512: lanes = 16; break;
    case CpuIsa::avx2: lanes = 8; break;
    case CpuIsa::scalar: lanes = 1; break;
  }
  return 2.0 * static_cast<double>(kPeakChains * lanes) * static_cast<double>(iterations);
}

float fma_loop(int64_t iterations) {
  switch (active_cpu_isa()) {
    case CpuIsa::avx512: return fma_loop_avx512(iterations);
    case CpuIsa::avx2: return fma_loop_avx2(iterations);
    case CpuIsa::scalar: break;
  }
  return fma_loop_ref(iterations);
}

float fma_loop_ref(int64_t iterations) {
  float acc[kPeakChains];
  for (int64_t j = 0; j < kPeakChains; ++j) acc[j] = 1.0f + 0.01f * static_cast<float>(j);
  for (int64_t i = 0; i < iterations; ++i) {
    for (float& a : acc) a = std::fma(a, 0.9999999f, 1e-7f);
  }
  float sum = 0.0f;
  for (float a : acc) sum += a;
  return sum;
}

}  // namespace pybench::kernels::cpu
