// AVX2 + FMA Gram forward: gram_simd.h on the Ymm traits with gram_tile(avx2)'s 3 x 4 register
// tile (12 ymm accumulators, 3 loads, 1 broadcast: all 16 ymm registers).
#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include "common/cpu_caches.h"
#include "gram/gram.h"
#include "gram/gram_blocking.h"

#include "isa/avx2_begin.h"

namespace pybench::kernels::cpu {

#include "depthwise_conv2d/depthwise_conv2d_vec.h"

#include "common/transpose8_simd.h"
#include "gram/gram_simd.h"

void gram_avx2(const GramParams& p) {
  constexpr GramTile t = gram_tile(CpuIsa::avx2);
  gram_simd<Ymm, t.vecs, t.cols>(p, CpuIsa::avx2);
}

}  // namespace pybench::kernels::cpu

#include "isa/avx2_end.h"
