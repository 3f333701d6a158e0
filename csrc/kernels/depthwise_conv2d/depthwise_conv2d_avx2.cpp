// AVX2 + FMA depthwise convolution: depthwise_conv2d_direct.h with ymm vectors, 2-row
// fast-path blocks (9 weights + 2 accumulators + 3 loads fit the 16 registers).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "depthwise_conv2d/depthwise_conv2d.h"
#include "depthwise_conv2d_nchwc/depthwise_conv2d_nchwc.h"

#include "isa/avx2_begin.h"

namespace pybench::kernels::cpu {

#include "depthwise_conv2d/depthwise_conv2d_vec.h"
#include "depthwise_conv2d/depthwise_conv2d_direct.h"
#include "common/transpose8_simd.h"
#include "depthwise_conv2d/depthwise_conv2d_via_nchwc.h"

void depthwise_conv2d_avx2(const DepthwiseConv2dParams& p) {
  if (depthwise_via_nchwc(p, Ymm::kLanes, 8)) {
    return depthwise_conv2d_via_nchwc<8>(p, depthwise_conv2d_nchwc_avx2);
  }
  depthwise_conv2d_direct<Ymm, Ymm>(p);
}

}  // namespace pybench::kernels::cpu

#include "isa/avx2_end.h"
