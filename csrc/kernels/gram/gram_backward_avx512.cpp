// AVX-512 Gram backward: gram_backward_simd.h on the Zmm traits' 6 x 4 register tile (24 zmm
// accumulators, 4 vectors of F's row, 1 broadcast: 29 of the 32 zmm registers).
#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "common/cpu_caches.h"
#include "gram/gram.h"

#include "isa/avx512_begin.h"

namespace pybench::kernels::cpu {

#define PYBENCH_DW_AVX512 1
#include "depthwise_conv2d/depthwise_conv2d_vec.h"

#include "gram/gram_backward_simd.h"

void gram_backward_avx512(const GramBackwardParams& p) { gram_backward_simd<Zmm>(p); }

}  // namespace pybench::kernels::cpu

#include "isa/avx512_end.h"
