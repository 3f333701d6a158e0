// Google Benchmark for the CUDA conv2d kernels (pybench::kernels::cuda::launch_conv2d):
//   BM_conv2d_cuda/<layer>/N=<batch>   each line of pybench/shapes/conv.txt (the layers the
//                                      Python conv suite measures) at batch 1 and 8
// GPU time only: UseManualTime with CUDA events recorded around each launch_conv2d on a
// non-default stream (the split-K zero fill included: it is part of the op). Counters as
// in conv2d_bench: FLOP/s (conv2d_flops) and bytes/s (input, weight, bias read once,
// output written once); the label says which kernel ran (conv2d_cuda_plan). Every
// benchmark reports SkipWithError when there is no usable device (build machines).
#include <benchmark/benchmark.h>

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "conv2d/conv2d.h"
#include "conv2d/conv2d_cuda.h"
#include "shapes.h"

namespace {

using pybench::kernels::Conv2dParams;
using pybench::kernels::conv2d_flops;
using pybench::kernels::conv2d_out_size;

// The batches the conv suite runs; the shape file leaves N to its consumers.
const int64_t kBatches[] = {1, 8};

// Empty when a device is usable, else why not.
const std::string& no_device_reason() {
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

std::string describe(cudaError_t err, const char* what) {
  return std::string(what) + ": " + cudaGetErrorName(err) + ": " + cudaGetErrorString(err);
}

// Standard normal values (never zeros, which would hide skipped work), generated on the
// host once per size and role, so every case sees the same operands whatever ran before.
const std::vector<float>& normal_floats(int role, size_t n) {
  static std::vector<float> host[3];
  if (host[role].size() != n) {
    host[role].assign(n, 0.0f);
    std::mt19937_64 rng(0xc0de2d00ULL + static_cast<uint64_t>(role));
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& x : host[role]) x = normal(rng);
  }
  return host[role];
}

// Geometry of one shape-file line at batch N (symmetric padding, as the file states it);
// pointers are set by BM_conv2d_cuda. A bad line fails at registration, loudly.
Conv2dParams layer_params(const pybench::bench::ShapeCase& c, int64_t N) {
  Conv2dParams p;
  p.batch = N;
  p.in_channels = c.get("C");
  p.in_h = c.get("H");
  p.in_w = c.get("W");
  p.out_channels = c.get("K");
  p.kernel_h = c.get("R");
  p.kernel_w = c.get("S");
  p.stride_h = c.get("SH", 1);
  p.stride_w = c.get("SW", 1);
  p.pad_h = c.get("PH", 0);
  p.pad_w = c.get("PW", 0);
  p.dilation_h = c.get("DH", 1);
  p.dilation_w = c.get("DW", 1);
  p.groups = c.get("G", 1);
  p.out_h = conv2d_out_size(p.in_h, p.kernel_h, p.stride_h, p.pad_h, p.pad_h, p.dilation_h);
  p.out_w = conv2d_out_size(p.in_w, p.kernel_w, p.stride_w, p.pad_w, p.pad_w, p.dilation_w);
  if (p.groups <= 0 || p.in_channels % p.groups != 0 || p.out_channels % p.groups != 0 ||
      p.stride_h <= 0 || p.stride_w <= 0 || p.dilation_h <= 0 || p.dilation_w <= 0 ||
      p.kernel_h <= 0 || p.kernel_w <= 0 || p.out_h <= 0 || p.out_w <= 0) {
    throw std::runtime_error(c.source + ": '" + c.name + "' is not a valid convolution");
  }
  return p;
}

// Device buffers, stream and events of one benchmark run, released on every exit path.
struct DeviceRun {
  float* input = nullptr;
  float* weight = nullptr;
  float* bias = nullptr;
  float* output = nullptr;
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  ~DeviceRun() {
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    if (stream) cudaStreamDestroy(stream);
    cudaFree(input);
    cudaFree(weight);
    cudaFree(bias);
    cudaFree(output);
  }
};

void BM_conv2d_cuda(benchmark::State& state, Conv2dParams p) {
  if (!no_device_reason().empty()) {
    state.SkipWithError(no_device_reason().c_str());
    return;
  }
  const size_t in_size = static_cast<size_t>(p.batch * p.in_channels * p.in_h * p.in_w);
  const size_t w_size = static_cast<size_t>(p.out_channels * (p.in_channels / p.groups) *
                                            p.kernel_h * p.kernel_w);
  const size_t k_size = static_cast<size_t>(p.out_channels);
  const size_t out_size = static_cast<size_t>(p.batch * p.out_channels * p.out_h * p.out_w);
  DeviceRun run;
  std::string error;
  auto ok = [&error](cudaError_t err, const char* what) {
    if (err != cudaSuccess && error.empty()) error = describe(err, what);
    return error.empty();
  };
  auto upload = [&ok](float** dst, int role, size_t n) {
    return ok(cudaMalloc(dst, n * sizeof(float)), "cudaMalloc") &&
           ok(cudaMemcpy(*dst, normal_floats(role, n).data(), n * sizeof(float),
                         cudaMemcpyHostToDevice),
              "cudaMemcpy");
  };
  // With bias, as VGG / AlexNet layers have it (and as conv2d_bench runs the CPU kernels).
  if (!(upload(&run.input, 0, in_size) && upload(&run.weight, 1, w_size) &&
        upload(&run.bias, 2, k_size) &&
        ok(cudaMalloc(&run.output, out_size * sizeof(float)), "cudaMalloc") &&
        ok(cudaStreamCreateWithFlags(&run.stream, cudaStreamNonBlocking), "cudaStreamCreate") &&
        ok(cudaEventCreate(&run.start), "cudaEventCreate") &&
        ok(cudaEventCreate(&run.stop), "cudaEventCreate"))) {
    state.SkipWithError(error.c_str());
    return;
  }
  p.input = run.input;
  p.weight = run.weight;
  p.bias = run.bias;
  p.output = run.output;

  try {
    state.SetLabel(pybench::kernels::cuda::conv2d_cuda_plan(p));
    pybench::kernels::cuda::launch_conv2d(p, run.stream);  // warm-up: module load, clocks
    if (!ok(cudaStreamSynchronize(run.stream), "warm-up")) {
      state.SkipWithError(error.c_str());
      return;
    }
    for (auto _ : state) {
      cudaEventRecord(run.start, run.stream);
      pybench::kernels::cuda::launch_conv2d(p, run.stream);
      cudaEventRecord(run.stop, run.stream);
      float ms = 0.0f;
      if (!ok(cudaEventSynchronize(run.stop), "cudaEventSynchronize") ||
          !ok(cudaEventElapsedTime(&ms, run.start, run.stop), "cudaEventElapsedTime")) {
        state.SkipWithError(error.c_str());
        break;
      }
      state.SetIterationTime(static_cast<double>(ms) * 1e-3);
    }
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }

  const double bytes = static_cast<double>(sizeof(float)) *
                       static_cast<double>(in_size + w_size + k_size + out_size);
  state.counters["FLOP/s"] =
      benchmark::Counter(conv2d_flops(p), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bytes/s"] =
      benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
}

void register_shape_file(const char* file_name) {
  for (const auto& c : pybench::bench::load_shapes(file_name)) {
    for (int64_t N : kBatches) {
      const Conv2dParams p = layer_params(c, N);
      const std::string name = "BM_conv2d_cuda/" + c.name + "/N=" + std::to_string(N);
      benchmark::RegisterBenchmark(name.c_str(), [p](benchmark::State& state) {
        BM_conv2d_cuda(state, p);
      })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  try {
    register_shape_file("conv.txt");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "conv2d_bench_cuda: %s\n", e.what());
    return 1;
  }
  if (no_device_reason().empty()) {
    cudaDeviceProp prop{};
    int device = 0;
    if (cudaGetDevice(&device) == cudaSuccess &&
        cudaGetDeviceProperties(&prop, device) == cudaSuccess) {
      benchmark::AddCustomContext("pybench_cuda_device", prop.name);
    }
  } else {
    benchmark::AddCustomContext("pybench_cuda_device", no_device_reason());
  }
  benchmark::AddCustomContext("pybench_shapes_dir", pybench::bench::shapes_dir());
  // Nonzero when the filter matched nothing, so a stale ctest smoke filter fails loudly
  // (Google Benchmark itself only prints a message and exits 0).
  const size_t ran = benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return ran > 0 ? 0 : 1;
}
