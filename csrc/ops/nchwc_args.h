#pragma once
// What the blocked-layout adapters (conv2d_nchwc, depthwise_conv2d_nchwc) share: the
// epilogue's activation by name, refused with the same message by both.
#include <ATen/ATen.h>

#include <string>

#include "common/activation.h"

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

}  // namespace pybench::ops
