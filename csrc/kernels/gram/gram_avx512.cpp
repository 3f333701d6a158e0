// AVX-512 Gram forward: gram_simd.h on the Zmm traits with gram_tile(avx512)'s 2 x 8 register
// tile (16 zmm accumulators, 2 loads, 1 broadcast).
#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include "common/cpu_caches.h"
#include "gram/gram.h"
#include "gram/gram_blocking.h"

#include "isa/avx512_begin.h"

namespace pybench::kernels::cpu {

#define PYBENCH_DW_AVX512 1
#include "depthwise_conv2d/depthwise_conv2d_vec.h"

#include "common/transpose8_simd.h"
#include "gram/gram_simd.h"

void gram_avx512(const GramParams& p) {
  constexpr GramTile t = gram_tile(CpuIsa::avx512);
  gram_simd<Zmm, t.vecs, t.cols>(p, CpuIsa::avx512);
}

}  // namespace pybench::kernels::cpu

#include "isa/avx512_end.h"
