// CUDA backend of pybench::conv2d: the shared argument checks, then launch_conv2d on the
// current stream of the input's device.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <stdexcept>
#include <string>

#include "conv2d/conv2d_cuda.h"
#include "conv2d_args.h"

namespace pybench::ops {
namespace {

at::Tensor conv2d_cuda(const at::Tensor& input, const at::Tensor& weight,
                       const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                       at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                       const std::optional<at::Tensor>& residual, c10::string_view activation) {
  Conv2dInput in = prepare_conv2d(input, weight, bias, stride, padding, dilation, groups,
                                  c10::DeviceType::CUDA, residual, std::string(activation));
  const c10::cuda::CUDAGuard guard(in.input.device());
  at::Tensor out = make_conv2d_output(in);
  if (out.numel() > 0) {
    try {
      kernels::cuda::launch_conv2d(in.params, at::cuda::getCurrentCUDAStream());
    } catch (const std::runtime_error& e) {
      TORCH_CHECK(false, "pybench.conv2d: ", e.what());
    }
  }
  return finish_conv2d_output(in, out);
}

}  // namespace

TORCH_LIBRARY_IMPL(pybench, CUDA, m) { m.impl("conv2d", &conv2d_cuda); }

}  // namespace pybench::ops
