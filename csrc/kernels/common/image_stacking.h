#pragma once
// Stacking small images in one work item: the two rules the direct conv kernel
// (conv2d_direct.h, plan_stacking) and the fused separable kernel
// (separable_conv2d_fused.h, separable_stacked_images) share. Both sweep an item's
// positions with register tiles of `rows` output channels x up to `vecs` vectors of
// `lanes`; a small image leaves the last tile short, and several images stacked in one
// item's buffer fill it (see those files for how each lays its images out).
#include <algorithm>
#include <cstdint>

#include "common/index_math.h"

namespace pybench::kernels {

// FMA issue slots per (channel, tap) of the tiles that sweep `positions`: a tile of v
// vectors costs rows * v FMAs, but no less than the FMA latency times the pipes (4 x 2 =
// 8 on Zen and Intel cores alike) -- a tile with fewer accumulators waits on its own
// chains.
inline int64_t tile_sweep_slots(int64_t positions, int64_t lanes, int64_t rows, int64_t vecs) {
  constexpr int64_t kMinSlots = 8;
  const int64_t v = ceil_div(positions, lanes);
  const int64_t rest = v % vecs;
  return v / vecs * rows * vecs + (rest > 0 ? std::max<int64_t>(rows * rest, kMinSlots) : 0);
}

// Stacking pays where it saves at least 10% of the tiles' slots per image: 3x3 pad 1 on
// 7x7 computes 8 x 8 positions per image stacked or alone, and would pay the staging copy
// for nothing.
inline bool stacking_saves(int64_t slots_alone, int64_t slots_stacked, int64_t images) {
  return static_cast<double>(slots_stacked) / static_cast<double>(images) <=
         0.9 * static_cast<double>(slots_alone);
}

// Images per stacked block of `batch`, at most `fit` (what the item's buffer holds) and
// at most a thread's share -- a block per thread at least: threads splitting one block's
// output channels would each build all its planes or depthwise output. As many images as
// fit, in blocks that differ by at most one image, as many blocks as the threads share
// evenly (3 blocks on 2 threads would cost 2 block-times). 1: no stacking.
inline int64_t images_per_block(int64_t batch, int64_t fit, int64_t threads) {
  threads = std::max<int64_t>(threads, 1);
  const int64_t most = std::min({batch, ceil_div(batch, threads), fit});
  if (most < 2) return 1;
  return ceil_div(batch, ceil_div(ceil_div(batch, most), threads) * threads);
}

}  // namespace pybench::kernels
