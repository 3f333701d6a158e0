// CPU backend of pybench::lstm_cell, pybench::lstm and pybench::lstm_pack_weights: the
// shared argument checks, weight packing for the active ISA (unless packed weights are
// passed in), then the ISA-dispatched kernels threaded with at::parallel_for.
#include <torch/library.h>

#include <tuple>
#include <vector>

#include "aten_parallel.h"
#include "common/cpu_isa.h"
#include "lstm/lstm.h"
#include "lstm_args.h"

namespace pybench::ops {
namespace {

namespace kcpu = kernels::cpu;

at::Tensor pack_one(const at::Tensor& w, int64_t hidden, int64_t block) {
  const int64_t k = w.size(1);
  at::Tensor out = at::empty({kernels::ceil_div(hidden, block), k, 4 * block}, w.options());
  if (out.numel() > 0) {
    kcpu::lstm_pack_weights(w.data_ptr<float>(), k, hidden, k, block, out.data_ptr<float>(),
                            aten_parallel_for());
  }
  return out;
}

// The packed weights the kernels read: the caller's, checked against the active ISA's
// layout, or packed now. The scalar reference reads the raw weights and needs none.
kernels::LstmPackedWeights packed_view(const at::Tensor& w, int64_t hidden,
                                       const std::optional<at::Tensor>& given,
                                       const char* name, at::Tensor& storage, const char* op,
                                       kcpu::CpuIsa isa) {
  const int64_t block = kcpu::lstm_pack_block(isa);
  const int64_t k = w.size(1);
  kernels::LstmPackedWeights v;
  v.k = k;
  v.hidden = hidden;
  v.block = block;
  if (given.has_value()) {
    const at::Tensor& t = *given;
    check_operand(op, name, t, w, "the weight");
    const int64_t panels = kernels::ceil_div(hidden, block);
    TORCH_CHECK_VALUE(t.dim() == 3 && t.size(0) == panels && t.size(1) == k &&
                          t.size(2) == 4 * block && t.is_contiguous(),
                      op, ": ", name, " of shape ", t.sizes(),
                      " is not packed for these weights and the active CPU ISA ",
                      kcpu::cpu_isa_name(isa), " (expected a contiguous (", panels, ", ", k,
                      ", ", 4 * block, ") tensor from pybench.ops.lstm_pack_weights)");
    storage = t;
  } else if (isa == kcpu::CpuIsa::scalar) {
    return v;
  } else {
    storage = pack_one(w, hidden, block);
  }
  v.data = storage.data_ptr<float>();
  return v;
}

std::tuple<at::Tensor, at::Tensor> lstm_pack_weights_cpu(const at::Tensor& w_ih,
                                                         const at::Tensor& w_hh) {
  const char* op = "pybench.lstm_pack_weights";
  check_input_tensor(op, "w_ih", w_ih, c10::DeviceType::CPU);
  check_operand(op, "w_hh", w_hh, w_ih, "w_ih");
  TORCH_CHECK_VALUE(w_hh.dim() == 2 && w_hh.size(0) == 4 * w_hh.size(1), op,
                    ": expected w_hh of shape (4*hidden_size, hidden_size), got ", w_hh.sizes());
  const int64_t H = w_hh.size(1);
  TORCH_CHECK_VALUE(w_ih.dim() == 2 && w_ih.size(0) == 4 * H, op,
                    ": expected w_ih of shape (4*hidden_size, input_size) = (", 4 * H,
                    ", input_size), got ", w_ih.sizes());
  const int64_t block = kcpu::lstm_pack_block(kcpu::active_cpu_isa());
  return {pack_one(w_ih.contiguous(), H, block), pack_one(w_hh.contiguous(), H, block)};
}

std::tuple<at::Tensor, at::Tensor> lstm_cell_cpu(
    const at::Tensor& input, const at::Tensor& hx, const at::Tensor& cx, const at::Tensor& w_ih,
    const at::Tensor& w_hh, const std::optional<at::Tensor>& b_ih,
    const std::optional<at::Tensor>& b_hh, const std::optional<at::Tensor>& packed_ih,
    const std::optional<at::Tensor>& packed_hh) {
  const char* op = "pybench.lstm_cell";
  LstmOperands o = prepare_lstm(input, hx, cx, w_ih, w_hh, b_ih, b_hh, false, false,
                                c10::DeviceType::CPU, op, packed_ih, packed_hh);
  at::Tensor hy = at::empty({o.batch, o.hidden}, input.options());
  at::Tensor cy = at::empty({o.batch, o.hidden}, input.options());
  // Packed weights are checked before the empty-batch return: a mismatched pair is an
  // error whatever the batch.
  // One read of the ISA for the packs and the kernel (another thread may switch it).
  const kcpu::CpuIsa isa = kcpu::active_cpu_isa();
  at::Tensor ih_storage, hh_storage;
  const kernels::LstmPackedWeights pih =
      packed_view(o.w_ih, o.hidden, packed_ih, "packed_ih", ih_storage, op, isa);
  const kernels::LstmPackedWeights phh =
      packed_view(o.w_hh, o.hidden, packed_hh, "packed_hh", hh_storage, op, isa);
  if (hy.numel() == 0) return {hy, cy};
  kernels::LstmCellParams p = lstm_cell_params(o, hy, cy);
  p.packed_ih = pih;
  p.packed_hh = phh;
  p.exec = aten_cpu_execution();
  kcpu::lstm_cell_isa(p, isa);
  return {hy, cy};
}

// The forward of pybench::lstm and, with `train`, of pybench::lstm_train: the latter also
// returns the activated gates (T, B, 4H) and cell states (T, B, H) of every step, which
// lstm_backward reads instead of recomputing the forward. The gates buffer doubles as the
// input GEMM's scratch: each step overwrites its rows' pre-activations with their
// activations after reading them.
std::vector<at::Tensor> run_lstm(const char* op, bool train, const at::Tensor& input,
                                 const at::Tensor& hx, const at::Tensor& cx,
                                 const at::Tensor& w_ih, const at::Tensor& w_hh,
                                 const std::optional<at::Tensor>& b_ih,
                                 const std::optional<at::Tensor>& b_hh, bool batch_first,
                                 const std::optional<at::Tensor>& packed_ih,
                                 const std::optional<at::Tensor>& packed_hh) {
  LstmOperands o = prepare_lstm(input, hx, cx, w_ih, w_hh, b_ih, b_hh, true, batch_first,
                                c10::DeviceType::CPU, op, packed_ih, packed_hh);
  const int64_t T = o.seq_len, B = o.batch, H = o.hidden;
  at::Tensor output = batch_first ? at::empty({B, T, H}, input.options())
                                  : at::empty({T, B, H}, input.options());
  at::Tensor h_n = at::empty({B, H}, input.options());
  at::Tensor c_n = at::empty({B, H}, input.options());
  at::Tensor gates = at::empty({T, B, 4 * H}, input.options());
  at::Tensor cells = train ? at::empty({T, B, H}, input.options()) : at::Tensor();
  std::vector<at::Tensor> result{output, h_n, c_n};
  if (train) {
    result.push_back(gates);
    result.push_back(cells);
  }
  // One read of the ISA for the packs and the kernel (another thread may switch it).
  const kcpu::CpuIsa isa = kcpu::active_cpu_isa();
  at::Tensor ih_storage, hh_storage;
  kernels::LstmSequenceParams p;
  p.packed_ih = packed_view(o.w_ih, H, packed_ih, "packed_ih", ih_storage, op, isa);
  p.packed_hh = packed_view(o.w_hh, H, packed_hh, "packed_hh", hh_storage, op, isa);
  if (B == 0 || H == 0) return result;
  p.seq_len = T;
  p.batch = B;
  p.input_size = o.input_size;
  p.hidden_size = H;
  p.x = o.input.data_ptr<float>();
  p.x_stride_t = o.input.stride(batch_first ? 1 : 0);
  p.x_stride_b = o.input.stride(batch_first ? 0 : 1);
  p.h0 = o.hx.data_ptr<float>();
  p.c0 = o.cx.data_ptr<float>();
  p.w_ih = o.w_ih.data_ptr<float>();
  p.w_hh = o.w_hh.data_ptr<float>();
  p.bias = o.bias.has_value() ? o.bias->data_ptr<float>() : nullptr;
  p.output = output.data_ptr<float>();
  p.out_stride_t = batch_first ? H : B * H;
  p.out_stride_b = batch_first ? T * H : H;
  p.h_n = h_n.data_ptr<float>();
  p.c_n = c_n.data_ptr<float>();
  p.gates_scratch = gates.data_ptr<float>();
  if (train && T > 0) {
    p.gates_out = gates.data_ptr<float>();
    p.cells = cells.data_ptr<float>();
  }
  p.exec = aten_cpu_execution();
  kcpu::lstm_sequence_isa(p, isa);
  return result;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> lstm_cpu(
    const at::Tensor& input, const at::Tensor& hx, const at::Tensor& cx, const at::Tensor& w_ih,
    const at::Tensor& w_hh, const std::optional<at::Tensor>& b_ih,
    const std::optional<at::Tensor>& b_hh, bool batch_first,
    const std::optional<at::Tensor>& packed_ih, const std::optional<at::Tensor>& packed_hh) {
  auto r = run_lstm("pybench.lstm", false, input, hx, cx, w_ih, w_hh, b_ih, b_hh, batch_first,
                    packed_ih, packed_hh);
  return {r[0], r[1], r[2]};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> lstm_train_cpu(
    const at::Tensor& input, const at::Tensor& hx, const at::Tensor& cx, const at::Tensor& w_ih,
    const at::Tensor& w_hh, const std::optional<at::Tensor>& b_ih,
    const std::optional<at::Tensor>& b_hh, bool batch_first,
    const std::optional<at::Tensor>& packed_ih, const std::optional<at::Tensor>& packed_hh) {
  auto r = run_lstm("pybench.lstm_train", true, input, hx, cx, w_ih, w_hh, b_ih, b_hh,
                    batch_first, packed_ih, packed_hh);
  return {r[0], r[1], r[2], r[3], r[4]};
}

// The backward (lstm_args.h's lstm_backward_impl) with the CPU step kernels of the active
// ISA, W_hh packed by column panels once per call (4H x H floats: cheap beside T steps).
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
lstm_backward_cpu(const std::optional<at::Tensor>& grad_output,
                  const std::optional<at::Tensor>& grad_h_n,
                  const std::optional<at::Tensor>& grad_c_n, const at::Tensor& input,
                  const at::Tensor& hx, const at::Tensor& cx, const at::Tensor& w_ih,
                  const at::Tensor& w_hh, const at::Tensor& output, const at::Tensor& gates,
                  const at::Tensor& cells, bool batch_first, bool input_grad) {
  const kcpu::CpuIsa isa = kcpu::active_cpu_isa();
  at::Tensor packed;
  return lstm_backward_impl(
      c10::DeviceType::CPU, grad_output, grad_h_n, grad_c_n, input, hx, cx, w_ih, w_hh, output,
      gates, cells, batch_first, input_grad,
      [&](kernels::LstmBackwardStepParams& s) {
        s.exec = aten_cpu_execution();
        if (isa == kcpu::CpuIsa::scalar) return;  // the reference reads w_hh
        const int64_t block = kcpu::lstm_pack_block(isa), H = s.hidden_size;
        packed = at::empty({kernels::lstm_hh_columns_floats(H, block)}, input.options());
        kcpu::lstm_pack_hh_columns(s.w_hh, H, block, packed.data_ptr<float>());
        s.packed_hh_t = {packed.data_ptr<float>(), 4 * H, H, block};
      },
      [&](const kernels::LstmBackwardStepParams& s) { kcpu::lstm_backward_step_isa(s, isa); });
}

}  // namespace

TORCH_LIBRARY_IMPL(pybench, CPU, m) {
  m.impl("lstm_pack_weights", &lstm_pack_weights_cpu);
  m.impl("lstm_cell", &lstm_cell_cpu);
  m.impl("lstm", &lstm_cpu);
  m.impl("lstm_train", &lstm_train_cpu);
  m.impl("lstm_backward", &lstm_backward_cpu);
}

}  // namespace pybench::ops
