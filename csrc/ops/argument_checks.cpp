// Test-only ops: each runs exactly the argument checks of one op's adapters (the shared
// prepare_* of csrc/ops/*_args.h) for a backend named by `device`, and returns nothing.
//
// Why: the CUDA adapters' checks must be tested on machines without a GPU, where no tensor
// can be on a CUDA device. The checks take the backend's device type as a parameter, so
// tests/ops/test_argument_checks.py runs them with the meta device standing in for CUDA
// (meta tensors have shapes and devices but no data, and the checks read no data). The
// ops are composite (registered for every backend), so mixed meta / CPU arguments reach
// them instead of being routed to one backend's kernel.
#include <torch/library.h>

#include <optional>
#include <string>

#include "conv2d_args.h"
#include "depthwise_conv2d_args.h"
#include "gram_args.h"
#include "lstm_args.h"
#include "pool2d_args.h"
#include "separable_conv2d_args.h"

namespace pybench::ops {
namespace {

void check_gram_args(const at::Tensor& features, c10::Device device) {
  prepare_gram_input(features, device.type(), "pybench.gram");
}

void check_conv2d_args(const at::Tensor& input, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                       at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                       c10::Device device, const std::optional<at::Tensor>& residual,
                       c10::string_view activation) {
  prepare_conv2d(input, weight, bias, stride, padding, dilation, groups, device.type(),
                 residual, std::string(activation));
}

void check_depthwise_conv2d_args(const at::Tensor& input, const at::Tensor& weight,
                                 const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                 at::IntArrayRef padding, at::IntArrayRef dilation,
                                 c10::Device device) {
  prepare_depthwise_conv2d("pybench.depthwise_conv2d", input, weight, bias, stride, padding,
                           dilation, device.type());
}

void check_separable_conv2d_args(const at::Tensor& input, const at::Tensor& dw_weight,
                                 const at::Tensor& pw_weight,
                                 const std::optional<at::Tensor>& dw_bias,
                                 const std::optional<at::Tensor>& pw_bias,
                                 at::IntArrayRef stride, at::IntArrayRef padding,
                                 at::IntArrayRef dilation, const std::string& activation,
                                 const std::string& pw_activation, c10::Device device) {
  prepare_separable_conv2d(input, dw_weight, pw_weight, dw_bias, pw_bias, stride, padding,
                           dilation, activation, pw_activation, device.type());
}

void check_lstm_args(const at::Tensor& input, const at::Tensor& hx, const at::Tensor& cx,
                     const at::Tensor& w_ih, const at::Tensor& w_hh,
                     const std::optional<at::Tensor>& b_ih,
                     const std::optional<at::Tensor>& b_hh, bool sequence, bool batch_first,
                     const std::optional<at::Tensor>& packed_ih,
                     const std::optional<at::Tensor>& packed_hh, c10::Device device) {
  prepare_lstm(input, hx, cx, w_ih, w_hh, b_ih, b_hh, sequence, batch_first, device.type(),
               sequence ? "pybench.lstm" : "pybench.lstm_cell", packed_ih, packed_hh);
}

void check_max_pool2d_args(const at::Tensor& input, at::IntArrayRef kernel_size,
                           at::IntArrayRef stride, at::IntArrayRef padding,
                           at::IntArrayRef dilation, bool ceil_mode, c10::Device device) {
  prepare_max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, device.type());
}

void check_avg_pool2d_args(const at::Tensor& input, at::IntArrayRef kernel_size,
                           at::IntArrayRef stride, at::IntArrayRef padding, bool ceil_mode,
                           bool count_include_pad, std::optional<int64_t> divisor_override,
                           c10::Device device) {
  prepare_avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, device.type());
}

void check_adaptive_avg_pool2d_args(const at::Tensor& input, at::IntArrayRef output_size,
                                    c10::Device device) {
  prepare_adaptive_avg_pool2d(input, output_size, device.type());
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(pybench, m) {
  m.def("_check_gram_args(Tensor features, Device device) -> ()", &check_gram_args);
  m.def(
      "_check_conv2d_args(Tensor input, Tensor weight, Tensor? bias, int[2] stride, "
      "int[4] padding, int[2] dilation, int groups, Device device, Tensor? residual=None, "
      "str activation=\"none\") -> ()",
      &check_conv2d_args);
  m.def(
      "_check_depthwise_conv2d_args(Tensor input, Tensor weight, Tensor? bias, int[2] stride, "
      "int[4] padding, int[2] dilation, Device device) -> ()",
      &check_depthwise_conv2d_args);
  m.def(
      "_check_separable_conv2d_args(Tensor input, Tensor dw_weight, Tensor pw_weight, "
      "Tensor? dw_bias, Tensor? pw_bias, int[2] stride, int[4] padding, int[2] dilation, "
      "str activation, str pw_activation, Device device) -> ()",
      &check_separable_conv2d_args);
  m.def(
      "_check_lstm_args(Tensor input, Tensor hx, Tensor cx, Tensor w_ih, Tensor w_hh, "
      "Tensor? b_ih, Tensor? b_hh, bool sequence, bool batch_first, Tensor? packed_ih, "
      "Tensor? packed_hh, Device device) -> ()",
      &check_lstm_args);
  m.def(
      "_check_max_pool2d_args(Tensor input, int[2] kernel_size, int[2] stride, "
      "int[2] padding, int[2] dilation, bool ceil_mode, Device device) -> ()",
      &check_max_pool2d_args);
  m.def(
      "_check_avg_pool2d_args(Tensor input, int[2] kernel_size, int[2] stride, "
      "int[2] padding, bool ceil_mode, bool count_include_pad, int? divisor_override, "
      "Device device) -> ()",
      &check_avg_pool2d_args);
  m.def("_check_adaptive_avg_pool2d_args(Tensor input, int[2] output_size, Device device) -> ()",
        &check_adaptive_avg_pool2d_args);
}

}  // namespace pybench::ops
