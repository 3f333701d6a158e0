// AVX2 + FMA Gram backward: gram_backward_simd.h on the Ymm traits' 4 x 3 register tile (12
// ymm accumulators, 3 vectors of F's row, 1 broadcast: all 16 ymm registers).
#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "common/cpu_caches.h"
#include "gram/gram.h"

#include "isa/avx2_begin.h"

namespace pybench::kernels::cpu {

#include "depthwise_conv2d/depthwise_conv2d_vec.h"

#include "gram/gram_backward_simd.h"

void gram_backward_avx2(const GramBackwardParams& p) { gram_backward_simd<Ymm>(p); }

}  // namespace pybench::kernels::cpu

#include "isa/avx2_end.h"
