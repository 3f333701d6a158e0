#pragma once
// Argument checks and parameter filling shared by the CPU and CUDA adapters of
// depthwise_conv2d (and, through separable_conv2d_args.h, of separable_conv2d's depthwise
// half), so every backend rejects the same inputs with the same messages.
#include <ATen/ATen.h>

#include <optional>
#include <string>

#include "conv2d/conv2d.h"
#include "conv2d_args.h"
#include "depthwise_conv2d/depthwise_conv2d.h"
#include "tensor_checks.h"

namespace pybench::ops {

struct DepthwiseConv2dInput {
  at::Tensor input;   // (N, C, H, W), contiguous
  at::Tensor weight;  // (C*m, 1, R, S), contiguous
  at::Tensor bias;    // undefined or (C*m), contiguous
  bool batched = true;
  kernels::DepthwiseConv2dParams params;  // sizes only until make_depthwise_output
};

inline at::Tensor checked_bias(const char* op, const char* name,
                               const std::optional<at::Tensor>& bias, int64_t size,
                               const at::Tensor& input) {
  if (!bias.has_value() || !bias->defined()) return {};
  check_operand(op, name, *bias, input);
  TORCH_CHECK_VALUE(bias->dim() == 1 && bias->size(0) == size, op, ": expected ", name,
                    " of shape (", size, "), got ", bias->sizes());
  return bias->contiguous();
}

inline DepthwiseConv2dInput prepare_depthwise_conv2d(
    const char* op, const at::Tensor& input, const at::Tensor& weight,
    const std::optional<at::Tensor>& bias, at::IntArrayRef stride, at::IntArrayRef padding,
    at::IntArrayRef dilation, c10::DeviceType device, const char* weight_name = "weight") {
  TORCH_CHECK_VALUE(input.dim() == 3 || input.dim() == 4, op,
                    ": expected 3-D (unbatched) or 4-D (batched) input, got input of rank ",
                    input.dim(), " with shape ", input.sizes());
  check_input_tensor(op, "input", input, device);
  check_operand(op, weight_name, weight, input);
  check_conv_arguments(op, stride, padding, dilation);

  DepthwiseConv2dInput in;
  in.batched = input.dim() == 4;
  at::Tensor x = in.batched ? input : input.unsqueeze(0);
  const int64_t channels = x.size(1);
  TORCH_CHECK_VALUE(channels > 0 && x.size(2) > 0 && x.size(3) > 0, op,
                    ": expected non-empty channels and spatial sizes (only the batch may be "
                    "empty), got input of shape ", x.sizes());
  TORCH_CHECK_VALUE(weight.dim() == 4 && weight.size(1) == 1 && weight.size(0) > 0 &&
                        weight.size(0) % channels == 0 && weight.size(2) > 0 &&
                        weight.size(3) > 0,
                    op, ": expected ", weight_name, " of shape (C*m, 1, kH, kW) with C = ",
                    channels, " input channels and a channel multiplier m >= 1, got ",
                    weight.sizes());
  const int64_t out_channels = weight.size(0);
  in.bias = checked_bias(op, weight_name == std::string("weight") ? "bias" : "dw_bias", bias,
                         out_channels, input);

  kernels::DepthwiseConv2dParams& p = in.params;
  p.channels = channels;
  p.multiplier = out_channels / channels;
  set_conv_geometry(op, p, x, weight, stride, padding, dilation);
  in.input = x.contiguous();
  in.weight = weight.contiguous();
  return in;
}

inline void point_depthwise_operands(DepthwiseConv2dInput& in) {
  point_conv_operands(in.params, in.input, in.weight, in.bias);
}

inline at::Tensor make_depthwise_output(DepthwiseConv2dInput& in) {
  kernels::DepthwiseConv2dParams& p = in.params;
  at::Tensor out =
      at::empty({p.batch, p.out_channels(), p.out_h, p.out_w}, in.input.options());
  point_depthwise_operands(in);
  p.output = out.data_ptr<float>();
  return out;
}

}  // namespace pybench::ops
