#pragma once
// The argument checks of the blocked depthwise convolution, shared by its own op and the
// fused conv1x1_depthwise_nchwc, whose depthwise input (the 1x1's output) exists only a
// band at a time: the checks take the input's geometry, and `like` for its device and
// dtype.
#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <vector>

#include "conv2d_args.h"
#include "depthwise_conv2d_nchwc/depthwise_conv2d_nchwc.h"
#include "nchwc_args.h"
#include "tensor_checks.h"

namespace pybench::ops {

// Checked depthwise operands, contiguous, and the kernel's params but for input, output
// and exec.
struct DepthwiseNchwcCall {
  at::Tensor weight, bias, residual;
  kernels::DepthwiseConv2dNchwcParams p;
};

inline DepthwiseNchwcCall prepare_depthwise_nchwc(
    const char* op, const at::Tensor& like, int64_t batch, int64_t cb, int64_t in_h,
    int64_t in_w, int64_t B, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
    const std::optional<at::Tensor>& residual, int64_t channels, at::IntArrayRef stride,
    at::IntArrayRef padding, at::IntArrayRef dilation, const std::string& activation) {
  check_operand(op, "weight", weight, like);
  TORCH_CHECK_VALUE(channels > (cb - 1) * B && channels <= cb * B, op, ": channels = ",
                    channels, " does not fit an input of ", cb, " blocks of ", B, " (they hold ",
                    (cb - 1) * B + 1, " to ", cb * B, " channels)");
  TORCH_CHECK_VALUE(weight.dim() == 4 && weight.size(0) == cb && weight.size(1) > 0 &&
                        weight.size(2) > 0 && weight.size(3) == B,
                    op, ": expected weight packed by pack_depthwise_nchwc, of shape (", cb,
                    ", kH, kW, ", B, "), got ", weight.sizes());
  check_conv_arguments(op, stride, padding, dilation);
  DepthwiseNchwcCall c;
  kernels::DepthwiseConv2dNchwcParams& p = c.p;
  p.activation = parse_nchwc_activation(op, activation);
  set_conv_geometry(op, p, batch, in_h, in_w, weight.size(1), weight.size(2), stride, padding,
                    dilation);
  p.channels = channels;
  p.block = B;
  if (bias.has_value() && bias->defined()) {
    check_operand(op, "bias", *bias, like);
    TORCH_CHECK_VALUE(bias->dim() == 1 && bias->size(0) == cb * B, op,
                      ": expected bias padded to the blocks, of shape (", cb * B, "), got ",
                      bias->sizes());
    c.bias = bias->contiguous();
    p.bias = c.bias.data_ptr<float>();
  }
  if (residual.has_value() && residual->defined()) {
    check_operand(op, "residual", *residual, like);
    const std::vector<int64_t> want = {p.batch, cb, p.out_h, p.out_w, B};
    TORCH_CHECK_VALUE(residual->sizes() == at::IntArrayRef(want), op,
                      ": expected residual of the output's shape ", at::IntArrayRef(want),
                      ", got ", residual->sizes());
    c.residual = residual->contiguous();
    p.residual = c.residual.data_ptr<float>();
  }
  c.weight = weight.contiguous();
  p.weight = c.weight.data_ptr<float>();
  return c;
}

}  // namespace pybench::ops
