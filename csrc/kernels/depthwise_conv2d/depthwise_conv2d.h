#pragma once
// Depthwise 2-D convolution with a channel multiplier, the torch-free kernel core:
// F.conv2d(input, weight, bias, stride, padding, dilation, groups=channels).
//
// Layout: NCHW everywhere, contiguous.
//   input  (batch, channels, in_h, in_w)
//   weight (channels * multiplier, 1, kernel_h, kernel_w)   -- PyTorch's OIHW, groups = C
//   bias   (channels * multiplier) or nullptr
//   output (batch, channels * multiplier, out_h, out_w)
// Output channel k reads input channel k / multiplier (PyTorch's grouping: the m outputs
// of input channel c are k = c*m ... c*m + m-1).
//
// out(n, k, y, x) = act(bias[k] + sum_{r, s} weight[k][r][s] *
//                       input(n, k / m, y*stride_h - pad_h + r*dilation_h,
//                                       x*stride_w - pad_w + s*dilation_w)
//                       + residual(n, k, y, x))
// with input outside the image reading as zero. The epilogue (residual, act) is what
// conv2d's depthwise layers hand over (conv2d.h, as_depthwise); the CPU kernels apply it
// in their stores, the CUDA launcher refuses it (conv2d's CUDA path has its own
// depthwise kernel, and pybench.depthwise_conv2d takes no epilogue). pad_h / pad_w are
// the top / left padding; the bottom / right padding only shows in out_h / out_w
// (conv2d_out_size), as in Conv2dParams.
//
// A depthwise convolution does 2 * kh * kw FLOPs per output and reads one input and one
// output element per output: about 2 FLOP/byte for 3x3, so it is memory- (or rather
// load-port-) bound and the kernels' job is to touch each byte once and keep the FMA
// units fed from L1. See depthwise_conv2d_direct.h for the blocking.
#include <algorithm>
#include <cstdint>

#include "common/activation.h"
#include "common/conv_params.h"
#include "common/cpu_caches.h"
#include "common/index_math.h"
#include "common/parallel.h"

namespace pybench::kernels {

// Pointers and geometry come from ConvParamsBase; output channels are channels * multiplier.
struct DepthwiseConv2dParams : ConvParamsBase {
  int64_t channels = 0;    // input channels C
  int64_t multiplier = 1;  // m >= 1: output channels = C * m
  const float* residual = nullptr;  // (batch, C * m, out_h, out_w) or nullptr
  Activation activation = Activation::none;
  CpuExecution exec;  // threading of the CPU kernels; the CUDA launchers ignore it

  int64_t out_channels() const { return channels * multiplier; }
};

// The most bytes of one input channel's phase planes per work item of the direct kernel
// (depthwise_conv2d_direct.h), read from L1 by the m output channels of a multiplier:
// 3/4 of the L1d, the rest left to the output rows being stored and the weights. Capped
// at 24 KiB, the size the kernel was tuned with, on a Sapphire Rapids core (48 KiB L1d,
// where 3/4 would be 36 KiB, never measured); Zen 1 to Zen 4 (32 KiB) also get
// 24 KiB, as before the sizes were read at run time; only an L1d under 32 KiB shrinks it.
// (The kernel software-pipelines two plane buffers, so two of these are recent: 48 KiB,
// the whole of Sapphire Rapids' L1d and more than Zen 4's; a smaller plane there is
// untested.) The size moves only the row chunks, never the order of a sum.
inline int64_t depthwise_plane_bytes(const cpu::CpuCaches& c) {
  return std::clamp<int64_t>(c.l1d / 4 * 3, 4 * 1024, 24 * 1024);
}

// Multiply-adds times two over every output element, padding taps included (as
// conv2d_flops counts them).
inline double depthwise_conv2d_flops(const DepthwiseConv2dParams& p) {
  return 2.0 * static_cast<double>(p.batch) * static_cast<double>(p.out_channels()) *
         static_cast<double>(p.out_h) * static_cast<double>(p.out_w) *
         static_cast<double>(p.kernel_h) * static_cast<double>(p.kernel_w);
}

// Compulsory DRAM traffic: input, weights, bias and output, each once.
inline double depthwise_conv2d_bytes(const DepthwiseConv2dParams& p) {
  const double k = static_cast<double>(p.out_channels());
  return 4.0 * (static_cast<double>(p.batch) * static_cast<double>(p.channels) *
                    static_cast<double>(p.in_h) * static_cast<double>(p.in_w) +
                k * static_cast<double>(p.kernel_h * p.kernel_w + (p.bias ? 1 : 0)) +
                static_cast<double>(p.batch) * k * static_cast<double>(p.out_h) *
                    static_cast<double>(p.out_w));
}

namespace cpu {
// Dispatches on active_cpu_isa().
void depthwise_conv2d(const DepthwiseConv2dParams& p);
// The variants, callable directly by tests and benchmarks; the caller makes sure the CPU
// supports the ISA. depthwise_conv2d_ref accumulates in double: it is the oracle.
void depthwise_conv2d_ref(const DepthwiseConv2dParams& p);
void depthwise_conv2d_avx2(const DepthwiseConv2dParams& p);
void depthwise_conv2d_avx512(const DepthwiseConv2dParams& p);
}  // namespace cpu

}  // namespace pybench::kernels
