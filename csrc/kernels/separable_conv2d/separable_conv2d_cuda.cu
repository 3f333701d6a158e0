// Host launcher of the CUDA fused separable kernel: geometry and arguments from
// separable_conv2d_cuda.cuh (shared with the emulator tests), an error check after the
// launch. Torch-free: errors are std::runtime_error.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "common/cuda_check.h"
#include "separable_conv2d/separable_conv2d_cuda.cuh"
#include "separable_conv2d/separable_conv2d_cuda.h"

namespace pybench::kernels::cuda {

void launch_separable_conv2d(const SeparableConv2dParams& p, cudaStream_t stream) {
  if (const char* why = separable_cuda_unsupported(p)) {
    throw std::runtime_error(std::string("launch_separable_conv2d: unsupported size: ") + why);
  }
  const SeparableLaunchGeometry g = separable_launch_geometry(p);
  if (g.empty()) return;
  separable_conv2d_kernel<<<dim3(g.grid_x, g.grid_y), dim3(g.threads), 0, stream>>>(
      make_separable_kernel_args(p, g));
  check_cuda(cudaGetLastError(), "launch_separable_conv2d", "separable_conv2d_kernel launch");
}

}  // namespace pybench::kernels::cuda
