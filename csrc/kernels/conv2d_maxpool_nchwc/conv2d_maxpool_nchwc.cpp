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
  const bool overlap = window > p.pool_stride_h;
  const int64_t want = 2 * std::max<int64_t>(1, p.exec.max_threads);
  const int64_t units = (kb + kConvMaxpoolGroupBlocks - 1) / kConvMaxpoolGroupBlocks;
  const int64_t quarter_l2 = cpu::cpu_caches().l2 / 4;
  // The most pooled rows whose conv rows (groups' share of the blocks) fit the budget.
  const auto l2_band = [&](int64_t groups) {
    const int64_t row_bytes = 4 * ((kb + groups - 1) / groups) * c.out_w * B;
    const int64_t conv_rows = quarter_l2 / std::max<int64_t>(1, row_bytes);
    return std::clamp<int64_t>((conv_rows - window) / p.pool_stride_h + 1, 1, Hp);
  };
  Conv2dMaxpoolNchwcPlan d;
  d.groups = 1;
  if (p.block_groups > 0) {
    d.groups = std::min(p.block_groups, units);
  } else {
    const int64_t items = c.batch * ((Hp + l2_band(1) - 1) / l2_band(1));
    if (items < want && overlap) {
      d.groups = std::clamp<int64_t>((want + items - 1) / items, 1, units);
    }
  }
  if (p.band_rows > 0) {
    d.band = std::min(p.band_rows, Hp);
  } else {
    d.band = l2_band(d.groups);
    if (c.batch * d.groups * ((Hp + d.band - 1) / d.band) < want) {
      d.band = std::min(d.band, std::max<int64_t>(1, Hp * c.batch * d.groups / want));
    }
  }
  d.bands = (Hp + d.band - 1) / d.band;
  const std::vector<PoolWindow> rows = pool_windows(c.out_h, Hp, p.pool_kernel_h,
                                                    p.pool_stride_h, p.pool_pad_h,
                                                    p.pool_dilation_h);
  for (int64_t b = 0; b < d.bands; ++b) {
    int64_t c0, c1;
    band_conv_rows(rows, p.pool_dilation_h, b * d.band, std::min(Hp, (b + 1) * d.band), c0, c1);
    d.scratch_rows = std::max(d.scratch_rows, c1 - c0);
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
  run_parallel(p.exec, 0, c.batch * per_image, 1, [&](int64_t begin, int64_t end) {
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
