// Host launcher of the CUDA pooling kernel: geometry and arguments from pool2d_cuda.cuh
// (shared with the emulator tests), the 32-bit index kernel where every index fits, an
// error check after the launch. Torch-free: errors are std::runtime_error.
#include <cuda_runtime.h>

#include "common/cuda_check.h"
#include "pool2d/pool2d_cuda.cuh"
#include "pool2d/pool2d_cuda.h"

namespace pybench::kernels::cuda {

void launch_pool2d(const Pool2dParams& p, cudaStream_t stream) {
  const Pool2dLaunchGeometry g =
      pool2d_launch_geometry(p, current_sm_count("launch_pool2d", kPoolDefaultSmCount));
  if (g.empty()) return;
  const Pool2dKernelArgs args = make_pool2d_kernel_args(p);
  if (g.index32) {
    pool2d_kernel<int32_t><<<g.grid_x, g.threads, g.dynamic_smem_bytes, stream>>>(args);
  } else {
    pool2d_kernel<int64_t><<<g.grid_x, g.threads, g.dynamic_smem_bytes, stream>>>(args);
  }
  check_cuda(cudaGetLastError(), "launch_pool2d", "pool2d_kernel launch");
}

}  // namespace pybench::kernels::cuda
