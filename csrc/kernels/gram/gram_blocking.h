#pragma once
// Register tile and cache blocking of the SIMD Gram kernels (gram_simd.h), torch-free and
// ISA-free so the adapter, the tests and the suite's efficiency column can read them.
//
// Formulation: G = F F^T is a GEMM whose two operands are the same matrix, computed as BLIS
// computes SSYRK. F (C x L, rows contiguous along L) is packed per panel of kc columns into
// blocks of `lanes` rows stored k-major, [block][k][lane]; the micro-kernel is an outer
// product over k: `vecs` vectors of a block's column k (rows i of G, in lanes) times `cols`
// broadcasts of the same panel's column k for the rows j of G, one accumulator per (vector,
// column) pair. Accumulators hold a column j of G over rows i, which -- G being symmetric --
// is row j's contiguous run G[j][i0 .. i0 + vecs * lanes): stored without a transpose or a
// horizontal reduction. The row dot-product kernel this replaced reduced 16 accumulators
// per tile per chunk and reloaded 4 rows of F from L2 per 16 FMAs; it ran at ~48% of the FMA
// peak where MKL's SGEMM runs at ~74%.
//
// Only the lower triangle is computed: the column group j0 .. j0 + cols - 1 needs rows
// i <= j, i.e. whole vectors up to gram_group_rows(); a mirror pass then copies it to the
// upper triangle (so G is exactly symmetric) and applies the scale. The rows a group's
// last vector holds past its diagonal are wasted work: gram_executed_flops() counts them.
//
// Blocking (from the CPU's caches, read at run time):
//   kc     the panel length: the micro-kernel's broadcast operand (kc rows of one packed
//          block, `lanes` floats each: the cache lines its broadcasts touch) fits half the
//          L1d, and the whole packed panel (C rows x kc) half the L2, where it stays while
//          every column group sweeps it. Capped at 512 (the per-call loop is long enough to
//          hide the tile's load and store of G) and floored at 64.
//   split  when one thread per image would leave threads idle (fewer images than threads,
//          or an uneven share), long images are split along L, as long as every split
//          spans two panels: each thread packs its own panels into its L2 and sums into
//          its own G (C^2 adds per split at the end, against C^2 L / splits FMAs). Shorter
//          ones (C = 512, L = 196: a scratch G per split would cost as much memory traffic
//          as the product) have their column groups split instead, balanced by the rows
//          each computes, over panels the threads pack together: a pass packs
//          `super_bytes` of F (a quarter of the L3, at least the L2, at most 8 MiB), then
//          every thread sweeps its groups over those panels.
// Each panel's products start from zero and are then added into G, so a dot product is
// summed in runs of kc terms: float32 rounding like a blocked GEMM's (well within the
// tests' 1e-5 relative error).
#include <algorithm>
#include <cstdint>

#include "common/cpu_caches.h"
#include "common/cpu_isa.h"
#include "common/index_math.h"
#include "gram/gram.h"

namespace pybench::kernels::cpu {

struct GramTile {
  int64_t lanes;  // rows of G per vector
  int64_t vecs;   // vectors of rows per tile, at most
  int64_t cols;   // columns of G per tile (divides lanes: a group's broadcasts stay in one block)
};

// AVX-512: 2 x 8 zmm accumulators, 2 loads + 8 broadcasts per 16 FMAs (a 3-vector tile,
//   24 accumulators, measured no faster and wastes more at the diagonal).
// AVX2: 3 x 4 ymm accumulators + 3 loads + 1 broadcast: all 16 ymm registers; 12 FMAs cover
//   the FMA latency of two pipes (Haswell to Zen 4: 4-5 cycles x 2).
constexpr GramTile gram_tile(CpuIsa isa) {
  return isa == CpuIsa::avx512 ? GramTile{16, 2, 8} : GramTile{8, 3, 4};
}

struct GramBlocking {
  int64_t kc_max = 0;       // panel length at most, from the L1d
  int64_t panel_bytes = 0;  // packed panel (all rows x kc) at most, from the L2
  int64_t super_bytes = 0;  // packed F per pass when threads split an image
};

inline GramBlocking gram_blocking(const CpuCaches& c, CpuIsa isa) {
  constexpr int64_t MiB = 1024 * 1024;
  const GramTile t = gram_tile(isa);
  GramBlocking b;
  b.kc_max = std::clamp<int64_t>(c.l1d / 2 / (t.lanes * 4) / 16 * 16, 64, 512);
  b.panel_bytes = c.l2 / 2;
  b.super_bytes = std::clamp<int64_t>(c.l3 / 4, c.l2, std::max<int64_t>(c.l2, 8 * MiB));
  return b;
}

inline int64_t gram_padded_channels(const GramTile& t, int64_t channels) {
  return ceil_div(channels, t.lanes) * t.lanes;
}

// kc for `channels` rows: a multiple of 16 (whole 8 x 8 transposes when packing).
inline int64_t gram_panel_length(const GramBlocking& b, const GramTile& t, int64_t channels) {
  const int64_t by_l2 = b.panel_bytes / (4 * std::max<int64_t>(1, gram_padded_channels(t, channels)));
  return std::clamp<int64_t>(std::min(b.kc_max, by_l2) / 16 * 16, 64, 512);
}

// Rows [0, gram_group_rows) of G the column group `group` computes: whole vectors up to
// its last column's diagonal.
inline int64_t gram_group_rows(const GramTile& t, int64_t channels, int64_t group) {
  return ceil_div(std::min(channels, (group + 1) * t.cols), t.lanes) * t.lanes;
}

// FLOPs the variant for `isa` executes (the "% HW" column of the Gram suites): every tile's
// full vectors and columns, padding included; the scalar reference computes the triangle.
inline double gram_executed_flops(CpuIsa isa, int64_t batch, int64_t channels, int64_t length) {
  if (isa == CpuIsa::scalar) return gram_flops(batch, channels, length);
  const GramTile t = gram_tile(isa);
  double rows = 0;
  for (int64_t g = 0; g < ceil_div(channels, t.cols); ++g) {
    rows += static_cast<double>(gram_group_rows(t, channels, g));
  }
  return 2.0 * static_cast<double>(batch) * static_cast<double>(length) *
         static_cast<double>(t.cols) * rows;
}

}  // namespace pybench::kernels::cpu
