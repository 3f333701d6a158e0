// AVX-512 fused separable convolution: separable_conv2d_fused.h with zmm vectors
// (depthwise 4-row blocks, ymm rows for widths <= 8; pointwise 6 x 4 register tiles).
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

#include "isa/avx512_begin.h"

#define PYBENCH_DW_AVX512 1

namespace pybench::kernels::cpu {

#include "depthwise_conv2d/depthwise_conv2d_vec.h"
#include "depthwise_conv2d/depthwise_conv2d_direct.h"
#include "common/transpose8_simd.h"
#include "depthwise_conv2d/depthwise_conv2d_via_nchwc.h"
#include "separable_conv2d/separable_conv2d_fused.h"

void separable_conv2d_avx512(const SeparableConv2dParams& p) {
  separable_conv2d_fused<Zmm, Ymm>(p, depthwise_conv2d_nchwc_avx512);
}

}  // namespace pybench::kernels::cpu

#undef PYBENCH_DW_AVX512

#include "isa/avx512_end.h"
