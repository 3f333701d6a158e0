// AVX-512 blocked depthwise convolution: depthwise_conv2d_nchwc_simd.h on zmm for B = 16
// and on ymm (the AVX-512 region's 32 of them) for B = 8, so a model converted for AVX2
// still runs vectorised here; other blocks run the ref kernel.
#include <algorithm>
#include <cstdint>

#include "depthwise_conv2d_nchwc/depthwise_conv2d_nchwc.h"

#include "isa/avx512_begin.h"

#define PYBENCH_DW_NCHWC_AVX512 1

namespace pybench::kernels::cpu {

#include "depthwise_conv2d_nchwc/depthwise_conv2d_nchwc_simd.h"

void depthwise_conv2d_nchwc_avx512(const DepthwiseConv2dNchwcParams& p) {
  if (p.block == NchwcZmm::kLanes) return depthwise_conv2d_nchwc_simd<NchwcZmm>(p);
  if (p.block == NchwcYmm::kLanes) return depthwise_conv2d_nchwc_simd<NchwcYmm>(p);
  depthwise_conv2d_nchwc_ref(p);
}

}  // namespace pybench::kernels::cpu

#undef PYBENCH_DW_NCHWC_AVX512

#include "isa/avx512_end.h"
