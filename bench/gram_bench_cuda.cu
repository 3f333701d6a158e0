// Google Benchmark for the CUDA Gram kernel (pybench::kernels::cuda::launch_gram):
//   BM_gram_cuda/<case>/N=<batch>   each line of pybench/shapes/gram_style.txt and gram.txt
//   BM_gram_cuda/C:<C>/L:<L>        the quick ArgsProduct grid of gram_bench
// GPU time only: UseManualTime with CUDA events recorded around each launch on a
// non-default stream, so host launch overhead past the event is not counted. Every
// benchmark reports SkipWithError when there is no usable device (build machines).
#include <benchmark/benchmark.h>

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "bench_util.h"
#include "cuda_bench_util.h"
#include "gram/gram.h"
#include "gram/gram_cuda.h"
#include "shapes.h"

namespace {

using pybench::kernels::GramParams;
using pybench::kernels::gram_flops;

// The features' seeded sequence, the one gram_bench uses.
constexpr uint64_t kFeatureSeed = 0x9b3a5eedULL;

void BM_gram_cuda(benchmark::State& state, int64_t N, int64_t C, int64_t L) {
  if (!pybench::bench::no_cuda_device_reason().empty()) {
    state.SkipWithError(pybench::bench::no_cuda_device_reason().c_str());
    return;
  }
  const size_t feature_count = static_cast<size_t>(N * C * L);
  const size_t gram_count = static_cast<size_t>(N * C * C);
  pybench::bench::CudaRun run;
  GramParams p;
  p.features = run.upload(pybench::bench::normal_floats(kFeatureSeed, feature_count),
                          feature_count);
  p.gram = run.alloc(gram_count);
  p.batch = N;
  p.channels = C;
  p.length = L;
  p.batch_stride = C * L;
  p.row_stride = L;
  p.scale = 1.0f;
  run.time(state, [&p](cudaStream_t stream) { pybench::kernels::cuda::launch_gram(p, stream); });

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
  return pybench::bench::benchmark_main(argc, argv, "gram_bench_cuda", [] {
    register_shape_file("gram_style.txt");
    register_shape_file("gram.txt");
    register_grid();
    pybench::bench::add_cuda_device_context();
  });
}
