// CPU backend of pybench::separable_conv2d: the shared argument checks, then the
// ISA-dispatched fused kernel threaded with at::parallel_for.
#include <torch/library.h>

#include <string>

#include "aten_parallel.h"
#include "cpu/image_stacking.h"
#include "separable_conv2d_args.h"

namespace pybench::ops {
namespace {

at::Tensor separable_conv2d_cpu(const at::Tensor& input, const at::Tensor& dw_weight,
                                const at::Tensor& pw_weight,
                                const std::optional<at::Tensor>& dw_bias,
                                const std::optional<at::Tensor>& pw_bias,
                                at::IntArrayRef stride, at::IntArrayRef padding,
                                at::IntArrayRef dilation, c10::string_view activation,
                                c10::string_view pw_activation) {
  SeparableConv2dInput in = prepare_separable_conv2d(
      input, dw_weight, pw_weight, dw_bias, pw_bias, stride, padding, dilation,
      std::string(activation), std::string(pw_activation), c10::DeviceType::CPU);
  at::Tensor out = make_separable_output(in);
  if (out.numel() > 0) {
    in.params.dw.exec = aten_cpu_execution();
    in.params.stack_images = image_stacking_enabled();
    kernels::cpu::separable_conv2d(in.params);
  }
  return in.dw.batched ? out : out.squeeze(0);
}

}  // namespace

TORCH_LIBRARY_IMPL(pybench, CPU, m) { m.impl("separable_conv2d", &separable_conv2d_cpu); }

}  // namespace pybench::ops
