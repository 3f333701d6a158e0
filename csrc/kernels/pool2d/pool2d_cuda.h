#pragma once
// CUDA NCHW pooling, host side: launch_pool2d runs pybench::kernels::cuda::pool2d_kernel
// (pool2d_cuda.cuh) on a stream. Torch-free; reports launch errors as std::runtime_error.
#include <cuda_runtime_api.h>

#include "pool2d/pool2d.h"

namespace pybench::kernels::cuda {

// The pooling p describes (see Pool2dParams), asynchronously on `stream` (p.exec is
// ignored). p.input and p.output are device pointers of the current device and must not
// overlap. Nothing is launched for an empty output. Throws std::runtime_error when the
// launch fails.
void launch_pool2d(const Pool2dParams& p, cudaStream_t stream);

}  // namespace pybench::kernels::cuda
