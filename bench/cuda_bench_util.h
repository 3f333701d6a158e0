#pragma once
// What the CUDA Google Benchmark binaries share: the device check, device buffers with
// host operands uploaded, and the CUDA-event timing loop. Header-only: it is compiled by
// nvcc into each .cu benchmark (only with -DPYBENCH_CMAKE_CUDA=ON).
#include <benchmark/benchmark.h>

#include <cuda_runtime.h>

#include <cstddef>
#include <exception>
#include <functional>
#include <string>
#include <vector>

namespace pybench::bench {

// Empty when a device is usable, else why not.
inline const std::string& no_cuda_device_reason() {
  static const std::string reason = [] {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      return std::string("no CUDA device: cudaGetDeviceCount: ") + cudaGetErrorString(err);
    }
    return count == 0 ? std::string("no CUDA device") : std::string();
  }();
  return reason;
}

// The context key pybench_cuda_device: the device's name, or why there is none.
inline void add_cuda_device_context() {
  if (!no_cuda_device_reason().empty()) {
    benchmark::AddCustomContext("pybench_cuda_device", no_cuda_device_reason());
    return;
  }
  cudaDeviceProp prop{};
  int device = 0;
  if (cudaGetDevice(&device) == cudaSuccess &&
      cudaGetDeviceProperties(&prop, device) == cudaSuccess) {
    benchmark::AddCustomContext("pybench_cuda_device", prop.name);
  }
}

// Device buffers, a non-default stream and two events for one benchmark run, all
// released on every exit path. The first failing CUDA call is kept in error(); later
// calls are skipped, so a run reports the root cause.
class CudaRun {
 public:
  CudaRun() {
    ok(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate") &&
        ok(cudaEventCreate(&start_), "cudaEventCreate") &&
        ok(cudaEventCreate(&stop_), "cudaEventCreate");
  }
  ~CudaRun() {
    if (start_) cudaEventDestroy(start_);
    if (stop_) cudaEventDestroy(stop_);
    if (stream_) cudaStreamDestroy(stream_);
    for (float* p : buffers_) cudaFree(p);
  }
  CudaRun(const CudaRun&) = delete;
  CudaRun& operator=(const CudaRun&) = delete;

  const std::string& error() const { return error_; }

  // n uninitialised floats on the device; nullptr after an error.
  float* alloc(size_t n) {
    float* p = nullptr;
    if (!ok(cudaMalloc(&p, n * sizeof(float)), "cudaMalloc")) return nullptr;
    buffers_.push_back(p);
    return p;
  }

  // A device copy of host[0, n); nullptr after an error.
  float* upload(const float* host, size_t n) {
    float* p = alloc(n);
    if (p && !ok(cudaMemcpy(p, host, n * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy")) {
      return nullptr;
    }
    return p;
  }

  // One warm-up launch (module load, clocks), then per iteration the GPU time of one
  // launch(stream) between two events as the manual time. A CUDA error or an exception
  // from the launcher ends the run with SkipWithError.
  void time(benchmark::State& state, const std::function<void(cudaStream_t)>& launch) {
    if (!error_.empty()) {
      state.SkipWithError(error_.c_str());
      return;
    }
    try {
      launch(stream_);
      if (!ok(cudaStreamSynchronize(stream_), "warm-up")) {
        state.SkipWithError(error_.c_str());
        return;
      }
      for (auto _ : state) {
        cudaEventRecord(start_, stream_);
        launch(stream_);
        cudaEventRecord(stop_, stream_);
        float ms = 0.0f;
        if (!ok(cudaEventSynchronize(stop_), "cudaEventSynchronize") ||
            !ok(cudaEventElapsedTime(&ms, start_, stop_), "cudaEventElapsedTime")) {
          state.SkipWithError(error_.c_str());
          break;
        }
        state.SetIterationTime(static_cast<double>(ms) * 1e-3);
      }
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
    }
  }

 private:
  bool ok(cudaError_t err, const char* what) {
    if (err != cudaSuccess && error_.empty()) {
      error_ = std::string(what) + ": " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err);
    }
    return error_.empty();
  }

  std::vector<float*> buffers_;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
  std::string error_;
};

}  // namespace pybench::bench
