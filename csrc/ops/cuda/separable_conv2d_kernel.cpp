// CUDA backend of pybench::separable_conv2d: the shared argument checks, then
// launch_separable_conv2d on the current stream of the input's device.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <stdexcept>
#include <string>

#include "separable_conv2d/separable_conv2d_cuda.h"
#include "separable_conv2d_args.h"

namespace pybench::ops {
namespace {

at::Tensor separable_conv2d_cuda(const at::Tensor& input, const at::Tensor& dw_weight,
                                 const at::Tensor& pw_weight,
                                 const std::optional<at::Tensor>& dw_bias,
                                 const std::optional<at::Tensor>& pw_bias,
                                 at::IntArrayRef stride, at::IntArrayRef padding,
                                 at::IntArrayRef dilation, c10::string_view activation,
                                 c10::string_view pw_activation) {
  SeparableConv2dInput in = prepare_separable_conv2d(
      input, dw_weight, pw_weight, dw_bias, pw_bias, stride, padding, dilation,
      std::string(activation), std::string(pw_activation), c10::DeviceType::CUDA);
  const c10::cuda::CUDAGuard guard(in.dw.input.device());
  at::Tensor out = make_separable_output(in);
  if (out.numel() > 0) {
    try {
      kernels::cuda::launch_separable_conv2d(in.params, at::cuda::getCurrentCUDAStream());
    } catch (const std::runtime_error& e) {
      TORCH_CHECK(false, "pybench.separable_conv2d: ", e.what());
    }
  }
  return in.dw.batched ? out : out.squeeze(0);
}

}  // namespace

TORCH_LIBRARY_IMPL(pybench, CUDA, m) { m.impl("separable_conv2d", &separable_conv2d_cuda); }

}  // namespace pybench::ops
