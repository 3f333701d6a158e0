#pragma once
// The checks every op makes of each tensor argument, shared by all CPU and CUDA adapters
// (and mirrored by pybench/ops/checks.py's `check_operands` for the fake / meta path), so a
// tensor on another device, a sparse or quantized tensor or a wrong dtype is refused with
// a message naming the argument -- never read as if it were a dense float32 buffer.
//
// Why the device check of every operand matters even though the dispatcher picks one
// backend: it picks by the highest-priority key among ALL tensor arguments, so a CPU input
// with a CUDA weight reaches the CUDA adapter, and a CPU input with a meta weight reaches
// the meta (fake) kernel. Each adapter must therefore check every operand itself.
#include <ATen/ATen.h>

namespace pybench::ops {

// Dense (strided), float32. A quantized tensor has a quantized dtype, so the dtype check
// refuses it too; a sparse or MKL-DNN one fails the layout check first.
inline void check_dense_float(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK_TYPE(t.layout() == at::kStrided, op, ": expected a dense (strided) ", name,
                   ", got one with layout ", t.layout());
  TORCH_CHECK_TYPE(t.scalar_type() == at::kFloat, op, ": expected float32 ", name, ", got ",
                   t.scalar_type());
}

// The first tensor argument, which sets the device: of the backend type that runs it
// (`device`: CPU or CUDA in the adapters; Meta where the test-only check ops stand in
// for a GPU), dense and float32.
inline void check_input_tensor(const char* op, const char* name, const at::Tensor& t,
                               c10::DeviceType device) {
  TORCH_CHECK_VALUE(t.defined(), op, ": ", name, " is an undefined tensor");
  TORCH_CHECK(t.device().type() == device, op, ": expected ", name, " on a ",
              c10::DeviceTypeName(device), " device, got one on ", t.device());
  check_dense_float(op, name, t);
}

// Every other tensor argument: on exactly the device (index included) of the first one,
// `input` (called `input_name` in messages), dense, float32.
inline void check_operand(const char* op, const char* name, const at::Tensor& t,
                          const at::Tensor& input, const char* input_name = "input") {
  TORCH_CHECK_VALUE(t.defined(), op, ": ", name, " is an undefined tensor");
  TORCH_CHECK(t.device() == input.device(), op, ": ", input_name, " is on ", input.device(),
              " but ", name, " is on ", t.device(), " (every tensor argument must be on the ",
              input_name, "'s device)");
  check_dense_float(op, name, t);
}

}  // namespace pybench::ops
