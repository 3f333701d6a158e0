// Host launcher of the CUDA depthwise kernel: geometry and arguments from
// depthwise_conv2d_cuda.cuh (shared with the emulator tests), an error check after the
// launch. Torch-free: errors are std::runtime_error.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "common/cuda_check.h"
#include "depthwise_conv2d/depthwise_conv2d_cuda.cuh"
#include "depthwise_conv2d/depthwise_conv2d_cuda.h"

namespace pybench::kernels::cuda {

void launch_depthwise_conv2d(const DepthwiseConv2dParams& p, cudaStream_t stream) {
  if (const char* why = depthwise_cuda_unsupported(p)) {
    throw std::runtime_error(std::string("launch_depthwise_conv2d: unsupported size: ") + why);
  }
  // The epilogue fields are for conv2d's CPU delegation (depthwise_conv2d.h); refused
  // here rather than silently dropped.
  if (p.residual != nullptr || p.activation != Activation::none) {
    throw std::runtime_error("launch_depthwise_conv2d: no residual or activation epilogue");
  }
  const DepthwiseLaunchGeometry g = depthwise_launch_geometry(p);
  if (g.empty()) return;
  if (g.dynamic_smem_bytes > kDwMaxSharedBytes) {
    throw std::runtime_error(
        "launch_depthwise_conv2d: unsupported size: the input window of a tile needs " +
        std::to_string(g.dynamic_smem_bytes) + " bytes of shared memory (kernel / dilation too large)");
  }
  depthwise_conv2d_kernel<<<dim3(g.grid_x, g.grid_y), dim3(g.threads),
                            static_cast<size_t>(g.dynamic_smem_bytes), stream>>>(
      make_depthwise_kernel_args(p, g));
  check_cuda(cudaGetLastError(), "launch_depthwise_conv2d", "depthwise_conv2d_kernel launch");
}

}  // namespace pybench::kernels::cuda
