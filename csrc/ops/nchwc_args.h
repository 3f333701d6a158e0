#pragma once
// What the blocked-layout adapters (conv2d_nchwc, depthwise_conv2d_nchwc, pool2d_nchwc)
// share: the epilogue's activation by name, and the checks of a blocked input, refused
// with the same messages by each.
#include <ATen/ATen.h>

#include <string>

#include "common/activation.h"
#include "tensor_checks.h"

namespace pybench::ops {

inline kernels::Activation parse_nchwc_activation(const char* op, const std::string& act) {
  if (act == "none") return kernels::Activation::none;
  if (act == "relu") return kernels::Activation::relu;
  if (act == "relu6") return kernels::Activation::relu6;
  if (act == "hardswish") return kernels::Activation::hardswish;
  if (act == "sigmoid") return kernels::Activation::sigmoid;
  TORCH_CHECK_VALUE(false, op, ": unknown activation '", act,
                    "'; expected one of none, relu, relu6, hardswish, sigmoid");
  return kernels::Activation::none;
}

// A CPU float32 input in the blocked layout (N, Cb, H, W, B), B 8 or 16, with channel
// blocks and spatial sizes (the batch may be empty); returns B.
inline int64_t check_blocked_input(const char* op, const at::Tensor& input) {
  check_input_tensor(op, "input", input, c10::DeviceType::CPU);
  TORCH_CHECK_VALUE(input.dim() == 5, op,
                    ": expected input in the blocked layout (N, C/B, H, W, B), got rank ",
                    input.dim(), " with shape ", input.sizes());
  const int64_t B = input.size(4);
  TORCH_CHECK_VALUE(B == 8 || B == 16, op, ": expected input block B (the last size) of 8 or "
                    "16, got ", B, " (input shape ", input.sizes(), ")");
  TORCH_CHECK_VALUE(input.size(1) > 0 && input.size(2) > 0 && input.size(3) > 0, op,
                    ": expected non-empty channel blocks and spatial sizes (only the batch may "
                    "be empty), got input of shape ", input.sizes());
  return B;
}

}  // namespace pybench::ops
