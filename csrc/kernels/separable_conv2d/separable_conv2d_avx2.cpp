// AVX2 + FMA fused separable convolution: separable_conv2d_fused.h with ymm vectors
// (depthwise 2-row blocks, pointwise 4 x 3 register tiles).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "common/image_stacking.h"
#include "depthwise_conv2d_nchwc/depthwise_conv2d_nchwc.h"
#include "separable_conv2d/separable_conv2d.h"

#include "isa/avx2_begin.h"

namespace pybench::kernels::cpu {

#include "depthwise_conv2d/depthwise_conv2d_vec.h"
#include "depthwise_conv2d/depthwise_conv2d_direct.h"
#include "common/transpose8_simd.h"
#include "depthwise_conv2d/depthwise_conv2d_via_nchwc.h"
#include "separable_conv2d/separable_conv2d_fused.h"

void separable_conv2d_avx2(const SeparableConv2dParams& p) {
  separable_conv2d_fused<Ymm, Ymm>(p, depthwise_conv2d_nchwc_avx2);
}

}  // namespace pybench::kernels::cpu

#include "isa/avx2_end.h"
