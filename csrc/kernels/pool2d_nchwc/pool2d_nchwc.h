#pragma once
// Max and average pooling on the blocked activation layout (NCHWc): the torch-free kernel
// core of pybench::pool2d_nchwc and pybench::adaptive_avg_pool2d_nchwc, the pooling of
// converted models.
//
// Layouts (B = block, 8 or 16): input (batch, blocks, in_h, in_w, B), output
// (batch, blocks, out_h, out_w, B). Every lane is pooled, padded ones included: a padded
// channel pools its own values and no other channel reads it.
//
// Why a kernel of its own: ATen reads a blocked tensor as a channels-last image of B
// channels per block, and its CPU max pooling computes the argmax indices even when
// nobody asks for them: GoogLeNet's 13 max pools took 4 ms of a 22 ms forward pass that
// way. Pooling is a handful of vector max / add per output here, bound by L1 loads.
//
// Every pooling is described by its windows, one per output row and one per output
// column (PoolWindow): the first input index the window reads, how many taps of it fall
// inside the input (dilation apart), and its extent including padding (the
// count_include_pad divisor). Ordinary pooling (kernel, stride, padding, dilation,
// ceil_mode) and adaptive average pooling (windows [floor(o*in/out), ceil((o+1)*in/out)))
// differ only in those windows, so one kernel serves both. Windows are separable, and so
// are the divisors: a window's count is rows.taps * cols.taps.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/parallel.h"

namespace pybench::kernels {

enum class PoolMode { max, avg };

struct PoolWindow {
  int64_t first = 0;  // input index of the first tap inside the input
  int64_t taps = 0;   // taps inside the input, `dilation` apart
  int64_t span = 0;   // the window's extent clipped to the padded input (avg divisor)
};

struct Pool2dNchwcParams {
  const float* input = nullptr;
  float* output = nullptr;
  int64_t batch = 0, blocks = 0, block = 8;
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;  // 1 for average pooling (its windows are dense)
  PoolMode mode = PoolMode::max;
  const PoolWindow* rows = nullptr;  // out_h windows
  const PoolWindow* cols = nullptr;  // out_w windows
  bool count_include_pad = true;     // avg: divide by span_h * span_w, else taps_h * taps_w
  int64_t divisor_override = 0;      // avg: divide by this instead when not 0
  CpuExecution exec;

  // The divisor of output (oy, ox) of an average pooling.
  int64_t divisor(const PoolWindow& r, const PoolWindow& c) const {
    if (divisor_override != 0) return divisor_override;
    return count_include_pad ? r.span * c.span : r.taps * c.taps;
  }
};

// PyTorch's pooling_output_shape: the output size of one axis, or < 1 when the input is
// too small for the window.
inline int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad,
                                int64_t dilation, bool ceil_mode) {
  const int64_t numerator = in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  // Floor division: numerator may be negative for an input smaller than the window.
  int64_t out = (numerator >= 0 ? numerator / stride : -((-numerator + stride - 1) / stride)) + 1;
  // The last window must start inside the input or its left padding.
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// The windows of one axis of ordinary pooling: output o starts at o*stride - pad.
inline std::vector<PoolWindow> pool_windows(int64_t in, int64_t out, int64_t kernel,
                                            int64_t stride, int64_t pad, int64_t dilation) {
  std::vector<PoolWindow> w(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    const int64_t start = o * stride - pad;
    // Taps t with 0 <= start + t*dilation < in, t < kernel.
    const int64_t t0 = start < 0 ? (-start + dilation - 1) / dilation : 0;
    const int64_t t1 = std::min<int64_t>(kernel, start >= in ? 0 : (in - start + dilation - 1) / dilation);
    PoolWindow& win = w[static_cast<size_t>(o)];
    win.taps = std::max<int64_t>(0, t1 - t0);
    win.first = start + t0 * dilation;
    // avg_pool2d's divisor extent: the window clipped to the padded input (ceil_mode's
    // last window may hang past it).
    win.span = std::min(start + kernel, in + pad) - start;
  }
  return w;
}

// The windows of one axis of adaptive average pooling (ATen's start_index / end_index).
inline std::vector<PoolWindow> adaptive_pool_windows(int64_t in, int64_t out) {
  std::vector<PoolWindow> w(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    const int64_t start = (o * in) / out;
    const int64_t end = ((o + 1) * in + out - 1) / out;
    w[static_cast<size_t>(o)] = PoolWindow{start, end - start, end - start};
  }
  return w;
}

namespace cpu {
void pool2d_nchwc(const Pool2dNchwcParams& p);  // ISA-dispatched
void pool2d_nchwc_ref(const Pool2dNchwcParams& p);
void pool2d_nchwc_avx2(const Pool2dNchwcParams& p);
void pool2d_nchwc_avx512(const Pool2dNchwcParams& p);
}  // namespace cpu

}  // namespace pybench::kernels
