#pragma once
// Argument checks and parameter filling shared by the CPU and CUDA conv2d adapters, so
// both backends reject the same inputs with the same messages (worded like PyTorch's
// own, so users recognise them).
#include <ATen/ATen.h>

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "conv2d/conv2d.h"
#include "nchwc_args.h"  // parse_nchwc_activation: every epilogue's names, not only blocked ones
#include "tensor_checks.h"

namespace pybench::ops {

// The checks of the convolution arguments every conv op shares: counts and signs of
// stride, padding (top, bottom, left, right) and dilation.
inline void check_conv_arguments(const char* op, at::IntArrayRef stride, at::IntArrayRef padding,
                                 at::IntArrayRef dilation) {
  TORCH_CHECK_VALUE(stride.size() == 2 && padding.size() == 4 && dilation.size() == 2, op,
                    ": expected 2 strides, 4 paddings (top, bottom, left, right) and 2 "
                    "dilations, got ", stride.size(), ", ", padding.size(), " and ",
                    dilation.size());
  TORCH_CHECK_VALUE(stride[0] > 0 && stride[1] > 0, op,
                    ": non-positive stride is not supported, got stride ", stride);
  TORCH_CHECK_VALUE(padding[0] >= 0 && padding[1] >= 0 && padding[2] >= 0 && padding[3] >= 0,
                    op, ": negative padding is not supported, got padding ", padding);
  TORCH_CHECK_VALUE(dilation[0] > 0 && dilation[1] > 0, op,
                    ": dilation should be greater than zero, got dilation ", dilation);
}

// (out_h, out_w) of a kh x kw kernel over an in_h x in_w input with arguments that passed
// check_conv_arguments; a ValueError worded like PyTorch's when the dilated kernel is
// larger than the padded input.
inline std::pair<int64_t, int64_t> checked_conv_out_size(const char* op, int64_t in_h,
                                                         int64_t in_w, int64_t kh, int64_t kw,
                                                         at::IntArrayRef stride,
                                                         at::IntArrayRef padding,
                                                         at::IntArrayRef dilation) {
  const int64_t padded_h = in_h + padding[0] + padding[1];
  const int64_t padded_w = in_w + padding[2] + padding[3];
  const int64_t extent_h = dilation[0] * (kh - 1) + 1;
  const int64_t extent_w = dilation[1] * (kw - 1) + 1;
  TORCH_CHECK_VALUE(extent_h <= padded_h && extent_w <= padded_w, op,
                    ": calculated padded input size per channel: (", padded_h, " x ", padded_w,
                    "). Kernel size: (", extent_h, " x ", extent_w,
                    "). Kernel size can't be greater than actual input size");
  return {kernels::conv2d_out_size(in_h, kh, stride[0], padding[0], padding[1], dilation[0]),
          kernels::conv2d_out_size(in_w, kw, stride[1], padding[2], padding[3], dilation[1])};
}

// The geometry every conv op shares, from the batch, input and kernel sizes and arguments
// that passed check_conv_arguments (the blocked ops' (N, Cb, H, W, B) inputs and packed
// weights keep their sizes at other indices; the NCHW ops use the overload below).
inline void set_conv_geometry(const char* op, kernels::ConvParamsBase& p, int64_t batch,
                              int64_t in_h, int64_t in_w, int64_t kernel_h, int64_t kernel_w,
                              at::IntArrayRef stride, at::IntArrayRef padding,
                              at::IntArrayRef dilation) {
  p.batch = batch;
  p.in_h = in_h;
  p.in_w = in_w;
  p.kernel_h = kernel_h;
  p.kernel_w = kernel_w;
  p.stride_h = stride[0];
  p.stride_w = stride[1];
  p.pad_h = padding[0];
  p.pad_w = padding[2];
  p.dilation_h = dilation[0];
  p.dilation_w = dilation[1];
  std::tie(p.out_h, p.out_w) =
      checked_conv_out_size(op, p.in_h, p.in_w, p.kernel_h, p.kernel_w, stride, padding, dilation);
}

// ... from the batched input x (N, C, H, W) and a weight whose last two sizes are the
// kernel's.
inline void set_conv_geometry(const char* op, kernels::ConvParamsBase& p, const at::Tensor& x,
                              const at::Tensor& weight, at::IntArrayRef stride,
                              at::IntArrayRef padding, at::IntArrayRef dilation) {
  set_conv_geometry(op, p, x.size(0), x.size(2), x.size(3), weight.size(2), weight.size(3),
                    stride, padding, dilation);
}

// Points the params at the contiguous operands (bias: undefined means none).
inline void point_conv_operands(kernels::ConvParamsBase& p, const at::Tensor& input,
                                const at::Tensor& weight, const at::Tensor& bias) {
  p.input = input.data_ptr<float>();
  p.weight = weight.data_ptr<float>();
  p.bias = bias.defined() ? bias.data_ptr<float>() : nullptr;
}

// The checked, contiguous operands of one call and its geometry.
struct Conv2dInput {
  at::Tensor input;   // 4-D (N, C, H, W), contiguous
  at::Tensor weight;  // 4-D (K, C / groups, R, S), contiguous
  at::Tensor bias;    // undefined, or 1-D (K), contiguous
  at::Tensor residual;  // undefined, or 4-D (N, K, OH, OW), contiguous
  bool batched = true;  // false: the caller passed an unbatched (C, H, W) input
  kernels::Conv2dParams params;  // sizes only; pointers are filled by make_conv2d_output
};

// padding is (top, bottom, left, right), as the Python wrapper resolves ints, pairs,
// "valid" and "same". residual (optional) has the output's shape, batched or not as the
// input is; activation is one of none, relu, relu6, hardswish, sigmoid.
inline Conv2dInput prepare_conv2d(const at::Tensor& input, const at::Tensor& weight,
                                  const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                  at::IntArrayRef padding, at::IntArrayRef dilation,
                                  int64_t groups, c10::DeviceType device,
                                  const std::optional<at::Tensor>& residual,
                                  const std::string& activation) {
  constexpr const char* op = "pybench.conv2d";
  TORCH_CHECK_VALUE(input.dim() == 3 || input.dim() == 4, op,
                    ": expected 3-D (unbatched) or 4-D (batched) input, got input of rank ",
                    input.dim(), " with shape ", input.sizes());
  TORCH_CHECK_VALUE(weight.dim() == 4, op,
                    ": expected a 4-D weight (out_channels, in_channels / groups, kH, kW), got "
                    "rank ", weight.dim(), " with shape ", weight.sizes());
  check_input_tensor(op, "input", input, device);
  check_operand(op, "weight", weight, input);
  const bool has_residual = residual.has_value() && residual->defined();
  if (has_residual) check_operand(op, "residual", *residual, input);
  check_conv_arguments(op, stride, padding, dilation);
  TORCH_CHECK_VALUE(groups > 0, op, ": non-positive groups is not supported, got ", groups);

  Conv2dInput in;
  in.batched = input.dim() == 4;
  at::Tensor x = in.batched ? input : input.unsqueeze(0);
  const int64_t channels = x.size(1);
  const int64_t out_channels = weight.size(0);
  TORCH_CHECK_VALUE(out_channels % groups == 0, op, ": expected weight to be divisible by ",
                    groups, " at dimension 0, but got weight of size ", weight.sizes());
  TORCH_CHECK_VALUE(weight.size(1) * groups == channels, op, ": given groups=", groups,
                    ", weight of size ", weight.sizes(), ", expected input", x.sizes(),
                    " to have ", weight.size(1) * groups, " channels, but got ", channels,
                    " channels instead");
  // Like F.conv2d, only the batch may be empty.
  TORCH_CHECK_VALUE(channels > 0 && out_channels > 0 && x.size(2) > 0 && x.size(3) > 0, op,
                    ": expected non-empty channels and spatial sizes (only the batch may be "
                    "empty), got input of shape ", x.sizes(), " and weight of shape ",
                    weight.sizes());
  if (bias.has_value() && bias->defined()) {
    check_operand(op, "bias", *bias, input);
    TORCH_CHECK_VALUE(bias->dim() == 1 && bias->size(0) == out_channels, op,
                      ": expected bias of shape (", out_channels, "), got ", bias->sizes());
    in.bias = bias->contiguous();
  }

  TORCH_CHECK_VALUE(weight.size(2) > 0 && weight.size(3) > 0, op, ": expected a non-empty "
                    "kernel, got weight of size ", weight.sizes());
  kernels::Conv2dParams& p = in.params;
  p.in_channels = channels;
  p.out_channels = out_channels;
  p.groups = groups;
  set_conv_geometry(op, p, x, weight, stride, padding, dilation);
  p.activation = parse_nchwc_activation(op, activation);
  if (has_residual) {
    std::vector<int64_t> want = {p.batch, p.out_channels, p.out_h, p.out_w};
    if (!in.batched) want.erase(want.begin());
    TORCH_CHECK_VALUE(residual->sizes() == at::IntArrayRef(want), op,
                      ": expected residual of the output's shape ", at::IntArrayRef(want),
                      ", got ", residual->sizes());
    in.residual = (in.batched ? *residual : residual->unsqueeze(0)).contiguous();
  }
  in.input = x.contiguous();
  in.weight = weight.contiguous();
  return in;
}

// Allocates the (N, K, OH, OW) output and points the params at every operand.
inline at::Tensor make_conv2d_output(Conv2dInput& in) {
  kernels::Conv2dParams& p = in.params;
  at::Tensor out =
      at::empty({p.batch, p.out_channels, p.out_h, p.out_w}, in.input.options());
  point_conv_operands(p, in.input, in.weight, in.bias);
  p.residual = in.residual.defined() ? in.residual.data_ptr<float>() : nullptr;
  p.output = out.data_ptr<float>();
  return out;
}

inline at::Tensor finish_conv2d_output(const Conv2dInput& in, at::Tensor out) {
  return in.batched ? out : out.squeeze(0);
}

}  // namespace pybench::ops
