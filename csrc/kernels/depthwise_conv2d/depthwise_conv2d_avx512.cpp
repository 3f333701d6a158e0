// AVX-512 depthwise convolution: depthwise_conv2d_direct.h with zmm vectors and 4-row
// fast-path blocks; rows of at most 8 columns run on ymm vectors (AVX-512VL masks).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "depthwise_conv2d/depthwise_conv2d.h"
#include "depthwise_conv2d_nchwc/depthwise_conv2d_nchwc.h"

#include "isa/avx512_begin.h"

#define PYBENCH_DW_AVX512 1

namespace pybench::kernels::cpu {

#include "depthwise_conv2d/depthwise_conv2d_vec.h"
#include "depthwise_conv2d/depthwise_conv2d_direct.h"
#include "common/transpose8_simd.h"
#include "depthwise_conv2d/depthwise_conv2d_via_nchwc.h"

void depthwise_conv2d_avx512(const DepthwiseConv2dParams& p) {
  if (depthwise_via_nchwc(p, Zmm::kLanes, 16)) {
    return depthwise_conv2d_via_nchwc<16>(p, depthwise_conv2d_nchwc_avx512);
  }
  depthwise_conv2d_direct<Zmm, Ymm>(p);
}

}  // namespace pybench::kernels::cpu

#undef PYBENCH_DW_AVX512

#include "isa/avx512_end.h"
