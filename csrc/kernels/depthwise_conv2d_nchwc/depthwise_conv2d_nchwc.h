#pragma once
// Depthwise 2-D convolution on the blocked activation layout (NCHWc, pybench/ops/nchwc.py),
// multiplier 1, with a fused epilogue; the torch-free kernel core:
//   acc = bias[c] + sum_{r, s} weight[c][r][s] * input(n, c, y*sh - pt + r*dh, x*sw - pl + s*dw)
//   acc += residual(n, c, y, x)          (optional)
//   out(n, c, y, x) = act(acc)           (Activation, common/activation.h)
// with input outside the image reading as zero: F.conv2d(groups=C), + residual, then act.
//
// Layout (B = block, 8 or 16 at the op; the ref kernel takes any B >= 1; Cb = ceil(C / B)):
//   input    (batch, Cb, in_h, in_w, B), contiguous: channel c at [n, c / B, y, x, c % B]
//   weight   (Cb, kernel_h, kernel_w, B): pack_depthwise_nchwc, zeros in padded channels
//   bias     (Cb * B) or nullptr
//   residual (batch, Cb, out_h, out_w, B) or nullptr
//   output   (batch, Cb, out_h, out_w, B)
// Channels C .. Cb*B-1 are padding: the kernels write exact zeros there whatever the
// operands hold (sigmoid(0) would be 0.5), by masking the last block's lanes >= C.
//
// SIMD design (depthwise_conv2d_nchwc_simd.h; MLAS's and oneDNN's NCHWc depthwise): one
// vector is one pixel's B channels, so a tap is one FMA of a weight vector and an input
// vector -- no broadcasts, no shuffles, and stride / dilation are only address offsets.
// The SIMD variants run when B is the ISA's vector width (AVX2: B = 8, one ymm; AVX-512:
// B = 16 on zmm and B = 8 on ymm) and fall back to the ref kernel otherwise.
// Register tile: kTileW output pixels of one row (8; then 4, then 1 for the row's rest),
// one accumulator each; per tap one weight load and kTileW FMAs whose input operand is a
// load -- 9 loads per 8 FMAs, within the two L1 loads and two FMAs a core issues per cycle,
// and 8 independent FMA chains cover the FMA latency (4 cycles x 2 ports). Kernel rows
// outside the image are skipped by narrowing the row range (no per-tap check); columns
// are split into a left border, an interior whose every tap is inside the image (the
// fast tile above), and a right border, whose pixels take a checked one-pixel path.
//
// Threads: work items are (n, channel block, chunk of output rows), in that order, so a
// thread's contiguous range of items stays in one channel plane; planes are split into
// row chunks only when there are too few planes to give every thread several items. With
// fewer images than threads the SIMD kernels split each image into one band of rows per
// thread instead, every channel block of a band on the same thread (see
// depthwise_conv2d_nchwc_simd.h).
#include <cstdint>

#include "common/activation.h"
#include "common/conv_params.h"
#include "common/index_math.h"
#include "common/parallel.h"

namespace pybench::kernels {

// Pointers and geometry come from ConvParamsBase (in_h / in_w / out_h / out_w are the
// spatial sizes of the blocked tensors; pad_h / pad_w top / left); `input`, `weight`,
// `bias`, `output` are in the blocked layouts above.
struct DepthwiseConv2dNchwcParams : ConvParamsBase {
  int64_t channels = 0;  // C, the real channels; lanes >= C of the last block are padding
  int64_t block = 8;     // B
  const float* residual = nullptr;  // optional, the output's shape
  Activation activation = Activation::none;
  // Floats between consecutive output (and residual) channel planes; 0: out_h * out_w * B,
  // dense. A band of rows of a larger output is written in place this way
  // (conv1x1_depthwise_nchwc).
  int64_t out_plane_stride = 0;
  CpuExecution exec;

  int64_t channel_blocks() const { return ceil_div(channels, block); }
  int64_t out_plane() const { return out_plane_stride > 0 ? out_plane_stride : out_h * out_w * block; }
};

// Multiply-adds times two over every real output channel, padding taps included (as
// depthwise_conv2d_flops counts them).
inline double depthwise_conv2d_nchwc_flops(const DepthwiseConv2dNchwcParams& p) {
  return 2.0 * static_cast<double>(p.batch) * static_cast<double>(p.channels) *
         static_cast<double>(p.out_h) * static_cast<double>(p.out_w) *
         static_cast<double>(p.kernel_h) * static_cast<double>(p.kernel_w);
}

// Output rows per work item: whole planes when there are at least 4 planes per thread,
// otherwise chunks so that every thread gets about 4 items. Only the split changes with
// the thread count, never the order of a sum: results are bitwise the same on any count.
inline int64_t depthwise_nchwc_rows_per_item(const DepthwiseConv2dNchwcParams& p) {
  const int64_t planes = p.batch * p.channel_blocks();
  const int64_t want = 4 * (p.exec.max_threads > 0 ? p.exec.max_threads : 1);
  if (planes >= want || p.out_h <= 1) return p.out_h > 0 ? p.out_h : 1;
  const int64_t chunks = ceil_div(want, planes);
  return ceil_div(p.out_h, chunks < p.out_h ? chunks : p.out_h);
}

namespace cpu {
// Dispatches on active_cpu_isa().
void depthwise_conv2d_nchwc(const DepthwiseConv2dNchwcParams& p);
// The variants, callable directly by tests and benchmarks; the caller makes sure the CPU
// supports the ISA. The SIMD variants run the ref kernel for a block they have no vector
// for. depthwise_conv2d_nchwc_ref accumulates and applies the epilogue in double: it is
// the oracle.
void depthwise_conv2d_nchwc_ref(const DepthwiseConv2dNchwcParams& p);
void depthwise_conv2d_nchwc_avx2(const DepthwiseConv2dNchwcParams& p);
void depthwise_conv2d_nchwc_avx512(const DepthwiseConv2dNchwcParams& p);
}  // namespace cpu

}  // namespace pybench::kernels
