#pragma once
// 2-D convolution (cross-correlation, as torch.nn.functional.conv2d), the torch-free
// kernel core.
//
// Layout: NCHW everywhere, contiguous.
//   input  (batch, in_channels, in_h, in_w)
//   weight (out_channels, in_channels / groups, kernel_h, kernel_w)   -- PyTorch's OIHW
//   bias   (out_channels) or nullptr
//   output (batch, out_channels, out_h, out_w)
// Output channel k of group g = k / (out_channels / groups) reads input channels
// [g * in_channels / groups, (g + 1) * in_channels / groups).
//
// out(n, k, y, x) = act(bias[k] + sum_{c, r, s} weight[k][c][r][s] *
//                       input(n, g*Cg + c, y*stride_h - pad_h + r*dilation_h,
//                                           x*stride_w - pad_w + s*dilation_w)
//                       + residual(n, k, y, x))
// where input outside [0, in_h) x [0, in_w) reads as zero, and the epilogue -- residual
// (the output's shape, contiguous, or nullptr) and act (common/activation.h) -- is
// applied to each output tile while it is in registers, so a ResNet block's add and ReLU
// cost no pass over the output of their own. pad_h / pad_w are the
// top / left padding; the bottom / right padding only shows in out_h / out_w, which the
// caller computes (conv2d_out_size), so asymmetric padding (padding="same" with an even
// kernel) needs nothing more.
#include <algorithm>
#include <cstdint>

#include "common/activation.h"
#include "common/conv_params.h"
#include "common/cpu_caches.h"
#include "common/index_math.h"
#include "common/parallel.h"
#include "depthwise_conv2d/depthwise_conv2d.h"

namespace pybench::kernels {

// Which CPU kernel runs a convolution: the choice of conv2d_via_nchwc (conv2d_via_nchwc.h),
// or one of the two forced, for tests and A/B timings. The results agree to rounding.
enum class Conv2dAlgorithm { automatic, direct, nchwc };

// Pointers and geometry (batch, in_h / in_w, kernel, out_h / out_w, stride, pad, dilation)
// come from ConvParamsBase.
struct Conv2dParams : ConvParamsBase {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t groups = 1;
  const float* residual = nullptr;  // (batch, out_channels, out_h, out_w) or nullptr
  Activation activation = Activation::none;
  CpuExecution exec;  // threading of the CPU kernels; the CUDA launcher ignores it
  // false: the direct kernel never stacks small images in one work item
  // (conv2d_direct.h). The result is bitwise the same either way; tests compare the two.
  bool stack_images = true;
  // The AVX2 / AVX-512 kernels only; depthwise layers have their own paths regardless.
  Conv2dAlgorithm algorithm = Conv2dAlgorithm::automatic;
};

// Output extent along one axis, PyTorch's formula; `pad_lo + pad_hi` is the total
// padding. May be <= 0 when the dilated kernel is larger than the padded input (the
// adapters reject that before calling a kernel).
inline int64_t conv2d_out_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad_lo,
                               int64_t pad_hi, int64_t dilation) {
  return (in + pad_lo + pad_hi - dilation * (kernel - 1) - 1) / stride + 1;
}

// Multiply-adds times two, over every output element: padding taps count (they are
// what a dense implementation does), the bias add does not -- the count benchdnn and
// the papers use, credited to every implementation alike.
inline double conv2d_flops(const Conv2dParams& p) {
  return 2.0 * static_cast<double>(p.batch) * static_cast<double>(p.out_channels) *
         static_cast<double>(p.out_h) * static_cast<double>(p.out_w) *
         static_cast<double>(p.in_channels / (p.groups > 0 ? p.groups : 1)) *
         static_cast<double>(p.kernel_h) * static_cast<double>(p.kernel_w);
}

// A grouped convolution with one input channel per group is a depthwise one (PyTorch's
// weight layout and channel order are the same). The AVX2 / AVX-512 conv2d variants hand
// it to the depthwise kernels, which vectorise over one channel's positions: the direct
// kernel's tiles of 6 (4) output channels of one group would be mostly padding there.
inline bool is_depthwise(const Conv2dParams& p) {
  return p.groups > 1 && p.groups == p.in_channels;
}

inline DepthwiseConv2dParams as_depthwise(const Conv2dParams& p) {
  DepthwiseConv2dParams d;
  static_cast<ConvParamsBase&>(d) = p;
  d.channels = p.in_channels;
  d.multiplier = p.out_channels / p.in_channels;
  d.residual = p.residual;
  d.activation = p.activation;
  d.exec = p.exec;
  return d;
}

// The most bytes of phase planes one work item of the direct kernel builds into its
// per-thread slab (conv2d_direct.h), which every output-channel tile of the item then
// sweeps: 3/4 of the L2, the rest left to the weight rows of a tile (at most 6 x 512 x 9
// floats = 108 KiB in these CNNs) and the output rows. Capped at 768 KiB, the size
// measured best on the 2-core Sapphire Rapids-class Xeon pybench is timed on (2 MiB L2):
// against 384 KiB on the ResNet-18 / VGG-16 layers at 2 threads, geomean 1.14x vs 1.11x of
// PyTorch, the 1x1 layers with many channels gaining most (fewer row chunks: each weight
// row streamed fewer times). Larger slabs were never measured. Sapphire Rapids (2 MiB)
// and Zen 4 / 5 (1 MiB) get 768 KiB, as before the sizes were read at run time; Zen 1 to
// 3 (512 KiB) 384 KiB, where 768 KiB overflowed the L2; the floor keeps a nonsense
// override from chunking by single rows.
inline int64_t conv2d_slab_bytes(const cpu::CpuCaches& c) {
  return std::clamp<int64_t>(c.l2 / 4 * 3, 128 * 1024, 768 * 1024);
}

namespace cpu {
// Dispatches on active_cpu_isa().
void conv2d(const Conv2dParams& p);
// The variants, callable directly by tests and benchmarks. The caller makes sure the
// CPU supports the ISA (cpu_supports()). conv2d_ref accumulates in double: it is the
// oracle, not a contender.
void conv2d_ref(const Conv2dParams& p);
void conv2d_avx2(const Conv2dParams& p);
void conv2d_avx512(const Conv2dParams& p);
}  // namespace cpu

}  // namespace pybench::kernels
