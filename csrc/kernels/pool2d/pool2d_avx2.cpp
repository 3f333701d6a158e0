// AVX2 NCHW pooling: pool2d_simd.h on ymm, 8 columns / outputs a vector.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "pool2d/pool2d.h"

#include "isa/avx2_begin.h"

namespace pybench::kernels::cpu {

#include "depthwise_conv2d/depthwise_conv2d_vec.h"
#include "pool2d/pool2d_simd.h"

void pool2d_avx2(const Pool2dParams& p) { pool2d_simd<Ymm>(p); }

}  // namespace pybench::kernels::cpu

#include "isa/avx2_end.h"
