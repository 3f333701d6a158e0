// The band driver of conv2d_maxpool_nchwc.h. No ISA code of its own: each band runs the
// ISA-dispatched direct convolution and blocked pooling, so every ISA (and the scalar
// reference) is covered by the kernels' own variants.
#include "conv2d_maxpool_nchwc/conv2d_maxpool_nchwc.h"

#include <algorithm>

#include "common/cpu_caches.h"
#include "pool2d_nchwc/pool2d_nchwc.h"

namespace pybench::kernels {
namespace {

// The conv rows [c0, c1) that pooled rows [py0, py1) read.
void band_conv_rows(const std::vector<PoolWindow>& rows, int64_t dilation, int64_t py0,
                    int64_t py1, int64_t& c0, int64_t& c1) {
  c0 = rows[py0].first;
  c1 = c0 + 1;
  for (int64_t py = py0; py < py1; ++py) {
    const PoolWindow& w = rows[py];
    c0 = std::min(c0, w.first);
    c1 = std::max(c1, w.first + (w.taps - 1) * dilation + 1);
  }
}

// Blocks [kb0, kb1) of group g of `groups`: whole register tiles, near-equal counts.
void group_blocks(int64_t kb, int64_t groups, int64_t g, int64_t& kb0, int64_t& kb1) {
  const int64_t units = (kb + kConvMaxpoolGroupBlocks - 1) / kConvMaxpoolGroupBlocks;
  kb0 = std::min(kb, g * units / groups * kConvMaxpoolGroupBlocks);
  kb1 = std::min(kb, (g + 1) * units / groups * kConvMaxpoolGroupBlocks);
}

}  // namespace

Conv2dMaxpoolNchwcPlan conv2d_maxpool_nchwc_plan(const Conv2dMaxpoolNchwcParams& p) {
  const Conv2dNchwcParams& c = p.conv;
  const int64_t kb = c.out_blocks(), B = c.block, Hp = p.out_h;
  const int64_t window = (p.pool_kernel_h - 1) * p.pool_dilation_h + 1;
  const int64_t threads = std::max<int64_t>(1, p.exec.max_threads);
  const int64_t units = (kb + kConvMaxpoolGroupBlocks - 1) / kConvMaxpoolGroupBlocks;
  const int64_t quarter_l2 = cpu::cpu_caches().l2 / 4;
  const std::vector<PoolWindow> rows = pool_windows(c.out_h, Hp, p.pool_kernel_h,
                                                    p.pool_stride_h, p.pool_pad_h,
                                                    p.pool_dilation_h);
  // The most pooled rows whose conv rows (a group's share of the blocks) fit the budget.
  const auto l2_band = [&](int64_t groups) {
    const int64_t row_bytes = 4 * ((kb + groups - 1) / groups) * c.out_w * B;
    const int64_t conv_rows = quarter_l2 / std::max<int64_t>(1, row_bytes);
    return std::clamp<int64_t>((conv_rows - window) / p.pool_stride_h + 1, 1, Hp);
  };
  // Cost of an item: multiply-adds of its conv rows (recomputed ones included), plus the
  // fixed cost of two kernel calls (about 3 us, ~1e5 multiply-adds at one core's rate).
  const int64_t block_row = B * c.out_w * c.channel_groups() * c.group_channels() *
                            c.kernel_h * c.kernel_w;
  constexpr int64_t kItemOverhead = 100000;
  const auto costs = [&](int64_t groups, int64_t band, int64_t& max_rows) {
    const int64_t bands = (Hp + band - 1) / band;
    std::vector<int64_t> band_rows(bands);
    max_rows = 0;
    for (int64_t b = 0; b < bands; ++b) {
      int64_t c0, c1;
      band_conv_rows(rows, p.pool_dilation_h, b * band, std::min(Hp, (b + 1) * band), c0, c1);
      band_rows[b] = c1 - c0;
      max_rows = std::max(max_rows, c1 - c0);
    }
    std::vector<int64_t> prefix(1, 0);
    prefix.reserve(c.batch * groups * bands + 1);
    for (int64_t n = 0; n < c.batch; ++n) {
      for (int64_t g = 0; g < groups; ++g) {
        int64_t kb0, kb1;
        group_blocks(kb, groups, g, kb0, kb1);
        for (int64_t b = 0; b < bands; ++b) {
          prefix.push_back(prefix.back() + (kb1 - kb0) * band_rows[b] * block_row +
                           kItemOverhead);
        }
      }
    }
    return prefix;
  };
  Conv2dMaxpoolNchwcPlan d;
  int64_t best = -1;
  const auto consider = [&](int64_t groups, int64_t band) {
    int64_t max_rows;
    std::vector<int64_t> prefix = costs(groups, band, max_rows);
    const int64_t span = balanced_makespan(prefix, threads);
    if (best >= 0 && span >= best) return;
    best = span;
    d.groups = groups;
    d.band = band;
    d.bands = (Hp + band - 1) / band;
    d.scratch_rows = max_rows;
    d.prefix = std::move(prefix);
  };
  if (p.block_groups > 0 || p.band_rows > 0) {  // forced (tests)
    const int64_t groups = p.block_groups > 0 ? std::min(p.block_groups, units) : 1;
    consider(groups, p.band_rows > 0 ? std::min(p.band_rows, Hp) : l2_band(groups));
  } else {
    // The L2's band over all blocks, kept where its items keep every thread busy to within
    // a few percent; else the (groups, band) whose costliest thread finishes first: fewer
    // items than threads, or few of unequal cost (a short last band, a group of fewer
    // blocks), left one of two threads idle for up to a third of the layer.
    consider(1, l2_band(1));
    if (static_cast<int64_t>(d.prefix.size()) - 1 < 16 * threads) {
      for (int64_t groups = 1; groups <= std::min<int64_t>(units, 8); ++groups) {
        const int64_t band_max = l2_band(groups);
        consider(groups, band_max);
        for (int64_t k = 1; k <= 4 * threads; ++k) {
          const int64_t band = (Hp + k - 1) / k;
          if (band < band_max) consider(groups, band);
        }
      }
    }
  }
  int64_t widest = 0;
  for (int64_t g = 0; g < d.groups; ++g) {
    int64_t kb0, kb1;
    group_blocks(kb, d.groups, g, kb0, kb1);
    widest = std::max(widest, kb1 - kb0);
  }
  d.scratch_floats = widest * d.scratch_rows * c.out_w * B;
  return d;
}

namespace cpu {

void conv2d_maxpool_nchwc(const Conv2dMaxpoolNchwcParams& p) {
  const Conv2dNchwcParams& c = p.conv;
  const Conv2dMaxpoolNchwcPlan d = conv2d_maxpool_nchwc_plan(p);
  const int64_t B = c.block, kb = c.out_blocks(), H = c.in_h, W = c.in_w;
  const int64_t Hp = p.out_h, Wp = p.out_w;
  const int64_t in_px = c.input_blocked ? B : 1;
  const int64_t in_plane = H * W * in_px, in_image = c.channel_groups() * in_plane;
  const int64_t w_block = c.channel_groups() * c.kernel_h * c.kernel_w * c.group_channels() * B;
  const int64_t reach = (c.kernel_h - 1) * c.dilation_h;
  const std::vector<PoolWindow> rows = pool_windows(c.out_h, Hp, p.pool_kernel_h,
                                                    p.pool_stride_h, p.pool_pad_h,
                                                    p.pool_dilation_h);
  const std::vector<PoolWindow> cols = pool_windows(c.out_w, Wp, p.pool_kernel_w,
                                                    p.pool_stride_w, p.pool_pad_w,
                                                    p.pool_dilation_w);
  const int64_t per_image = d.items();
  run_parallel_balanced(p.exec, d.prefix, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(static_cast<size_t>(d.scratch_floats));
    std::vector<PoolWindow> band_rows(static_cast<size_t>(d.band));
    for (int64_t item = begin; item < end; ++item) {
      // (image, group, band): a thread's consecutive items share the group's weights.
      const int64_t n = item / per_image, g = item % per_image / d.bands;
      const int64_t py0 = item % d.bands * d.band, py1 = std::min(Hp, py0 + d.band);
      int64_t kb0, kb1, c0, c1;
      group_blocks(kb, d.groups, g, kb0, kb1);
      band_conv_rows(rows, p.pool_dilation_h, py0, py1, c0, c1);
      // The input rows conv rows [c0, c1) read, clipped to the image; the band's top
      // padding is what of it lies above row 0 (negative when the band starts past the
      // bottom: every tap is then clipped, as it would be in the whole image).
      const int64_t start = c0 * c.stride_h - c.pad_h;
      const int64_t e0 = std::clamp<int64_t>(start, 0, H);
      const int64_t e1 = std::clamp<int64_t>((c1 - 1) * c.stride_h - c.pad_h + reach + 1, e0, H);
      Conv2dNchwcParams q = c;
      q.batch = 1;
      q.in_h = e1 - e0;
      q.pad_h = e0 - start;
      q.out_h = c1 - c0;
      q.in_plane_stride = in_plane;
      q.input = c.input + n * in_image + e0 * W * in_px;
      q.weight = c.weight + kb0 * w_block;
      q.bias = c.bias ? c.bias + kb0 * B : nullptr;
      q.out_channels = std::min(c.out_channels - kb0 * B, (kb1 - kb0) * B);
      q.residual = nullptr;
      q.output = scratch.data();
      q.output_blocks = kb1 - kb0;
      q.exec = {};
      conv2d_nchwc(q);

      for (int64_t py = py0; py < py1; ++py) {
        band_rows[py - py0] = rows[py];
        band_rows[py - py0].first -= c0;
      }
      Pool2dNchwcParams pp;
      pp.input = scratch.data();
      pp.output = p.output + ((n * kb + kb0) * Hp + py0) * Wp * B;
      pp.batch = 1;
      pp.blocks = kb1 - kb0;
      pp.block = B;
      pp.in_h = c1 - c0;
      pp.in_w = c.out_w;
      pp.out_h = py1 - py0;
      pp.out_w = Wp;
      pp.dilation_h = p.pool_dilation_h;
      pp.dilation_w = p.pool_dilation_w;
      pp.mode = PoolMode::max;
      pp.rows = band_rows.data();
      pp.cols = cols.data();
      pp.out_plane_stride = Hp * Wp * B;
      pp.exec = {};
      pool2d_nchwc(pp);
    }
  });
}

}  // namespace cpu
}  // namespace pybench::kernels
