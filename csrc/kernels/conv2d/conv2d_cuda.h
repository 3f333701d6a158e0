#pragma once
// CUDA conv2d, host side: launch_conv2d runs pybench::kernels::cuda::conv2d_gemm_kernel or
// conv2d_direct_kernel (conv2d_cuda.cuh) on a stream. Torch-free; reports launch errors
// and unsupported sizes as std::runtime_error.
#include <cuda_runtime_api.h>

#include <string>

#include "conv2d/conv2d.h"

namespace pybench::kernels::cuda {

// out = act(conv2d(input, weight) + bias + residual) for p (see Conv2dParams),
// asynchronously on `stream` (p.exec, the CPU threading, is ignored). Every pointer is
// device memory of the current device; p.output must not overlap the inputs or the
// residual. Throws std::runtime_error when a launch fails or a size overflows the
// kernels' 32-bit plane indices.
void launch_conv2d(const Conv2dParams& p, cudaStream_t stream);

// What launch_conv2d would run for p on the current device, for benchmark labels:
// "gemm", "gemm-1x1", "gemm split-K 18" or "direct" (plus " + activation pass" for a split
// convolution with an activation, " x<n> launches" when the batch is sliced), or "none"
// for an empty output. Throws std::runtime_error like launch_conv2d.
std::string conv2d_cuda_plan(const Conv2dParams& p);

}  // namespace pybench::kernels::cuda
