// CUDA backend of pybench::max_pool2d, avg_pool2d and adaptive_avg_pool2d: the shared
// checks and set-up of pool2d_args.h, then launch_pool2d on the current stream of the
// input's device.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <optional>
#include <stdexcept>

#include "pool2d/pool2d_cuda.h"
#include "pool2d_args.h"

namespace pybench::ops {
namespace {

at::Tensor run_pool2d_cuda(const char* op, Pool2dCall c) {
  const c10::cuda::CUDAGuard guard(c.input.device());
  if (c.output.numel() > 0) {
    point_pool2d_operands(c);
    try {
      kernels::cuda::launch_pool2d(c.p, at::cuda::getCurrentCUDAStream());
    } catch (const std::runtime_error& e) {
      TORCH_CHECK(false, op, ": ", e.what());
    }
  }
  return c.output;
}

at::Tensor max_pool2d_cuda(const at::Tensor& input, at::IntArrayRef kernel_size,
                           at::IntArrayRef stride, at::IntArrayRef padding,
                           at::IntArrayRef dilation, bool ceil_mode) {
  return run_pool2d_cuda("pybench.max_pool2d",
                         prepare_max_pool2d(input, kernel_size, stride, padding, dilation,
                                            ceil_mode, c10::DeviceType::CUDA));
}

at::Tensor avg_pool2d_cuda(const at::Tensor& input, at::IntArrayRef kernel_size,
                           at::IntArrayRef stride, at::IntArrayRef padding, bool ceil_mode,
                           bool count_include_pad, std::optional<int64_t> divisor_override) {
  return run_pool2d_cuda("pybench.avg_pool2d",
                         prepare_avg_pool2d(input, kernel_size, stride, padding, ceil_mode,
                                            count_include_pad, divisor_override,
                                            c10::DeviceType::CUDA));
}

at::Tensor adaptive_avg_pool2d_cuda(const at::Tensor& input, at::IntArrayRef output_size) {
  return run_pool2d_cuda("pybench.adaptive_avg_pool2d",
                         prepare_adaptive_avg_pool2d(input, output_size, c10::DeviceType::CUDA));
}

}  // namespace

TORCH_LIBRARY_IMPL(pybench, CUDA, m) {
  m.impl("max_pool2d", &max_pool2d_cuda);
  m.impl("avg_pool2d", &avg_pool2d_cuda);
  m.impl("adaptive_avg_pool2d", &adaptive_avg_pool2d_cuda);
}

}  // namespace pybench::ops
