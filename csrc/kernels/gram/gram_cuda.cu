// Host launcher of the CUDA Gram kernel: geometry from gram_launch_geometry (shared with
// the emulator tests), a zero fill and a finalize pass when L is split, an error check
// after every launch. Torch-free: errors are std::runtime_error.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "common/cuda_check.h"
#include "gram/gram_cuda.cuh"
#include "gram/gram_cuda.h"

namespace pybench::kernels::cuda {
namespace {

void check(cudaError_t err, const char* what) { check_cuda(err, "launch_gram", what); }

int sm_count() { return current_sm_count("launch_gram", kGramDefaultSmCount); }

}  // namespace

void launch_gram(const GramParams& p, cudaStream_t stream) {
  if (p.batch <= 0 || p.channels <= 0) return;
  const GramLaunchGeometry g = gram_launch_geometry(p, sm_count());
  if (g.empty()) return;
  const GramKernelArgs args = make_gram_kernel_args(p, g);
  if (g.split()) {
    // Split blocks add into the upper triangle; the finalize pass writes the lower one.
    const size_t bytes = sizeof(float) * static_cast<size_t>(p.batch) *
                         static_cast<size_t>(p.channels) * static_cast<size_t>(p.channels);
    check(cudaMemsetAsync(p.gram, 0, bytes, stream), "cudaMemsetAsync");
  }
  gram_kernel<<<dim3(g.grid_x, g.grid_y, g.grid_z), dim3(g.threads), g.dynamic_smem_bytes,
                stream>>>(args);
  check(cudaGetLastError(), "gram_kernel launch");
  if (g.split()) {
    gram_finalize_kernel<<<dim3(g.finalize_grid_x, 1, g.finalize_grid_z),
                           dim3(g.finalize_threads_x, g.finalize_threads_y), 0, stream>>>(args);
    check(cudaGetLastError(), "gram_finalize_kernel launch");
  }
}

}  // namespace pybench::kernels::cuda
