// Host launcher of the CUDA conv2d kernels: batch slices and geometry from
// conv2d_images_per_launch / conv2d_launch_geometry (shared with the emulator tests), a
// zero fill of the output when K is split and the activation pass after it, an error
// check after every launch. Torch-free: errors are std::runtime_error.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "common/cuda_check.h"
#include "conv2d/conv2d_cuda.cuh"
#include "conv2d/conv2d_cuda.h"

namespace pybench::kernels::cuda {
namespace {

void check(cudaError_t err, const char* what) { check_cuda(err, "launch_conv2d", what); }

int sm_count() { return current_sm_count("launch_conv2d", kConv2dDefaultSmCount); }

}  // namespace

void launch_conv2d(const Conv2dParams& p, cudaStream_t stream) {
  if (p.batch <= 0 || p.out_channels <= 0 || p.out_h <= 0 || p.out_w <= 0) return;
  if (const char* why = conv2d_cuda_unsupported(p)) {
    throw std::runtime_error(std::string("launch_conv2d: unsupported size: ") + why);
  }
  const int sms = sm_count();
  // Batch slices keep the kernels' pixel indices 32-bit; one slice for every real shape.
  const int64_t per_launch = conv2d_images_per_launch(p);
  for (int64_t first = 0; first < p.batch; first += per_launch) {
    const Conv2dParams s = conv2d_batch_slice(p, first, std::min(per_launch, p.batch - first));
    const Conv2dLaunchGeometry g = conv2d_launch_geometry(s, sms);
    if (g.empty()) continue;
    const Conv2dKernelArgs args = make_conv2d_kernel_args(s, g);
    const dim3 grid(g.grid_x, g.grid_y, g.grid_z);
    if (g.algo == Conv2dAlgo::kDirect) {
      conv2d_direct_kernel<<<grid, dim3(g.threads), g.dynamic_smem_bytes, stream>>>(args);
      check(cudaGetLastError(), "conv2d_direct_kernel launch");
      continue;
    }
    if (g.split()) {
      // Every split adds its partial sums into the output.
      const size_t bytes = sizeof(float) * static_cast<size_t>(s.batch) *
                           static_cast<size_t>(s.out_channels) * static_cast<size_t>(s.out_h) *
                           static_cast<size_t>(s.out_w);
      check(cudaMemsetAsync(s.output, 0, bytes, stream), "cudaMemsetAsync");
    }
    if (g.pointwise) {
      conv2d_gemm_kernel<true><<<grid, dim3(g.threads), g.dynamic_smem_bytes, stream>>>(args);
    } else {
      conv2d_gemm_kernel<false><<<grid, dim3(g.threads), g.dynamic_smem_bytes, stream>>>(args);
    }
    check(cudaGetLastError(), "conv2d_gemm_kernel launch");
    if (g.finalize) {
      conv2d_activation_kernel<<<dim3(g.finalize_grid_x), dim3(kConv2dDirectThreads), 0,
                                 stream>>>(args);
      check(cudaGetLastError(), "conv2d_activation_kernel launch");
    }
  }
}

std::string conv2d_cuda_plan(const Conv2dParams& p) {
  if (p.batch <= 0 || p.out_channels <= 0 || p.out_h <= 0 || p.out_w <= 0) return "none";
  if (const char* why = conv2d_cuda_unsupported(p)) {
    throw std::runtime_error(std::string("launch_conv2d: unsupported size: ") + why);
  }
  const int64_t per_launch = conv2d_images_per_launch(p);
  const Conv2dLaunchGeometry g =
      conv2d_launch_geometry(conv2d_batch_slice(p, 0, std::min(per_launch, p.batch)), sm_count());
  std::string plan = g.algo == Conv2dAlgo::kDirect ? "direct" : g.pointwise ? "gemm-1x1" : "gemm";
  if (g.split()) plan += " split-K " + std::to_string(g.splits);
  if (g.finalize) plan += " + activation pass";
  const int64_t launches = ceil_div(p.batch, per_launch);
  if (launches > 1) plan += " x" + std::to_string(launches) + " launches";
  return plan;
}

}  // namespace pybench::kernels::cuda
