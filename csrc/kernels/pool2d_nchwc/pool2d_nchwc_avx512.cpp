// AVX-512 blocked pooling: pool2d_nchwc_simd.h on zmm for B = 16 and on ymm for B = 8 (a
// model converted for AVX2 still runs vectorised here).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "pool2d_nchwc/pool2d_nchwc.h"

#include "isa/avx512_begin.h"

#define PYBENCH_DW_AVX512 1

namespace pybench::kernels::cpu {

#include "depthwise_conv2d/depthwise_conv2d_vec.h"
#include "pool2d_nchwc/pool2d_nchwc_simd.h"

void pool2d_nchwc_avx512(const Pool2dNchwcParams& p) {
  if (p.block % Zmm::kLanes == 0) return pool2d_nchwc_simd<Zmm>(p);
  if (p.block % Ymm::kLanes == 0) return pool2d_nchwc_simd<Ymm>(p);
  pool2d_nchwc_ref(p);
}

}  // namespace pybench::kernels::cpu

#undef PYBENCH_DW_AVX512

#include "isa/avx512_end.h"
