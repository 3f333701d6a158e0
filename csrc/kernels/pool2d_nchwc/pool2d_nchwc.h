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
// The windows (PoolWindow, one per output row and one per output column) and their
// divisors are the NCHW pooling's, pool2d/pool2d.h: ordinary and adaptive pooling differ
// only in them, so one kernel serves both.
#include <cstdint>

#include "common/parallel.h"
#include "pool2d/pool2d.h"

namespace pybench::kernels {

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
  // Floats between consecutive output channel planes; 0: out_h * out_w * B, dense. A band
  // of rows of a larger output is written in place this way (conv2d_maxpool_nchwc).
  int64_t out_plane_stride = 0;
  CpuExecution exec;

  int64_t out_plane() const { return out_plane_stride > 0 ? out_plane_stride : out_h * out_w * block; }

  // The divisor of output (oy, ox) of an average pooling.
  int64_t divisor(const PoolWindow& r, const PoolWindow& c) const {
    return pool_divisor(r, c, count_include_pad, divisor_override);
  }
};

namespace cpu {
void pool2d_nchwc(const Pool2dNchwcParams& p);  // ISA-dispatched
void pool2d_nchwc_ref(const Pool2dNchwcParams& p);
void pool2d_nchwc_avx2(const Pool2dNchwcParams& p);
void pool2d_nchwc_avx512(const Pool2dNchwcParams& p);
}  // namespace cpu

}  // namespace pybench::kernels
