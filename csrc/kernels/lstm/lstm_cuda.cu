// Host launchers of the CUDA LSTM kernel: geometry from lstm_launch_geometry (shared with
// the emulator tests), an error check after every launch. Torch-free.
#include <cuda_runtime.h>

#include "common/cuda_check.h"
#include "lstm/lstm_cuda.cuh"
#include "lstm/lstm_cuda.h"

namespace pybench::kernels::cuda {
namespace {

LstmCudaArgs cell_args(const LstmCellParams& p) {
  LstmCudaArgs a;
  a.x = p.x;
  a.ldx = p.ldx;
  a.h = p.h;
  a.ldh = p.ldh;
  a.c = p.c;
  a.ldc = p.ldc;
  a.w_ih = p.w_ih;
  a.w_hh = p.w_hh;
  a.bias = p.bias;
  a.gates_x = p.gates_x;
  a.ld_gates_x = p.ld_gates_x;
  a.h_out = p.h_out;
  a.ld_h_out = p.ld_h_out;
  a.c_out = p.c_out;
  a.ld_c_out = p.ld_c_out;
  a.batch = p.batch;
  a.input_size = p.input_size;
  a.hidden = p.hidden_size;
  return a;
}

void launch(const LstmCudaArgs& a, cudaStream_t stream, const char* launcher) {
  const LstmLaunchGeometry g = lstm_launch_geometry(a.batch, a.hidden);
  if (g.empty()) return;
  lstm_cell_kernel<<<dim3(static_cast<unsigned>(g.grid_x), static_cast<unsigned>(g.grid_y)),
                     dim3(g.threads_x, g.threads_y), 0, stream>>>(a);
  check_cuda(cudaGetLastError(), launcher, "lstm_cell_kernel launch");
}

}  // namespace

void launch_lstm_cell(const LstmCellParams& p, cudaStream_t stream) {
  launch(cell_args(p), stream, "launch_lstm_cell");
}

void launch_lstm_steps(const LstmSequenceParams& p, cudaStream_t stream) {
  const int64_t T = p.seq_len, B = p.batch, H = p.hidden_size;
  LstmCudaArgs a;
  a.w_hh = p.w_hh;
  a.c = p.c_n;
  a.ldc = H;
  a.c_out = p.c_n;
  a.ld_c_out = H;
  a.ld_gates_x = 4 * H;
  a.ld_gates_out = 4 * H;
  a.ld_h_out = p.out_stride_b;
  a.batch = B;
  a.input_size = p.input_size;
  a.hidden = H;
  for (int64_t t = 0; t < T; ++t) {
    a.h = t == 0 ? p.h0 : p.output + (t - 1) * p.out_stride_t;
    a.ldh = t == 0 ? H : p.out_stride_b;
    a.gates_x = p.gates_scratch + t * B * 4 * H;
    a.h_out = p.output + t * p.out_stride_t;
    if (p.cells != nullptr) {  // training: c_t to its own rows, the activations over gates_x
      a.c = t == 0 ? p.c_n : p.cells + (t - 1) * B * H;
      a.c_out = p.cells + t * B * H;
      a.gates_out = p.gates_out + t * B * 4 * H;
    }
    launch(a, stream, "launch_lstm_steps");
  }
}

void launch_lstm_backward_step(const LstmBackwardStepParams& p, cudaStream_t stream) {
  const LstmLaunchGeometry g = lstm_launch_geometry(p.batch, p.hidden_size);
  if (g.empty()) return;
  LstmBackwardCudaArgs a;
  a.dgates_next = p.dgates_next;
  a.w_hh = p.w_hh;
  a.grad_h = p.grad_h;
  a.ld_grad_h = p.ld_grad_h;
  a.gates = p.gates;
  a.c = p.c;
  a.c_prev = p.c_prev;
  a.dc = p.dc;
  a.dgates = p.dgates;
  a.dh_out = p.dh_out;
  a.batch = p.batch;
  a.hidden = p.hidden_size;
  lstm_backward_step_kernel<<<dim3(static_cast<unsigned>(g.grid_x),
                                   static_cast<unsigned>(g.grid_y)),
                              dim3(g.threads_x, g.threads_y), 0, stream>>>(a);
  check_cuda(cudaGetLastError(), "launch_lstm_backward_step", "lstm_backward_step_kernel launch");
}

}  // namespace pybench::kernels::cuda
