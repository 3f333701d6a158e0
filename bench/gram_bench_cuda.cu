// Google Benchmark for the CUDA Gram kernel (pybench::kernels::cuda::launch_gram):
//   BM_gram_cuda/<case>/N=<batch>   each line of pybench/shapes/gram_style.txt and gram.txt
//   BM_gram_cuda/C:<C>/L:<L>        the quick ArgsProduct grid of gram_bench
// GPU time only: UseManualTime with CUDA events recorded around each launch on a
// non-default stream, so host launch overhead past the event is not counted. Every
// benchmark reports SkipWithError when there is no usable device (build machines).
#include <benchmark/benchmark.h>

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <random>
#include <string>
#include <vector>

#include "gram/gram.h"
#include "gram/gram_cuda.h"
#include "shapes.h"

namespace {

using pybench::kernels::GramParams;
using pybench::kernels::gram_flops;

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

// Standard normal features (never zeros), generated on the host once per size.
const std::vector<float>& normal_features(size_t n) {
  static std::vector<float> host;
  if (host.size() != n) {
    host.assign(n, 0.0f);
    std::mt19937_64 rng(0x9b3a5eedULL);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& x : host) x = normal(rng);
  }
  return host;
}

// Device buffers, stream and events of one benchmark run, released on every exit path.
struct DeviceRun {
  float* features = nullptr;
  float* gram = nullptr;
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  ~DeviceRun() {
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    if (stream) cudaStreamDestroy(stream);
    cudaFree(features);
    cudaFree(gram);
  }
};

void BM_gram_cuda(benchmark::State& state, int64_t N, int64_t C, int64_t L) {
  if (!no_device_reason().empty()) {
    state.SkipWithError(no_device_reason().c_str());
    return;
  }
  const size_t feature_count = static_cast<size_t>(N * C * L);
  const size_t gram_count = static_cast<size_t>(N * C * C);
  DeviceRun run;
  std::string error;
  auto ok = [&error](cudaError_t err, const char* what) {
    if (err != cudaSuccess && error.empty()) error = describe(err, what);
    return error.empty();
  };
  if (!(ok(cudaMalloc(&run.features, feature_count * sizeof(float)), "cudaMalloc") &&
        ok(cudaMalloc(&run.gram, gram_count * sizeof(float)), "cudaMalloc") &&
        ok(cudaMemcpy(run.features, normal_features(feature_count).data(),
                      feature_count * sizeof(float), cudaMemcpyHostToDevice),
           "cudaMemcpy") &&
        ok(cudaStreamCreateWithFlags(&run.stream, cudaStreamNonBlocking), "cudaStreamCreate") &&
        ok(cudaEventCreate(&run.start), "cudaEventCreate") &&
        ok(cudaEventCreate(&run.stop), "cudaEventCreate"))) {
    state.SkipWithError(error.c_str());
    return;
  }

  GramParams p;
  p.features = run.features;
  p.gram = run.gram;
  p.batch = N;
  p.channels = C;
  p.length = L;
  p.batch_stride = C * L;
  p.row_stride = L;
  p.scale = 1.0f;

  try {
    pybench::kernels::cuda::launch_gram(p, run.stream);  // warm-up: module load, clocks
    if (!ok(cudaStreamSynchronize(run.stream), "warm-up")) {
      state.SkipWithError(error.c_str());
      return;
    }
    for (auto _ : state) {
      cudaEventRecord(run.start, run.stream);
      pybench::kernels::cuda::launch_gram(p, run.stream);
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

  const double bytes =
      static_cast<double>(sizeof(float)) * static_cast<double>(feature_count + gram_count);
  state.counters["FLOP/s"] =
      benchmark::Counter(gram_flops(N, C, L), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bytes/s"] =
      benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
}

void register_shape_file(const char* file_name) {
  for (const auto& c : pybench::bench::load_shapes(file_name)) {
    const int64_t N = c.get("N");
    const int64_t C = c.get("C");
    const int64_t L = c.get("L", c.get("H") * c.get("W"));
    const std::string name = "BM_gram_cuda/" + c.name + "/N=" + std::to_string(N);
    benchmark::RegisterBenchmark(name.c_str(), [N, C, L](benchmark::State& state) {
      BM_gram_cuda(state, N, C, L);
    })
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

void register_grid() {
  benchmark::RegisterBenchmark("BM_gram_cuda", [](benchmark::State& state) {
    BM_gram_cuda(state, 1, state.range(0), state.range(1));
  })
      ->ArgsProduct({{32, 64, 128, 256, 512}, {196, 784, 3136, 12544}})
      ->ArgNames({"C", "L"})
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  try {
    register_shape_file("gram_style.txt");
    register_shape_file("gram.txt");
    register_grid();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gram_bench_cuda: %s\n", e.what());
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
  // Nonzero when the filter matched nothing, so a stale ctest smoke filter fails loudly
  // (Google Benchmark itself only prints a message and exits 0).
  const size_t ran = benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return ran > 0 ? 0 : 1;
}
