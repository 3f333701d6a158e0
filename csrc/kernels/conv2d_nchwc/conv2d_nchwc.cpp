#include "conv2d_nchwc/conv2d_nchwc.h"

#include "common/cpu_isa.h"

namespace pybench::kernels::cpu {

// The SIMD kernels hold one block in one vector: B = 16 on AVX-512 (zmm) and B = 8 on
// AVX2 (ymm) or AVX-512 (where the AVX2 kernel runs it). Any other pairing takes the
// reference kernel: correct, slow, and never what pybench.ops.nchwc.block_size() picks.
void conv2d_nchwc(const Conv2dNchwcParams& p) {
  switch (active_cpu_isa()) {
    case CpuIsa::avx512:
      if (p.block == 16) return conv2d_nchwc_avx512(p);
      if (p.block == 8) return conv2d_nchwc_avx2(p);
      break;
    case CpuIsa::avx2:
      if (p.block == 8) return conv2d_nchwc_avx2(p);
      break;
    case CpuIsa::scalar:
      break;
  }
  conv2d_nchwc_ref(p);
}

void conv2d_nchwc_winograd(const Conv2dNchwcParams& p) {
  switch (active_cpu_isa()) {
    case CpuIsa::avx512:
      if (p.block == 16) return conv2d_nchwc_winograd_avx512(p);
      if (p.block == 8) return conv2d_nchwc_winograd_avx2(p);
      break;
    case CpuIsa::avx2:
      if (p.block == 8) return conv2d_nchwc_winograd_avx2(p);
      break;
    case CpuIsa::scalar:
      break;
  }
  conv2d_nchwc_winograd_ref(p);
}

}  // namespace pybench::kernels::cpu
