// CUDA backend of pybench::gram and pybench::gram_backward: the shared argument checks,
// then launch_gram / launch_gram_backward on the current stream of the input's device.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <stdexcept>

#include "gram/gram_cuda.h"
#include "gram_args.h"

namespace pybench::ops {
namespace {

at::Tensor gram_cuda(const at::Tensor& features, bool normalize) {
  GramInput in = prepare_gram_input(features, c10::DeviceType::CUDA, "pybench.gram");
  const c10::cuda::CUDAGuard guard(in.features.device());
  at::Tensor gram = empty_gram_output(in);
  kernels::GramParams p = make_gram_params(in, gram, normalize);
  if (p.batch > 0 && p.channels > 0) {
    try {
      kernels::cuda::launch_gram(p, at::cuda::getCurrentCUDAStream());
    } catch (const std::runtime_error& e) {
      TORCH_CHECK(false, "pybench.gram: ", e.what());
    }
  }
  return finish_gram_output(in, gram);
}

at::Tensor gram_backward_cuda(const at::Tensor& grad, const at::Tensor& features,
                              bool normalize) {
  const char* op = "pybench.gram_backward";
  GramBackwardCall call =
      prepare_gram_backward(grad, features, normalize, c10::DeviceType::CUDA, op);
  const c10::cuda::CUDAGuard guard(call.in.features.device());
  const kernels::GramBackwardParams& p = call.p;
  if (p.batch > 0 && p.channels > 0 && p.length > 0) {
    try {
      kernels::cuda::launch_gram_backward(p, at::cuda::getCurrentCUDAStream());
    } catch (const std::runtime_error& e) {
      TORCH_CHECK(false, op, ": ", e.what());
    }
  }
  return call.out;
}

}  // namespace

TORCH_LIBRARY_IMPL(pybench, CUDA, m) {
  m.impl("gram", &gram_cuda);
  m.impl("gram_backward", &gram_backward_cuda);
}

}  // namespace pybench::ops
