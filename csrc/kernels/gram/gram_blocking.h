#pragma once
// Cache blocking and threading of the SIMD Gram kernels, shared by the AVX2 and AVX-512
// variants, which differ only in their 4 x 4 micro-kernels.
//
// Formulation: G[i][j] = dot(F[i], F[j]). Rows of F are contiguous along L, so a
// micro-kernel takes 4 rows (i0..i0+3) and 4 rows (j0..j0+3), streams them along L with
// vector loads and keeps one vector accumulator per (i, j) pair; a horizontal reduction
// at the end of each L chunk adds the 16 sums into G. No packing is needed, and the 4 x 4
// output granularity keeps the work close to the exact triangle even for small C (53%
// of a GEMM's FLOPs at C = 64, 50.4% at C = 512).
//
// Blocking, from the outside in:
//   work item  = (map b, L split s). When there are fewer maps than threads, L is split
//                so every thread streams its own part of F exactly once; splits other
//                than the first accumulate into scratch Gram matrices that a final pass
//                adds up. (Splitting rows instead would make every thread read all of F.)
//   L chunk    = at most GramBlocking::chunk columns (1024 floats where the L1d holds a
//                tile's 8 rows of it). Its horizontal reductions cost ~50 instructions
//                per tile, about 8% of the tile's 512 FMAs at a 512 chunk.
//   j panel    = GramBlocking::panel_rows rows of the chunk (64 x 1024 floats = 256 KiB
//                where the L2 holds 4 of them), which stay in L2 while every 4-row block
//                i <= panel sweeps them; the block's own 4 rows stay in L1 during the
//                sweep.
//   micro-tile = 4 x 4 dot products over the chunk; the diagonal tile computes only its
//                10 upper entries.
// The chunk and the panel are derived from the CPU's caches (gram_blocking() below) once
// per call.
// A final pass over 32 x 32 blocks of G sums the splits, scales, and mirrors the upper
// triangle into the lower one, so G is exactly symmetric.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

#include "common/cpu_caches.h"
#include "gram/gram.h"

namespace pybench::kernels::cpu {

struct GramBlocking {
  int64_t chunk = 0;       // L columns per chunk, a multiple of 16
  int64_t panel_rows = 0;  // j rows per panel, a multiple of 4
};

// chunk: a 4 x 4 tile reads 4 i-rows and 4 j-rows of the chunk, 8 x chunk floats; sized
//   so they fill at most the L1d (the i-rows stay there for the whole sweep of the panel,
//   the j-rows pass through), capped at 1024 floats: a longer chunk saves little more of
//   the reductions, and 1024 is what the kernel was tuned with. Sapphire Rapids (48 KiB
//   L1d), Zen 4 and Zen 1 (32 KiB) all get 1024, as before the sizes were read at run
//   time; a 16 KiB L1d gets 512. The chunk is where a dot product's partial sums are
//   reduced and added into G, so it moves float32 rounding (within the tests' 1e-5).
// panel: the panel's rows of the chunk in a quarter of the L2 (the rest holds G's rows
//   being updated and the next chunk arriving), at most 256 KiB -- 64 rows of a 1024
//   chunk, the tuned size: Sapphire Rapids (2 MiB, where a quarter would be 512 KiB,
//   never measured) and Zen 4 (1 MiB) get 64 rows as before; Zen 1 (512 KiB) 32. The
//   panel only orders the tiles; every entry's sum is the same.
inline GramBlocking gram_blocking(const CpuCaches& c) {
  GramBlocking b;
  b.chunk = std::clamp<int64_t>(c.l1d / (8 * 4) / 16 * 16, 256, 1024);
  const int64_t panel_bytes = std::clamp<int64_t>(c.l2 / 4, 64 * 1024, 256 * 1024);
  b.panel_rows = std::max<int64_t>(panel_bytes / (b.chunk * 4) / 4 * 4, 16);
  return b;
}

}  // namespace pybench::kernels::cpu

namespace pybench::kernels::cpu::gram_detail {

constexpr int64_t kTile = 4;
constexpr int64_t kMirror = 32;
// L per split below which splitting is not worth its scratch matrix and final sum.
constexpr int64_t kMinSplitLength = 256;

inline int64_t l_splits(const GramParams& p) {
  if (p.batch >= p.exec.max_threads) return 1;
  const int64_t want = ceil_div(p.exec.max_threads, p.batch);
  return std::clamp<int64_t>(p.length / kMinSplitLength, 1, want);
}

// Kernel provides, both adding into g (row stride ldg) the dot products over `len`
// columns of the given row pointers (already offset to the chunk start):
//   static void tile(const float* a[4], const float* b[4], int64_t len,
//                    float* g, int64_t ldg, int64_t rows, int64_t cols);
//   static void diag_tile(const float* a[4], int64_t len, float* g, int64_t ldg,
//                         int64_t rows);  // entries c >= r only
// rows / cols < 4 at the edge of G: the pointers of missing rows repeat a valid row (so
// loads stay in bounds) and the kernel stores only the first rows x cols entries.
template <class Kernel>
void upper_triangle(const GramBlocking& blocking, const float* f, int64_t row_stride, int64_t C,
                    int64_t l_begin, int64_t l_end, float* g) {
  auto row = [&](int64_t r) { return f + std::min(r, C - 1) * row_stride; };
  const int64_t max_chunk = blocking.chunk, panel = blocking.panel_rows;
  // Equal chunks of at most max_chunk (rounded up to 16 floats), so no chunk is a short
  // remainder whose reductions would cost as much as its FMAs.
  const int64_t chunks = (l_end - l_begin + max_chunk - 1) / max_chunk;
  const int64_t chunk = chunks ? ((l_end - l_begin + chunks - 1) / chunks + 15) / 16 * 16 : 0;
  for (int64_t l0 = l_begin; l0 < l_end; l0 += chunk) {
    const int64_t len = std::min(chunk, l_end - l0);
    for (int64_t p0 = 0; p0 < C; p0 += panel) {
      const int64_t p1 = std::min(C, p0 + panel);
      for (int64_t i0 = 0; i0 < p1; i0 += kTile) {
        const float* a[kTile];
        for (int64_t r = 0; r < kTile; ++r) a[r] = row(i0 + r) + l0;
        const int64_t rows = std::min(kTile, C - i0);
        int64_t j0 = std::max(i0, p0);
        if (j0 == i0) {
          Kernel::diag_tile(a, len, g + i0 * C + i0, C, rows);
          j0 += kTile;
        }
        for (; j0 < p1; j0 += kTile) {
          const float* b[kTile];
          for (int64_t c = 0; c < kTile; ++c) b[c] = row(j0 + c) + l0;
          Kernel::tile(a, b, len, g + i0 * C + j0, C, rows, std::min(kTile, C - j0));
        }
      }
    }
  }
}

template <class Kernel>
void gram_blocked(const GramParams& p) {
  const int64_t C = p.channels, L = p.length, CC = C * C;
  const GramBlocking blocking = gram_blocking(cpu_caches());
  const int64_t splits = l_splits(p);
  // Split boundaries on 16-float multiples so every split but the last has full vectors.
  const int64_t per_split = (L / splits + 15) / 16 * 16;
  // Left uninitialised: each work item zeroes its own matrix, in parallel.
  const std::unique_ptr<float[]> scratch(new float[p.batch * (splits - 1) * CC]);
  auto target = [&](int64_t b, int64_t s) {
    return s == 0 ? p.gram + b * CC : scratch.get() + (b * (splits - 1) + s - 1) * CC;
  };

  run_parallel(p.exec, 0, p.batch * splits, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / splits, s = item % splits;
      float* g = target(b, s);
      std::memset(g, 0, sizeof(float) * CC);
      const int64_t l_begin = std::min(L, s * per_split);
      const int64_t l_end = s + 1 == splits ? L : std::min(L, l_begin + per_split);
      upper_triangle<Kernel>(blocking, p.features + b * p.batch_stride, p.row_stride, C,
                             l_begin, l_end, g);
    }
  });

  // Sum, scale and mirror in kMirror x kMirror blocks: writing the lower triangle a
  // column at a time would touch a new cache line per entry (131 K of them at C = 512,
  // as long as the whole computation when L is short).
  const int64_t mblocks = ceil_div(C, kMirror);
  run_parallel(p.exec, 0, p.batch * mblocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / mblocks, i0 = item % mblocks * kMirror;
      const int64_t i1 = std::min(C, i0 + kMirror);
      float* g = p.gram + b * CC;
      for (int64_t j0 = i0; j0 < C; j0 += kMirror) {
        const int64_t j1 = std::min(C, j0 + kMirror);
        for (int64_t i = i0; i < i1; ++i) {
          float* gi = g + i * C;
          const int64_t jb = std::max(i, j0);
          for (int64_t s = 1; s < splits; ++s) {
            const float* part = target(b, s) + i * C;
            for (int64_t j = jb; j < j1; ++j) gi[j] += part[j];
          }
          for (int64_t j = jb; j < j1; ++j) gi[j] *= p.scale;
        }
        for (int64_t j = j0; j < j1; ++j) {
          for (int64_t i = i0; i < std::min(i1, j + 1); ++i) g[j * C + i] = g[i * C + j];
        }
      }
    }
  });
}

}  // namespace pybench::kernels::cpu::gram_detail
