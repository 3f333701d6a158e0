// CPU backend of pybench::depthwise_conv2d_nchwc: argument checks, then the ISA-dispatched
// kernel threaded with at::parallel_for. The only backend, so its checks live here rather
// than in an _args.h shared between adapters. Non-contiguous operands are copied with
// .contiguous(): a blocked tensor is normally contiguous already, and a copy is correct.
#include <torch/library.h>

#include <optional>
#include <string>

#include "aten_parallel.h"
#include "conv2d_args.h"
#include "depthwise_conv2d_nchwc/depthwise_conv2d_nchwc.h"
#include "nchwc_args.h"
#include "output_cache.h"
#include "tensor_checks.h"

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
  check_operand(kOp, "weight", weight, input);
  const int64_t cb = input.size(1);
  TORCH_CHECK_VALUE(channels > (cb - 1) * B && channels <= cb * B, kOp, ": channels = ",
                    channels, " does not fit input of shape ", input.sizes(), " (", cb,
                    " blocks of ", B, " hold ", (cb - 1) * B + 1, " to ", cb * B, " channels)");
  TORCH_CHECK_VALUE(weight.dim() == 4 && weight.size(0) == cb && weight.size(1) > 0 &&
                        weight.size(2) > 0 && weight.size(3) == B,
                    kOp, ": expected weight packed by pack_depthwise_nchwc, of shape (", cb,
                    ", kH, kW, ", B, "), got ", weight.sizes());
  check_conv_arguments(kOp, stride, padding, dilation);
  const kernels::Activation act = parse_nchwc_activation(kOp, std::string(activation));

  kernels::DepthwiseConv2dNchwcParams p;
  set_conv_geometry(kOp, p, input.size(0), input.size(2), input.size(3), weight.size(1),
                    weight.size(2), stride, padding, dilation);
  p.channels = channels;
  p.block = B;
  p.activation = act;

  at::Tensor b;
  if (bias.has_value() && bias->defined()) {
    check_operand(kOp, "bias", *bias, input);
    TORCH_CHECK_VALUE(bias->dim() == 1 && bias->size(0) == cb * B, kOp,
                      ": expected bias padded to the blocks, of shape (", cb * B, "), got ",
                      bias->sizes());
    b = bias->contiguous();
  }
  at::Tensor res;
  if (residual.has_value() && residual->defined()) {
    check_operand(kOp, "residual", *residual, input);
    const std::vector<int64_t> want = {p.batch, cb, p.out_h, p.out_w, B};
    TORCH_CHECK_VALUE(residual->sizes() == at::IntArrayRef(want), kOp,
                      ": expected residual of the output's shape ", at::IntArrayRef(want),
                      ", got ", residual->sizes());
    res = residual->contiguous();
  }
  const at::Tensor x = input.contiguous();
  const at::Tensor w = weight.contiguous();
  at::Tensor out = empty_output({p.batch, cb, p.out_h, p.out_w, B}, x.options());
  if (out.numel() == 0) return out;
  p.input = x.data_ptr<float>();
  p.weight = w.data_ptr<float>();
  p.bias = b.defined() ? b.data_ptr<float>() : nullptr;
  p.residual = res.defined() ? res.data_ptr<float>() : nullptr;
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
