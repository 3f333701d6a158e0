// CUDA backend of pybench::lstm_cell, lstm, lstm_train and lstm_backward: the shared
// argument checks, then the fused step kernels on the current stream of the input's
// device. The sequence's input product of all steps is one cuBLAS GEMM (at::addmm) before
// the per-step kernels. The packed CPU weights (packed_ih / packed_hh) are checked like every operand, not read.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <stdexcept>
#include <tuple>
#include <vector>

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

// The forward of pybench::lstm and, with `train`, of pybench::lstm_train, which also
// returns the activated gates (T, B, 4H, written over the input product's rows) and the
// cell states (T, B, H) of every step for lstm_backward.
std::vector<at::Tensor> run_lstm_cuda(const char* op, bool train, const at::Tensor& input,
                                      const at::Tensor& hx, const at::Tensor& cx,
                                      const at::Tensor& w_ih, const at::Tensor& w_hh,
                                      const std::optional<at::Tensor>& b_ih,
                                      const std::optional<at::Tensor>& b_hh, bool batch_first,
                                      const std::optional<at::Tensor>& packed_ih,
                                      const std::optional<at::Tensor>& packed_hh) {
  LstmOperands o = prepare_lstm(input, hx, cx, w_ih, w_hh, b_ih, b_hh, true, batch_first,
                                c10::DeviceType::CUDA, op, packed_ih, packed_hh);
  const c10::cuda::CUDAGuard guard(input.device());
  const int64_t T = o.seq_len, B = o.batch, H = o.hidden, I = o.input_size;
  at::Tensor output = batch_first ? at::empty({B, T, H}, input.options())
                                  : at::empty({T, B, H}, input.options());
  at::Tensor c_n = o.cx.clone();
  at::Tensor gates = at::empty({T, B, 4 * H}, input.options());
  at::Tensor cells = at::empty({T, B, H}, input.options());
  auto result = [&](at::Tensor h_n) {
    std::vector<at::Tensor> r{output, h_n, c_n};
    if (train) {
      r.push_back(gates);
      r.push_back(cells);
    }
    return r;
  };
  if (B == 0 || H == 0) return result(at::empty({B, H}, input.options()));
  if (T == 0) return result(o.hx.clone());
  // Rows in (t, b) order, as the steps read them: one GEMM for every step's x W_ih^T + b.
  at::Tensor x = (batch_first ? o.input.transpose(0, 1) : o.input).reshape({T * B, I});
  at::Tensor g2 = gates.view({T * B, 4 * H});
  if (o.bias.has_value()) {
    at::addmm_out(g2, *o.bias, x, o.w_ih.t());
  } else {
    at::mm_out(g2, x, o.w_ih.t());
  }
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
  if (train) {
    p.gates_out = gates.data_ptr<float>();
    p.cells = cells.data_ptr<float>();
  }
  try {
    kernels::cuda::launch_lstm_steps(p, at::cuda::getCurrentCUDAStream());
  } catch (const std::runtime_error& e) {
    TORCH_CHECK(false, op, ": ", e.what());
  }
  if (train) c_n.copy_(cells.select(0, T - 1));
  return result((batch_first ? output.select(1, T - 1) : output.select(0, T - 1)).clone());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> lstm_cuda(
    const at::Tensor& input, const at::Tensor& hx, const at::Tensor& cx, const at::Tensor& w_ih,
    const at::Tensor& w_hh, const std::optional<at::Tensor>& b_ih,
    const std::optional<at::Tensor>& b_hh, bool batch_first,
    const std::optional<at::Tensor>& packed_ih, const std::optional<at::Tensor>& packed_hh) {
  auto r = run_lstm_cuda("pybench.lstm", false, input, hx, cx, w_ih, w_hh, b_ih, b_hh,
                         batch_first, packed_ih, packed_hh);
  return {r[0], r[1], r[2]};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> lstm_train_cuda(
    const at::Tensor& input, const at::Tensor& hx, const at::Tensor& cx, const at::Tensor& w_ih,
    const at::Tensor& w_hh, const std::optional<at::Tensor>& b_ih,
    const std::optional<at::Tensor>& b_hh, bool batch_first,
    const std::optional<at::Tensor>& packed_ih, const std::optional<at::Tensor>& packed_hh) {
  auto r = run_lstm_cuda("pybench.lstm_train", true, input, hx, cx, w_ih, w_hh, b_ih, b_hh,
                         batch_first, packed_ih, packed_hh);
  return {r[0], r[1], r[2], r[3], r[4]};
}

// The backward (lstm_args.h's lstm_backward_impl) with the CUDA step kernel on the current
// stream; the weight gradients' GEMMs run on cuBLAS through ATen.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
lstm_backward_cuda(const std::optional<at::Tensor>& grad_output,
                   const std::optional<at::Tensor>& grad_h_n,
                   const std::optional<at::Tensor>& grad_c_n, const at::Tensor& input,
                   const at::Tensor& hx, const at::Tensor& cx, const at::Tensor& w_ih,
                   const at::Tensor& w_hh, const at::Tensor& output, const at::Tensor& gates,
                   const at::Tensor& cells, bool batch_first, bool input_grad) {
  const c10::cuda::CUDAGuard guard(input.device());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  return lstm_backward_impl(
      c10::DeviceType::CUDA, grad_output, grad_h_n, grad_c_n, input, hx, cx, w_ih, w_hh,
      output, gates, cells, batch_first, input_grad, [](kernels::LstmBackwardStepParams&) {},
      [&](const kernels::LstmBackwardStepParams& s) {
        try {
          kernels::cuda::launch_lstm_backward_step(s, stream);
        } catch (const std::runtime_error& e) {
          TORCH_CHECK(false, "pybench.lstm_backward: ", e.what());
        }
      });
}

}  // namespace

TORCH_LIBRARY_IMPL(pybench, CUDA, m) {
  m.impl("lstm_cell", &lstm_cell_cuda);
  m.impl("lstm", &lstm_cuda);
  m.impl("lstm_train", &lstm_train_cuda);
  m.impl("lstm_backward", &lstm_backward_cuda);
}

}  // namespace pybench::ops
