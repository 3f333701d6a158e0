#pragma once
// CUDA Gram kernel, host side: launch_gram runs pybench::kernels::cuda::gram_kernel
// (gram_cuda.cuh) on a stream. Torch-free; reports launch errors as std::runtime_error.
#include <cuda_runtime_api.h>

#include "gram/gram.h"

namespace pybench::kernels::cuda {

// G = scale * F F^T for every map of p (see GramParams), asynchronously on `stream`
// (p.exec is ignored). p.features and p.gram are device pointers of the current
// device. Throws std::runtime_error when a launch fails.
void launch_gram(const GramParams& p, cudaStream_t stream);

}  // namespace pybench::kernels::cuda
