#pragma once
// CUDA depthwise convolution, host side: the launcher runs depthwise_conv2d_kernel
// (depthwise_conv2d_cuda.cuh) on a stream. Torch-free; launch errors and unsupported
// sizes are std::runtime_error. The fused separable op's launcher is in
// separable_conv2d/separable_conv2d_cuda.h.
#include <cuda_runtime_api.h>

#include "depthwise_conv2d/depthwise_conv2d.h"

namespace pybench::kernels::cuda {

// Every pointer is device memory of the current device; the output must not overlap the
// inputs; p.exec (the CPU threading) is ignored.
void launch_depthwise_conv2d(const DepthwiseConv2dParams& p, cudaStream_t stream);

}  // namespace pybench::kernels::cuda
