#pragma once
// CUDA LSTM kernels, host side: launch_lstm_cell runs one fused step
// (pybench::kernels::cuda::lstm_cell_kernel, lstm_cuda.cuh) and launch_lstm_steps the
// recurrent part of a sequence on a stream. Torch-free; launch errors are std::runtime_error.
#include <cuda_runtime_api.h>

#include "lstm/lstm.h"

namespace pybench::kernels::cuda {

// One step of p (LstmCellParams: raw weights w_ih / w_hh; the packed ones and exec
// are ignored), device pointers of the current device, asynchronously on `stream`.
void launch_lstm_cell(const LstmCellParams& p, cudaStream_t stream);

// The T recurrent steps of p, given p.gates_scratch = x W_ih^T + bias for all T*B rows,
// (T*B, 4H), and p.c_n already holding c0: step t reads h_{t-1} from the output rows of
// step t-1 (h0 at t = 0), writes output rows t, and updates c_n in place. h_n is the
// caller's (a copy of the last output rows). x, w_ih and bias are not read.
// Training (p.cells and p.gates_out set, p.gates_out == p.gates_scratch): also writes c_t
// of every step to cells (c_n is then the caller's copy of the last) and the activated
// gates over the scratch's pre-activations.
void launch_lstm_steps(const LstmSequenceParams& p, cudaStream_t stream);

// One backward step (lstm.h's LstmBackwardStepParams; reads the raw w_hh, not the packed
// panels), device pointers, asynchronously on `stream`.
void launch_lstm_backward_step(const LstmBackwardStepParams& p, cudaStream_t stream);

}  // namespace pybench::kernels::cuda
