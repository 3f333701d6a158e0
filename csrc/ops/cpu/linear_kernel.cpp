// CPU backend of pybench::linear: argument checks, then the ISA-dispatched packed kernel
// threaded with at::parallel_for.
#include <torch/library.h>

#include <optional>
#include <string>

#include "aten_parallel.h"
#include "linear/linear.h"
#include "nchwc_args.h"
#include "tensor_checks.h"

namespace pybench::ops {
namespace {

at::Tensor linear_cpu(const at::Tensor& input, const at::Tensor& weight,
                      const std::optional<at::Tensor>& bias, int64_t out_features,
                      c10::string_view activation) {
  constexpr const char* op = "pybench.linear";
  check_input_tensor(op, "input", input, c10::DeviceType::CPU);
  check_operand(op, "weight", weight, input);
  TORCH_CHECK_VALUE(input.dim() == 2, op, ": expected a 2-D input (batch, in_features), got "
                    "shape ", input.sizes());
  constexpr int64_t P = kernels::kLinearPanel;
  TORCH_CHECK_VALUE(weight.dim() == 3 && weight.size(2) == P, op,
                    ": expected a packed weight (ceil(out_features / ", P, "), in_features, ",
                    P, ") from pybench.ops.pack_linear, got shape ", weight.sizes());
  TORCH_CHECK_VALUE(out_features > 0 && (out_features + P - 1) / P == weight.size(0), op,
                    ": out_features=", out_features, " does not match the packed weight's ",
                    weight.size(0), " panels of ", P);
  TORCH_CHECK_VALUE(weight.size(1) == input.size(1) && input.size(1) > 0, op,
                    ": input of shape ", input.sizes(), " does not match the packed weight's ",
                    weight.size(1), " in_features");
  kernels::LinearParams p;
  p.activation = parse_nchwc_activation(op, std::string(activation));
  at::Tensor b;
  if (bias.has_value() && bias->defined()) {
    check_operand(op, "bias", *bias, input);
    TORCH_CHECK_VALUE(bias->dim() == 1 && bias->size(0) == out_features, op,
                      ": expected bias of shape (", out_features, "), got ", bias->sizes());
    b = bias->contiguous();
  }
  const at::Tensor x = input.contiguous();
  const at::Tensor w = weight.contiguous();
  at::Tensor out = at::empty({input.size(0), out_features}, input.options());
  if (out.numel() == 0) return out;
  p.batch = x.size(0);
  p.in_features = x.size(1);
  p.out_features = out_features;
  p.input = x.data_ptr<float>();
  p.weight = w.data_ptr<float>();
  p.bias = b.defined() ? b.data_ptr<float>() : nullptr;
  p.output = out.data_ptr<float>();
  p.exec = aten_cpu_execution();
  kernels::cpu::linear(p);
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(pybench, CPU, m) { m.impl("linear", &linear_cpu); }

}  // namespace pybench::ops
