#pragma once
// The window geometry every pybench pooling shares: the blocked layout's
// (pool2d_nchwc/pool2d_nchwc.h) and the NCHW one's, CPU and CUDA.
//
// Every pooling is described by its windows, one per output row and one per output
// column (PoolWindow): the first input index the window reads, how many taps of it fall
// inside the input (dilation apart), and its extent including padding (the
// count_include_pad divisor). Ordinary pooling (kernel, stride, padding, dilation,
// ceil_mode) and adaptive average pooling (windows [floor(o*in/out), ceil((o+1)*in/out)))
// differ only in those windows, so one kernel serves both. Windows are separable, and so
// are the divisors: a window's count is rows.taps * cols.taps.
//
// The per-output functions are __host__ __device__ (index_math.h) and templated on the
// index type, so the CUDA kernel computes its windows with the very code the CPU kernels
// and the tests use, in 32 bits where the sizes allow.
#include <cstdint>
#include <vector>

#include "common/index_math.h"

namespace pybench::kernels {

enum class PoolMode { max, avg };

template <class Index>
struct BasicPoolWindow {
  Index first = 0;  // input index of the first tap inside the input
  Index taps = 0;   // taps inside the input, `dilation` apart
  Index span = 0;   // the window's extent clipped to the padded input (avg divisor)
};
using PoolWindow = BasicPoolWindow<int64_t>;

// PyTorch's pooling_output_shape: the output size of one axis, or < 1 when the input is
// too small for the window.
PYBENCH_HOST_DEVICE inline int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride,
                                                    int64_t pad, int64_t dilation,
                                                    bool ceil_mode) {
  const int64_t numerator = in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  // Floor division: numerator may be negative for an input smaller than the window.
  int64_t out = (numerator >= 0 ? numerator / stride : -((-numerator + stride - 1) / stride)) + 1;
  // The last window must start inside the input or its left padding.
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// The window of output o of one axis of ordinary pooling: it starts at o*stride - pad.
template <class Index>
PYBENCH_HOST_DEVICE inline BasicPoolWindow<Index> pool_window(Index o, Index in, Index kernel,
                                                              Index stride, Index pad,
                                                              Index dilation) {
  const Index start = o * stride - pad;
  // Taps t with 0 <= start + t*dilation < in, t < kernel. The divisions only for
  // dilation > 1: on the GPU an integer division is a dozen instructions or more.
  const Index t0 = start >= 0 ? 0 : dilation == 1 ? -start : (-start + dilation - 1) / dilation;
  const Index reach = start >= in ? 0 : dilation == 1 ? in - start : (in - start + dilation - 1) / dilation;
  const Index t1 = reach < kernel ? reach : kernel;
  BasicPoolWindow<Index> w;
  w.taps = t1 > t0 ? t1 - t0 : 0;
  w.first = start + t0 * dilation;
  // avg_pool2d's divisor extent: the window clipped to the padded input (ceil_mode's last
  // window may hang past it).
  const Index end = start + kernel < in + pad ? start + kernel : in + pad;
  w.span = end - start;
  return w;
}

// The window of output o of one axis of adaptive average pooling (ATen's start_index /
// end_index).
template <class Index>
PYBENCH_HOST_DEVICE inline BasicPoolWindow<Index> adaptive_pool_window(Index o, Index in,
                                                                       Index out) {
  const Index start = (o * in) / out;
  const Index end = ((o + 1) * in + out - 1) / out;
  BasicPoolWindow<Index> w;
  w.first = start;
  w.taps = end - start;
  w.span = end - start;
  return w;
}

// An average pooling's divisor for the window (r, c): divisor_override when not 0, else
// the padded extent (count_include_pad) or the taps inside the input.
template <class Index>
PYBENCH_HOST_DEVICE inline Index pool_divisor(const BasicPoolWindow<Index>& r,
                                              const BasicPoolWindow<Index>& c,
                                              bool count_include_pad, Index divisor_override) {
  if (divisor_override != 0) return divisor_override;
  return count_include_pad ? r.span * c.span : r.taps * c.taps;
}

// The windows of one axis, every output's (host only).
inline std::vector<PoolWindow> pool_windows(int64_t in, int64_t out, int64_t kernel,
                                            int64_t stride, int64_t pad, int64_t dilation) {
  std::vector<PoolWindow> w(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    w[static_cast<size_t>(o)] = pool_window<int64_t>(o, in, kernel, stride, pad, dilation);
  }
  return w;
}

inline std::vector<PoolWindow> adaptive_pool_windows(int64_t in, int64_t out) {
  std::vector<PoolWindow> w(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) w[static_cast<size_t>(o)] = adaptive_pool_window<int64_t>(o, in, out);
  return w;
}

}  // namespace pybench::kernels
