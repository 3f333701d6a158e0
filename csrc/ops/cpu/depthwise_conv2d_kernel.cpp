// CPU backend of pybench::depthwise_conv2d: the shared argument checks, then the
// ISA-dispatched kernel threaded with at::parallel_for.
#include <torch/library.h>

#include "aten_parallel.h"
#include "depthwise_conv2d_args.h"

namespace pybench::ops {
namespace {

at::Tensor depthwise_conv2d_cpu(const at::Tensor& input, const at::Tensor& weight,
                                const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                at::IntArrayRef padding, at::IntArrayRef dilation) {
  DepthwiseConv2dInput in = prepare_depthwise_conv2d("pybench.depthwise_conv2d", input, weight,
                                                     bias, stride, padding, dilation,
                                                     c10::DeviceType::CPU);
  at::Tensor out = make_depthwise_output(in);
  if (out.numel() > 0) {
    in.params.exec = aten_cpu_execution();
    kernels::cpu::depthwise_conv2d(in.params);
  }
  return in.batched ? out : out.squeeze(0);
}

}  // namespace

TORCH_LIBRARY_IMPL(pybench, CPU, m) { m.impl("depthwise_conv2d", &depthwise_conv2d_cpu); }

}  // namespace pybench::ops
