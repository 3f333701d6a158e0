// AVX-512 blocked pooling: pool2d_nchwc_simd.h on zmm for B = 16 and on ymm for B = 8 (a
// model converted for AVX2 still runs vectorised here).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "pool2d_nchwc/pool2d_nchwc.h"

#include "isa/avx512_begin.h"

#define PYBENCH_POOL_NCHWC_AVX512 1

namespace pybench::kernels::cpu {

#include "pool2d_nchwc/pool2d_nchwc_simd.h"

void pool2d_nchwc_avx512(const Pool2dNchwcParams& p) {
  if (p.block % PoolZmm::kLanes == 0) return pool2d_nchwc_simd<PoolZmm>(p);
  if (p.block % PoolYmm::kLanes == 0) return pool2d_nchwc_simd<PoolYmm>(p);
  pool2d_nchwc_ref(p);
}

}  // namespace pybench::kernels::cpu

#undef PYBENCH_POOL_NCHWC_AVX512

#include "isa/avx512_end.h"
