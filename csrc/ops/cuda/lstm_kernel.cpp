// CUDA backend of pybench::lstm_cell and pybench::lstm: the shared argument checks, then
// the fused step kernel on the current stream of the input's device. The sequence's input
// product of all steps is one cuBLAS GEMM (at::addmm) before the per-step kernels. The
// packed CPU weights (packed_ih / packed_hh) are checked like every operand, not read.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <stdexcept>
#include <tuple>

#include "lstm/lstm_cuda.h"
#include "lstm_args.h"

namespace pybench::ops {
namespace {

std::tuple<at::Tensor, at::Tensor> lstm_cell_cuda(
    const at::Tensor& input, const at::Tensor& hx, const at::Tensor& cx, const at::Tensor& w_ih,
    const at::Tensor& w_hh, const std::optional<at::Tensor>& b_ih,
    const std::optional<at::Tensor>& b_hh, const std::optional<at::Tensor>& packed_ih,
    const std::optional<at::Tensor>& packed_hh) {
  const char* op = "pybench.lstm_cell";
  LstmOperands o = prepare_lstm(input, hx, cx, w_ih, w_hh, b_ih, b_hh, false, false,
                                c10::DeviceType::CUDA, op, packed_ih, packed_hh);
  const c10::cuda::CUDAGuard guard(input.device());
  at::Tensor hy = at::empty({o.batch, o.hidden}, input.options());
  at::Tensor cy = at::empty({o.batch, o.hidden}, input.options());
  if (hy.numel() == 0) return {hy, cy};
  const kernels::LstmCellParams p = lstm_cell_params(o, hy, cy);
  try {
    kernels::cuda::launch_lstm_cell(p, at::cuda::getCurrentCUDAStream());
  } catch (const std::runtime_error& e) {
    TORCH_CHECK(false, op, ": ", e.what());
  }
  return {hy, cy};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> lstm_cuda(
    const at::Tensor& input, const at::Tensor& hx, const at::Tensor& cx, const at::Tensor& w_ih,
    const at::Tensor& w_hh, const std::optional<at::Tensor>& b_ih,
    const std::optional<at::Tensor>& b_hh, bool batch_first,
    const std::optional<at::Tensor>& packed_ih, const std::optional<at::Tensor>& packed_hh) {
  const char* op = "pybench.lstm";
  LstmOperands o = prepare_lstm(input, hx, cx, w_ih, w_hh, b_ih, b_hh, true, batch_first,
                                c10::DeviceType::CUDA, op, packed_ih, packed_hh);
  const c10::cuda::CUDAGuard guard(input.device());
  const int64_t T = o.seq_len, B = o.batch, H = o.hidden, I = o.input_size;
  at::Tensor output = batch_first ? at::empty({B, T, H}, input.options())
                                  : at::empty({T, B, H}, input.options());
  at::Tensor c_n = o.cx.clone();
  if (B == 0 || H == 0) return {output, at::empty({B, H}, input.options()), c_n};
  if (T == 0) return {output, o.hx.clone(), c_n};
  // Rows in (t, b) order, as the steps read them: one GEMM for every step's x W_ih^T + b.
  at::Tensor x = (batch_first ? o.input.transpose(0, 1) : o.input).reshape({T * B, I});
  at::Tensor gates = o.bias.has_value() ? at::addmm(*o.bias, x, o.w_ih.t())
                                        : at::mm(x, o.w_ih.t());
  gates = gates.contiguous();
  kernels::LstmSequenceParams p;
  p.seq_len = T;
  p.batch = B;
  p.input_size = I;
  p.hidden_size = H;
  p.h0 = o.hx.data_ptr<float>();
  p.w_hh = o.w_hh.data_ptr<float>();
  p.output = output.data_ptr<float>();
  p.out_stride_t = batch_first ? H : B * H;
  p.out_stride_b = batch_first ? T * H : H;
  p.c_n = c_n.data_ptr<float>();
  p.gates_scratch = gates.data_ptr<float>();
  try {
    kernels::cuda::launch_lstm_steps(p, at::cuda::getCurrentCUDAStream());
  } catch (const std::runtime_error& e) {
    TORCH_CHECK(false, op, ": ", e.what());
  }
  at::Tensor h_n = (batch_first ? output.select(1, T - 1) : output.select(0, T - 1)).clone();
  return {output, h_n, c_n};
}

}  // namespace

TORCH_LIBRARY_IMPL(pybench, CUDA, m) {
  m.impl("lstm_cell", &lstm_cell_cuda);
  m.impl("lstm", &lstm_cuda);
}

}  // namespace pybench::ops
