#pragma once
// Max and average pooling of NCHW float32 images: the torch-free kernel core of
// pybench::max_pool2d, avg_pool2d and adaptive_avg_pool2d (CPU: pool2d.cpp dispatching to
// pool2d_ref / _avx2 / _avx512; CUDA: pool2d_cuda.cuh), and the window geometry every
// pybench pooling shares (the blocked layout's too, pool2d_nchwc/pool2d_nchwc.h).
//
// Layout: input (planes, in_h, in_w) and output (planes, out_h, out_w), both contiguous,
// planes = batch * channels: pooling never mixes planes, so N and C are one axis here.
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
#include <string>
#include <vector>

#include "common/index_math.h"
#include "common/parallel.h"

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
  const Index reach = start >= in     ? 0
                      : dilation == 1 ? in - start
                                      : (in - start + dilation - 1) / dilation;
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
  for (int64_t o = 0; o < out; ++o) {
    w[static_cast<size_t>(o)] = adaptive_pool_window<int64_t>(o, in, out);
  }
  return w;
}

// One pooling. Semantics are PyTorch's F.max_pool2d / F.avg_pool2d / F.adaptive_avg_pool2d
// (max: a NaN in a window is the result; avg: the divisor rule of pool_divisor). The
// caller (csrc/ops/pool2d_args.h) has checked the geometry as PyTorch does, so every
// window holds at least one input, and computed out_h / out_w (pool_output_size, or the
// adaptive output size).
struct Pool2dParams {
  const float* input = nullptr;  // (planes, in_h, in_w), contiguous
  float* output = nullptr;       // (planes, out_h, out_w), contiguous; must not overlap input
  int64_t planes = 0;            // batch * channels
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  // Ordinary pooling's window: output o of an axis reads o*stride - pad + t*dilation for
  // t < kernel. Unused by adaptive pooling. Average pooling has dilation 1.
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  PoolMode mode = PoolMode::max;
  bool adaptive = false;          // avg only: adaptive_pool_window on both axes
  bool count_include_pad = true;  // avg: see pool_divisor
  int64_t divisor_override = 0;   // avg: divide by this instead when not 0
  CpuExecution exec;              // CPU threading; the CUDA launcher ignores it

  // The windows of every output row / column (host only).
  std::vector<PoolWindow> row_windows() const {
    return adaptive ? adaptive_pool_windows(in_h, out_h)
                    : pool_windows(in_h, out_h, kernel_h, stride_h, pad_h, dilation_h);
  }
  std::vector<PoolWindow> col_windows() const {
    return adaptive ? adaptive_pool_windows(in_w, out_w)
                    : pool_windows(in_w, out_w, kernel_w, stride_w, pad_w, dilation_w);
  }
};

// An ordinary pooling's params, out_h / out_w by pool_output_size (below 1 where the window
// does not fit, which the caller refuses); pointers and exec unset.
inline Pool2dParams pool2d_params(PoolMode mode, int64_t planes, int64_t in_h, int64_t in_w,
                                  int64_t kernel_h, int64_t kernel_w, int64_t stride_h,
                                  int64_t stride_w, int64_t pad_h, int64_t pad_w,
                                  int64_t dilation_h, int64_t dilation_w, bool ceil_mode) {
  Pool2dParams p;
  p.mode = mode;
  p.planes = planes;
  p.in_h = in_h;
  p.in_w = in_w;
  p.kernel_h = kernel_h;
  p.kernel_w = kernel_w;
  p.stride_h = stride_h;
  p.stride_w = stride_w;
  p.pad_h = pad_h;
  p.pad_w = pad_w;
  p.dilation_h = dilation_h;
  p.dilation_w = dilation_w;
  p.out_h = pool_output_size(in_h, kernel_h, stride_h, pad_h, dilation_h, ceil_mode);
  p.out_w = pool_output_size(in_w, kernel_w, stride_w, pad_w, dilation_w, ceil_mode);
  return p;
}

// An adaptive average pooling's params; pointers and exec unset.
inline Pool2dParams adaptive_avg_pool2d_params(int64_t planes, int64_t in_h, int64_t in_w,
                                               int64_t out_h, int64_t out_w) {
  Pool2dParams p;
  p.mode = PoolMode::avg;
  p.adaptive = true;
  p.count_include_pad = false;
  p.planes = planes;
  p.in_h = in_h;
  p.in_w = in_w;
  p.out_h = out_h;
  p.out_w = out_w;
  return p;
}

// One line naming p's pooling, for messages and test traces.
inline std::string pool2d_description(const Pool2dParams& p) {
  auto t = [](int64_t v) { return std::to_string(v); };
  std::string s = std::string(p.mode == PoolMode::max ? "max" : "avg") + " planes " +
                  t(p.planes) + " " + t(p.in_h) + "x" + t(p.in_w) + " -> " + t(p.out_h) + "x" +
                  t(p.out_w);
  if (p.adaptive) return s + " adaptive";
  return s + " k" + t(p.kernel_h) + "x" + t(p.kernel_w) + " s" + t(p.stride_h) + "x" +
         t(p.stride_w) + " p" + t(p.pad_h) + "x" + t(p.pad_w) + " d" + t(p.dilation_h) + "x" +
         t(p.dilation_w) + (p.count_include_pad ? "" : " no-pad-count") +
         (p.divisor_override ? " divisor " + t(p.divisor_override) : "");
}

namespace cpu {
void pool2d(const Pool2dParams& p);  // ISA-dispatched
void pool2d_ref(const Pool2dParams& p);
void pool2d_avx2(const Pool2dParams& p);
void pool2d_avx512(const Pool2dParams& p);
}  // namespace cpu

}  // namespace pybench::kernels
