// AVX-512 NCHW pooling: pool2d_simd.h on zmm, 16 columns / outputs a vector.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "pool2d/pool2d.h"

#include "isa/avx512_begin.h"

#define PYBENCH_DW_AVX512 1

namespace pybench::kernels::cpu {

#include "depthwise_conv2d/depthwise_conv2d_vec.h"
#include "pool2d/pool2d_simd.h"

void pool2d_avx512(const Pool2dParams& p) { pool2d_simd<Zmm>(p); }

}  // namespace pybench::kernels::cpu

#undef PYBENCH_DW_AVX512

#include "isa/avx512_end.h"
