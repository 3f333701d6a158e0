#pragma once
// CUDA fused depthwise-separable convolution, host side: the launcher runs
// separable_conv2d_kernel (separable_conv2d_cuda.cuh) on a stream. Torch-free; launch
// errors and unsupported sizes are std::runtime_error.
#include <cuda_runtime_api.h>

#include "separable_conv2d/separable_conv2d.h"

namespace pybench::kernels::cuda {

// Every pointer is device memory of the current device; the output must not overlap the
// inputs; p.dw.exec (the CPU threading) is ignored.
void launch_separable_conv2d(const SeparableConv2dParams& p, cudaStream_t stream);

}  // namespace pybench::kernels::cuda
