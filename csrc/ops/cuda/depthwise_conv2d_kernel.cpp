// CUDA backend of pybench::depthwise_conv2d: the shared argument checks, then
// launch_depthwise_conv2d on the current stream of the input's device.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <stdexcept>

#include "depthwise_conv2d/depthwise_conv2d_cuda.h"
#include "depthwise_conv2d_args.h"

namespace pybench::ops {
namespace {

at::Tensor depthwise_conv2d_cuda(const at::Tensor& input, const at::Tensor& weight,
                                 const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                 at::IntArrayRef padding, at::IntArrayRef dilation) {
  DepthwiseConv2dInput in = prepare_depthwise_conv2d("pybench.depthwise_conv2d", input, weight,
                                                     bias, stride, padding, dilation,
                                                     c10::DeviceType::CUDA);
  const c10::cuda::CUDAGuard guard(in.input.device());
  at::Tensor out = make_depthwise_output(in);
  if (out.numel() > 0) {
    try {
      kernels::cuda::launch_depthwise_conv2d(in.params, at::cuda::getCurrentCUDAStream());
    } catch (const std::runtime_error& e) {
      TORCH_CHECK(false, "pybench.depthwise_conv2d: ", e.what());
    }
  }
  return in.batched ? out : out.squeeze(0);
}

}  // namespace

TORCH_LIBRARY_IMPL(pybench, CUDA, m) { m.impl("depthwise_conv2d", &depthwise_conv2d_cuda); }

}  // namespace pybench::ops
