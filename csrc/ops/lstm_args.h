#pragma once
// Argument checks shared by the CPU and CUDA LSTM adapters, so both backends reject the
// same inputs with the same messages.
#include <ATen/ATen.h>

#include <optional>

#include "lstm/lstm.h"
#include "tensor_checks.h"

namespace pybench::ops {

// The operands after the checks: weights and states contiguous, the input with a
// contiguous last dimension, one combined bias (b_ih + b_hh) or none.
struct LstmOperands {
  at::Tensor input, hx, cx, w_ih, w_hh;
  std::optional<at::Tensor> bias;
  int64_t batch = 0, input_size = 0, hidden = 0, seq_len = 1;
};

// The four tensors every LSTM op takes besides the input, checked against it.
inline void check_lstm_tensors(const char* op, const at::Tensor& input, c10::DeviceType device,
                               const at::Tensor& hx, const at::Tensor& cx,
                               const at::Tensor& w_ih, const at::Tensor& w_hh) {
  check_input_tensor(op, "input", input, device);
  check_operand(op, "hx", hx, input);
  check_operand(op, "cx", cx, input);
  check_operand(op, "w_ih", w_ih, input);
  check_operand(op, "w_hh", w_hh, input);
}

// `sequence`: input is (T, B, I), or (B, T, I) with batch_first; else (B, I).
inline LstmOperands prepare_lstm(const at::Tensor& input, const at::Tensor& hx,
                                 const at::Tensor& cx, const at::Tensor& w_ih,
                                 const at::Tensor& w_hh, const std::optional<at::Tensor>& b_ih,
                                 const std::optional<at::Tensor>& b_hh, bool sequence,
                                 bool batch_first, c10::DeviceType device, const char* op,
                                 const std::optional<at::Tensor>& packed_ih,
                                 const std::optional<at::Tensor>& packed_hh) {
  check_lstm_tensors(op, input, device, hx, cx, w_ih, w_hh);
  // Only the CPU kernels read packed weights, but every backend refuses a misplaced one.
  if (packed_ih.has_value()) check_operand(op, "packed_ih", *packed_ih, input);
  if (packed_hh.has_value()) check_operand(op, "packed_hh", *packed_hh, input);
  if (sequence) {
    TORCH_CHECK_VALUE(input.dim() == 3, op, ": expected input of rank 3 (",
                      batch_first ? "batch, seq_len" : "seq_len, batch",
                      ", input_size), got rank ", input.dim(), " with shape ", input.sizes());
  } else {
    TORCH_CHECK_VALUE(input.dim() == 2, op,
                      ": expected input of rank 2 (batch, input_size), got rank ", input.dim(),
                      " with shape ", input.sizes());
  }
  TORCH_CHECK_VALUE(w_hh.dim() == 2, op, ": expected w_hh of rank 2 (4*hidden_size, hidden_size), got shape ",
                    w_hh.sizes());
  TORCH_CHECK_VALUE(w_ih.dim() == 2, op, ": expected w_ih of rank 2 (4*hidden_size, input_size), got shape ",
                    w_ih.sizes());
  const int64_t H = w_hh.size(1);
  TORCH_CHECK_VALUE(w_hh.size(0) == 4 * H, op, ": expected w_hh of shape (4*hidden_size, hidden_size) = (",
                    4 * H, ", ", H, ") (gates i, f, g, o), got ", w_hh.sizes());
  const int64_t I = input.size(-1);
  TORCH_CHECK_VALUE(w_ih.size(0) == 4 * H && w_ih.size(1) == I, op,
                    ": expected w_ih of shape (4*hidden_size, input_size) = (", 4 * H, ", ", I,
                    "), got ", w_ih.sizes());
  const int64_t B = sequence ? input.size(batch_first ? 0 : 1) : input.size(0);
  TORCH_CHECK_VALUE(hx.dim() == 2 && hx.size(0) == B && hx.size(1) == H, op,
                    ": expected hx of shape (batch, hidden_size) = (", B, ", ", H, "), got ",
                    hx.sizes());
  TORCH_CHECK_VALUE(cx.dim() == 2 && cx.size(0) == B && cx.size(1) == H, op,
                    ": expected cx of shape (batch, hidden_size) = (", B, ", ", H, "), got ",
                    cx.sizes());
  LstmOperands o;
  for (const auto* b : {&b_ih, &b_hh}) {
    if (!b->has_value()) continue;
    const char* name = b == &b_ih ? "b_ih" : "b_hh";
    check_operand(op, name, **b, input);
    TORCH_CHECK_VALUE((*b)->dim() == 1 && (*b)->size(0) == 4 * H, op, ": expected ", name,
                      " of shape (4*hidden_size) = (", 4 * H, "), got ", (*b)->sizes());
    o.bias = o.bias.has_value() ? at::add(*o.bias, **b) : (*b)->contiguous();
  }
  o.input = input.size(-1) > 1 && input.stride(-1) != 1 ? input.contiguous() : input;
  o.hx = hx.contiguous();
  o.cx = cx.contiguous();
  o.w_ih = w_ih.contiguous();
  o.w_hh = w_hh.contiguous();
  o.batch = B;
  o.input_size = I;
  o.hidden = H;
  if (sequence) o.seq_len = input.size(batch_first ? 1 : 0);
  return o;
}

// A cell step's params for both backends: checked operands in, (hy, cy) out, every
// state row `hidden` floats apart. The backend adds its packed weights or threads.
inline kernels::LstmCellParams lstm_cell_params(const LstmOperands& o, at::Tensor& hy,
                                                at::Tensor& cy) {
  kernels::LstmCellParams p;
  p.batch = o.batch;
  p.input_size = o.input_size;
  p.hidden_size = o.hidden;
  p.x = o.input.data_ptr<float>();
  p.ldx = o.input.stride(0);
  p.h = o.hx.data_ptr<float>();
  p.ldh = o.hidden;
  p.c = o.cx.data_ptr<float>();
  p.ldc = o.hidden;
  p.w_ih = o.w_ih.data_ptr<float>();
  p.w_hh = o.w_hh.data_ptr<float>();
  p.bias = o.bias.has_value() ? o.bias->data_ptr<float>() : nullptr;
  p.h_out = hy.data_ptr<float>();
  p.ld_h_out = o.hidden;
  p.c_out = cy.data_ptr<float>();
  p.ld_c_out = o.hidden;
  return p;
}

}  // namespace pybench::ops
