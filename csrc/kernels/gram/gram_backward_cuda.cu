// Host launcher of the CUDA Gram backward kernel: geometry from gram_backward_launch_geometry
// (shared with the emulator tests), one launch, an error check after it. Torch-free: errors
// are std::runtime_error.
#include <cuda_runtime.h>

#include "common/cuda_check.h"
#include "gram/gram_backward_cuda.cuh"
#include "gram/gram_cuda.h"

namespace pybench::kernels::cuda {

void launch_gram_backward(const GramBackwardParams& p, cudaStream_t stream) {
  const GramBackwardLaunchGeometry g = gram_backward_launch_geometry(p);
  if (g.empty()) return;
  const GramBackwardKernelArgs args = make_gram_backward_kernel_args(p, g);
  gram_backward_kernel<<<dim3(g.grid_x, g.grid_y, g.grid_z), dim3(g.threads),
                         g.dynamic_smem_bytes, stream>>>(args);
  check_cuda(cudaGetLastError(), "launch_gram_backward", "gram_backward_kernel launch");
}

}  // namespace pybench::kernels::cuda
