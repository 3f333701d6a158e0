#pragma once
// Argument checks shared by the CPU and CUDA LSTM adapters, so both backends reject the
// same inputs with the same messages.
#include <ATen/ATen.h>

#include <optional>
#include <tuple>
#include <vector>

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

// Back-propagation through time for pybench::lstm_train, shared by the CPU and CUDA
// adapters: the recurrence runs one fused kernel per step (lstm_backward_step: dh = grad +
// dG_{t+1} W_hh with the gate derivatives in its epilogue); the gradients of the weights, the bias and the input are then GEMMs
// over all T*B rows of dG at once -- large, regular products with nothing to fuse, which
// ATen hands to MKL / oneDNN at full efficiency (as cuDNN's RNN backward hands its weight
// gradients to cuBLAS). Returns (d_input, d_hx, d_cx, d_w_ih, d_w_hh, d_bias); d_input is
// an empty tensor unless input_grad.
// `setup` completes the step parameters once (the CPU packs W_hh and sets its threads);
// `step` runs one step on the backend.
template <class Setup, class Step>
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
lstm_backward_impl(c10::DeviceType device, const std::optional<at::Tensor>& grad_output,
                   const std::optional<at::Tensor>& grad_h_n,
                   const std::optional<at::Tensor>& grad_c_n, const at::Tensor& input,
                   const at::Tensor& hx, const at::Tensor& cx, const at::Tensor& w_ih,
                   const at::Tensor& w_hh, const at::Tensor& output, const at::Tensor& gates,
                   const at::Tensor& cells, bool batch_first, bool input_grad, Setup&& setup,
                   Step&& step) {
  const char* op = "pybench.lstm_backward";
  LstmOperands o = prepare_lstm(input, hx, cx, w_ih, w_hh, std::nullopt, std::nullopt, true,
                                batch_first, device, op, std::nullopt, std::nullopt);
  const int64_t T = o.seq_len, B = o.batch, H = o.hidden, I = o.input_size;
  const auto expect = [&](const at::Tensor& t, const char* name, at::IntArrayRef shape) {
    check_operand(op, name, t, input);
    TORCH_CHECK_VALUE(t.sizes() == shape, op, ": expected ", name, " of shape ", shape,
                      " (from pybench.lstm_train with these operands), got ", t.sizes());
  };
  const std::vector<int64_t> out_shape =
      batch_first ? std::vector<int64_t>{B, T, H} : std::vector<int64_t>{T, B, H};
  expect(output, "output", out_shape);
  expect(gates, "gates", {T, B, 4 * H});
  expect(cells, "cells", {T, B, H});
  if (grad_output.has_value()) expect(*grad_output, "grad_output", out_shape);
  if (grad_h_n.has_value()) expect(*grad_h_n, "grad_h_n", {B, H});
  if (grad_c_n.has_value()) expect(*grad_c_n, "grad_c_n", {B, H});
  const auto opts = input.options();

  // The gradient reaching each h_t from outside the recurrence, time-major and dense.
  at::Tensor gout = grad_output.has_value()
                        ? (batch_first ? grad_output->transpose(0, 1) : *grad_output)
                              .clone(at::MemoryFormat::Contiguous)
                        : at::zeros({T, B, H}, opts);
  at::Tensor dc = grad_c_n.has_value() ? grad_c_n->clone(at::MemoryFormat::Contiguous)
                                       : at::zeros({B, H}, opts);
  at::Tensor dhx = at::empty({B, H}, opts);
  at::Tensor dgates = at::empty({T, B, 4 * H}, opts);
  if (T == 0 || B == 0 || H == 0) {
    if (grad_h_n.has_value()) dhx.copy_(*grad_h_n); else dhx.zero_();
    return {input_grad ? at::zeros_like(input) : at::empty({0}, opts), dhx, dc,
            at::zeros_like(w_ih), at::zeros_like(w_hh), at::zeros({4 * H}, opts)};
  }
  if (grad_h_n.has_value()) gout.select(0, T - 1).add_(*grad_h_n);
  const at::Tensor g = gates.contiguous(), c = cells.contiguous();

  kernels::LstmBackwardStepParams s;
  s.batch = B;
  s.hidden_size = H;
  s.w_hh = o.w_hh.data_ptr<float>();
  setup(s);
  s.ld_grad_h = H;
  s.dc = dc.data_ptr<float>();
  float* dg = dgates.data_ptr<float>();
  for (int64_t t = T - 1; t >= 0; --t) {
    s.dgates_next = t == T - 1 ? nullptr : dg + (t + 1) * B * 4 * H;
    s.grad_h = gout.data_ptr<float>() + t * B * H;
    s.gates = g.data_ptr<float>() + t * B * 4 * H;
    s.c = c.data_ptr<float>() + t * B * H;
    s.c_prev = t == 0 ? o.cx.data_ptr<float>() : c.data_ptr<float>() + (t - 1) * B * H;
    s.dgates = dg + t * B * 4 * H;
    step(s);
  }
  // d(h_0) = dG_0 W_hh: the product of a step without its epilogue.
  s.dgates_next = dg;
  s.grad_h = nullptr;
  s.gates = nullptr;
  s.dh_out = dhx.data_ptr<float>();
  step(s);

  const at::Tensor g2 = dgates.view({T * B, 4 * H});
  const at::Tensor x_tm = batch_first ? o.input.transpose(0, 1) : o.input;
  at::Tensor d_w_ih = at::mm(g2.t(), x_tm.reshape({T * B, I}));
  // h_{t-1} of every step: h_0, then the outputs of steps 0 .. T-2.
  at::Tensor d_w_hh = at::mm(dgates.select(0, 0).t(), o.hx);
  if (T > 1) {
    const at::Tensor out_tm = batch_first ? output.transpose(0, 1) : output;
    d_w_hh.addmm_(dgates.narrow(0, 1, T - 1).reshape({(T - 1) * B, 4 * H}).t(),
                  out_tm.narrow(0, 0, T - 1).reshape({(T - 1) * B, H}));
  }
  at::Tensor d_bias = g2.sum(0);
  at::Tensor d_input = at::empty({0}, opts);
  if (input_grad) {
    d_input = at::mm(g2, o.w_ih).view({T, B, I});
    if (batch_first) d_input = d_input.transpose(0, 1).contiguous();
  }
  return {d_input, dhx, dc, d_w_ih, d_w_hh, d_bias};
}

}  // namespace pybench::ops
