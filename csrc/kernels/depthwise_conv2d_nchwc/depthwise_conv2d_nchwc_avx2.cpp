// AVX2 + FMA blocked depthwise convolution: depthwise_conv2d_nchwc_simd.h on ymm, B = 8
// (one pixel's block is one register); other blocks run the ref kernel. The 8-pixel tile
// takes 8 accumulators + 1 weight of the 16 registers.
#include <algorithm>
#include <cstdint>

#include "depthwise_conv2d_nchwc/depthwise_conv2d_nchwc.h"

#include "isa/avx2_begin.h"

namespace pybench::kernels::cpu {

#include "depthwise_conv2d_nchwc/depthwise_conv2d_nchwc_simd.h"

void depthwise_conv2d_nchwc_avx2(const DepthwiseConv2dNchwcParams& p) {
  if (p.block == NchwcYmm::kLanes) return depthwise_conv2d_nchwc_simd<NchwcYmm>(p);
  depthwise_conv2d_nchwc_ref(p);
}

}  // namespace pybench::kernels::cpu

#include "isa/avx2_end.h"
