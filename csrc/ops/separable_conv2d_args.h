#pragma once
// Argument checks and parameter filling shared by the CPU and CUDA adapters of
// separable_conv2d: the depthwise half through depthwise_conv2d_args.h, then the
// activations and the pointwise weight, so every backend rejects the same inputs with the
// same messages.
#include <ATen/ATen.h>

#include <optional>
#include <string>

#include "depthwise_conv2d_args.h"
#include "separable_conv2d/separable_conv2d.h"
#include "tensor_checks.h"

namespace pybench::ops {

inline kernels::Activation parse_activation(const char* op, const char* name,
                                            const std::string& act) {
  if (act == "none") return kernels::Activation::none;
  if (act == "relu") return kernels::Activation::relu;
  if (act == "relu6") return kernels::Activation::relu6;
  TORCH_CHECK_VALUE(false, op, ": unknown ", name, " '", act,
                    "' (expected one of: none, relu, relu6)");
  return kernels::Activation::none;
}

struct SeparableConv2dInput {
  DepthwiseConv2dInput dw;
  at::Tensor pw_weight;  // (K, C*m) contiguous
  at::Tensor pw_bias;
  kernels::SeparableConv2dParams params;  // pointers filled by make_separable_output
};

inline SeparableConv2dInput prepare_separable_conv2d(
    const at::Tensor& input, const at::Tensor& dw_weight, const at::Tensor& pw_weight,
    const std::optional<at::Tensor>& dw_bias, const std::optional<at::Tensor>& pw_bias,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
    const std::string& activation, const std::string& pw_activation, c10::DeviceType device) {
  constexpr const char* op = "pybench.separable_conv2d";
  SeparableConv2dInput in;
  const kernels::Activation dw_act = parse_activation(op, "activation", activation);
  const kernels::Activation pw_act = parse_activation(op, "pw_activation", pw_activation);
  in.dw = prepare_depthwise_conv2d(op, input, dw_weight, dw_bias, stride, padding, dilation,
                                   device, "dw_weight");
  check_operand(op, "pw_weight", pw_weight, input);
  const int64_t mid = in.dw.params.out_channels();
  TORCH_CHECK_VALUE(pw_weight.dim() == 4 && pw_weight.size(0) > 0 && pw_weight.size(2) == 1 &&
                        pw_weight.size(3) == 1,
                    op, ": expected pw_weight of shape (out_channels, ", mid, ", 1, 1), got ",
                    pw_weight.sizes());
  TORCH_CHECK_VALUE(pw_weight.size(1) == mid, op, ": pw_weight has ", pw_weight.size(1),
                    " input channels but the depthwise convolution produces ", mid,
                    " (dw_weight ", dw_weight.sizes(), "); expected pw_weight of shape (",
                    pw_weight.size(0), ", ", mid, ", 1, 1)");
  in.pw_bias = checked_bias(op, "pw_bias", pw_bias, pw_weight.size(0), input);
  in.pw_weight = pw_weight.contiguous();
  in.params.dw = in.dw.params;
  in.params.out_channels = pw_weight.size(0);
  in.params.dw_activation = dw_act;
  in.params.pw_activation = pw_act;
  return in;
}

inline at::Tensor make_separable_output(SeparableConv2dInput& in) {
  point_depthwise_operands(in.dw);
  kernels::SeparableConv2dParams& p = in.params;
  p.dw = in.dw.params;
  at::Tensor out =
      at::empty({p.dw.batch, p.out_channels, p.dw.out_h, p.dw.out_w}, in.dw.input.options());
  p.pw_weight = in.pw_weight.data_ptr<float>();
  p.pw_bias = in.pw_bias.defined() ? in.pw_bias.data_ptr<float>() : nullptr;
  p.output = out.data_ptr<float>();
  return out;
}

}  // namespace pybench::ops
