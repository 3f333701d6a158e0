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
  a.ld_h_out = p.out_stride_b;
  a.batch = B;
  a.input_size = p.input_size;
  a.hidden = H;
  for (int64_t t = 0; t < T; ++t) {
    a.h = t == 0 ? p.h0 : p.output + (t - 1) * p.out_stride_t;
    a.ldh = t == 0 ? H : p.out_stride_b;
    a.gates_x = p.gates_scratch + t * B * 4 * H;
    a.h_out = p.output + t * p.out_stride_t;
    launch(a, stream, "launch_lstm_steps");
  }
}

}  // namespace pybench::kernels::cuda
