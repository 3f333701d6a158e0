#pragma once
// Depthwise-separable convolution, fused: a depthwise convolution (channel multiplier m),
// an activation, a 1x1 pointwise convolution, an activation -- exactly
//   act_pw(F.conv2d(act_dw(F.conv2d(x, dw_w, dw_b, stride, padding, dilation, groups=C)),
//                   pw_w, pw_b))
// but without the depthwise output ever existing as a whole tensor: it is produced one
// tile of output rows at a time into per-thread scratch (L2) and consumed there by the
// pointwise GEMM (separable_conv2d_fused.h).
//
// Layout: NCHW, contiguous.
//   input     (batch, C, in_h, in_w)
//   dw weight (C * m, 1, kh, kw), dw bias (C * m) or nullptr
//   pw weight (out_channels, C * m, 1, 1), pw bias (out_channels) or nullptr
//   output    (batch, out_channels, out_h, out_w)
// The depthwise geometry (sizes, stride, padding, dilation) is a DepthwiseConv2dParams
// whose output pointer is unused.
#include <algorithm>
#include <cstdint>

#include "common/cpu_caches.h"
#include "depthwise_conv2d/depthwise_conv2d.h"

namespace pybench::kernels {

struct SeparableConv2dParams {
  DepthwiseConv2dParams dw;  // input, dw weight / bias, geometry, exec (the CPU threading)
  const float* pw_weight = nullptr;
  const float* pw_bias = nullptr;  // optional
  float* output = nullptr;
  int64_t out_channels = 0;
  Activation dw_activation = Activation::none;
  Activation pw_activation = Activation::none;
  // false: the fused kernel never stacks small images in one work item
  // (separable_conv2d_fused.h). The result is bitwise the same either way.
  bool stack_images = true;
};

// FLOPs of the two convolutions (the activations are not counted).
inline double separable_conv2d_flops(const SeparableConv2dParams& p) {
  return depthwise_conv2d_flops(p.dw) +
         2.0 * static_cast<double>(p.dw.batch) * static_cast<double>(p.out_channels) *
             static_cast<double>(p.dw.out_channels()) * static_cast<double>(p.dw.out_h) *
             static_cast<double>(p.dw.out_w);
}

// Compulsory DRAM traffic of the fused op: input, both weights and biases, output -- the
// intermediate is not part of it (that is the point of fusing).
inline double separable_conv2d_bytes(const SeparableConv2dParams& p) {
  const auto& d = p.dw;
  const double mid = static_cast<double>(d.out_channels());
  return 4.0 * (static_cast<double>(d.batch * d.channels * d.in_h * d.in_w) +
                mid * static_cast<double>(d.kernel_h * d.kernel_w + (d.bias ? 1 : 0)) +
                static_cast<double>(p.out_channels) * (mid + (p.pw_bias ? 1 : 0)) +
                static_cast<double>(d.batch * p.out_channels * d.out_h * d.out_w));
}

// The most bytes of the fused kernel's mid tile T (the depthwise output of one tile of
// output rows, all C * m channels; separable_conv2d_fused.h), which stays in L2 while the
// pointwise GEMM reads it once per chunk of output channels: half the L2, the other half
// left to the pointwise weights streaming through and the tile's planes and output rows.
// Capped at 512 KiB, the size the kernel was tuned with, on Sapphire Rapids (2 MiB L2;
// half would be 1 MiB, never measured); Zen 4 (1 MiB) also gets 512 KiB, as before the
// sizes were read at run time; Zen 1 to 3 (512 KiB) 256 KiB, where a 512 KiB T filled
// the whole L2. The size moves only the tile rows: each output is still one dot product
// over the C * m channels in order, so results do not change with it.
inline int64_t separable_mid_bytes(const cpu::CpuCaches& c) {
  return std::clamp<int64_t>(c.l2 / 2, 64 * 1024, 512 * 1024);
}

namespace cpu {
// Dispatches on active_cpu_isa().
void separable_conv2d(const SeparableConv2dParams& p);
// separable_conv2d_ref keeps the intermediate in double: it is the oracle.
void separable_conv2d_ref(const SeparableConv2dParams& p);
void separable_conv2d_avx2(const SeparableConv2dParams& p);
void separable_conv2d_avx512(const SeparableConv2dParams& p);
}  // namespace cpu

}  // namespace pybench::kernels
