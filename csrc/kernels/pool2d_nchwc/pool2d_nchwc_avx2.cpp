// AVX2 blocked pooling: pool2d_nchwc_simd.h on ymm, B / 8 vectors per pixel (B = 8 or 16).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "pool2d_nchwc/pool2d_nchwc.h"

#include "isa/avx2_begin.h"

namespace pybench::kernels::cpu {

#include "depthwise_conv2d/depthwise_conv2d_vec.h"
#include "pool2d_nchwc/pool2d_nchwc_simd.h"

void pool2d_nchwc_avx2(const Pool2dNchwcParams& p) {
  if (p.block % Ymm::kLanes == 0) return pool2d_nchwc_simd<Ymm>(p);
  pool2d_nchwc_ref(p);
}

}  // namespace pybench::kernels::cpu

#include "isa/avx2_end.h"
