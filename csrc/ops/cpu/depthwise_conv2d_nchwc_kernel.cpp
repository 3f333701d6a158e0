// CPU backend of pybench::depthwise_conv2d_nchwc: argument checks, then the ISA-dispatched
// kernel threaded with at::parallel_for. The only backend, so its checks live here rather
// than in an _args.h shared between adapters. Non-contiguous operands are copied with
// .contiguous(): a blocked tensor is normally contiguous already, and a copy is correct.
#include <torch/library.h>

#include <optional>
#include <string>

#include "aten_parallel.h"
#include "nchwc_args.h"
#include "nchwc_prepare.h"
#include "output_cache.h"

namespace pybench::ops {
namespace {

constexpr const char* kOp = "pybench.depthwise_conv2d_nchwc";

at::Tensor depthwise_conv2d_nchwc_cpu(const at::Tensor& input, const at::Tensor& weight,
                                      const std::optional<at::Tensor>& bias,
                                      const std::optional<at::Tensor>& residual,
                                      int64_t channels, at::IntArrayRef stride,
                                      at::IntArrayRef padding, at::IntArrayRef dilation,
                                      const std::string& activation) {
  const int64_t B = check_blocked_input(kOp, input);
  DepthwiseNchwcCall c = prepare_depthwise_nchwc(
      kOp, input, input.size(0), input.size(1), input.size(2), input.size(3), B, weight, bias,
      residual, channels, stride, padding, dilation, activation);
  kernels::DepthwiseConv2dNchwcParams& p = c.p;
  const at::Tensor x = input.contiguous();
  at::Tensor out = empty_output({p.batch, input.size(1), p.out_h, p.out_w, B}, x.options());
  if (out.numel() == 0) return out;
  p.input = x.data_ptr<float>();
  p.output = out.data_ptr<float>();
  p.exec = aten_cpu_execution();
  kernels::cpu::depthwise_conv2d_nchwc(p);
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(pybench, CPU, m) {
  m.impl("depthwise_conv2d_nchwc", &depthwise_conv2d_nchwc_cpu);
}

}  // namespace pybench::ops
