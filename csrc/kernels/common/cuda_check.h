#pragma once
// Error checks and device queries shared by the CUDA launchers (torch-free, host only): a
// failed CUDA call becomes a std::runtime_error naming the launcher and the call, which
// the ATen adapters turn into a Python RuntimeError.
#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace pybench::kernels::cuda {

inline void check_cuda(cudaError_t err, const char* launcher, const char* what) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string(launcher) + ": " + what + " failed: " +
                             cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
  }
}

// SMs of the current device; `fallback` if the driver reports none.
inline int current_sm_count(const char* launcher, int fallback) {
  int device = 0;
  check_cuda(cudaGetDevice(&device), launcher, "cudaGetDevice");
  int count = 0;
  check_cuda(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device), launcher,
             "cudaDeviceGetAttribute(MultiProcessorCount)");
  return count > 0 ? count : fallback;
}

}  // namespace pybench::kernels::cuda
