#pragma once
// What every 2-D convolution's params struct shares: the operand pointers and the
// geometry. Conv2dParams and DepthwiseConv2dParams inherit it (as flash-attention's
// Flash_fwd_params inherits Qkv_params), so a depthwise layer reached through conv2d
// (as_depthwise) hands its geometry over in one assignment. Each derived struct documents
// its own weight layout and channel counts.
//
// Geometry: NCHW, contiguous. out(n, k, y, x) reads input rows
// y*stride_h - pad_h + r*dilation_h and columns x*stride_w - pad_w + s*dilation_w for taps
// (r, s) of a kernel_h x kernel_w kernel, input outside [0, in_h) x [0, in_w) reading as
// zero. pad_h / pad_w are the top / left padding; the bottom / right padding only shows in
// out_h / out_w, which the caller computes (conv2d_out_size in conv2d/conv2d.h), so
// asymmetric padding needs nothing more.
#include <cstdint>

namespace pybench::kernels {

struct ConvParamsBase {
  const float* input = nullptr;
  const float* weight = nullptr;
  const float* bias = nullptr;  // optional
  float* output = nullptr;
  int64_t batch = 0;
  int64_t in_h = 0;
  int64_t in_w = 0;
  int64_t kernel_h = 0;
  int64_t kernel_w = 0;
  int64_t out_h = 0;
  int64_t out_w = 0;
  int64_t stride_h = 1;
  int64_t stride_w = 1;
  int64_t pad_h = 0;  // top
  int64_t pad_w = 0;  // left
  int64_t dilation_h = 1;
  int64_t dilation_w = 1;
};

}  // namespace pybench::kernels
