#pragma once
// CUDA Gram kernels, host side: launch_gram runs pybench::kernels::cuda::gram_kernel
// (gram_cuda.cuh), launch_gram_backward gram_backward_kernel (gram_backward_cuda.cuh), on
// a stream. Torch-free; reports launch errors as std::runtime_error.
#include <cuda_runtime_api.h>

#include "gram/gram.h"

namespace pybench::kernels::cuda {

// G = scale * F F^T for every map of p (see GramParams), asynchronously on `stream`
// (p.exec is ignored). p.features and p.gram are device pointers of the current
// device. Throws std::runtime_error when a launch fails.
void launch_gram(const GramParams& p, cudaStream_t stream);

// dF = scale * (dG + dG^T) F for every map of p (see GramBackwardParams), asynchronously
// on `stream` (p.exec is ignored). p.grad, p.features and p.grad_features are device
// pointers of the current device; dF must not overlap the inputs. Nothing is launched
// when batch, C or L is 0. Throws std::runtime_error when the launch fails.
void launch_gram_backward(const GramBackwardParams& p, cudaStream_t stream);

}  // namespace pybench::kernels::cuda
