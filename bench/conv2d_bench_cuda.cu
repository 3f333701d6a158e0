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
#include <exception>
#include <string>

#include "bench_util.h"
#include "conv2d/conv2d.h"
#include "conv2d/conv2d_cuda.h"
#include "conv2d_layers.h"
#include "cuda_bench_util.h"
#include "shapes.h"

namespace {

using pybench::bench::normal_floats;
using pybench::kernels::Conv2dParams;
using pybench::kernels::conv2d_flops;

// One seeded sequence per operand role, the ones conv2d_bench uses.
constexpr uint64_t kInputSeed = 0xc0de2d00ULL, kWeightSeed = kInputSeed + 1,
                   kBiasSeed = kInputSeed + 2;

void BM_conv2d_cuda(benchmark::State& state, Conv2dParams p) {
  if (!pybench::bench::no_cuda_device_reason().empty()) {
    state.SkipWithError(pybench::bench::no_cuda_device_reason().c_str());
    return;
  }
  const size_t in_size = static_cast<size_t>(p.batch * p.in_channels * p.in_h * p.in_w);
  const size_t w_size = static_cast<size_t>(p.out_channels * (p.in_channels / p.groups) *
                                            p.kernel_h * p.kernel_w);
  const size_t k_size = static_cast<size_t>(p.out_channels);
  const size_t out_size = static_cast<size_t>(p.batch * p.out_channels * p.out_h * p.out_w);
  pybench::bench::CudaRun run;
  p.input = run.upload(normal_floats(kInputSeed, in_size), in_size);
  p.weight = run.upload(normal_floats(kWeightSeed, w_size), w_size);
  // With bias, as VGG / AlexNet layers have it (and as conv2d_bench runs the CPU kernels).
  p.bias = run.upload(normal_floats(kBiasSeed, k_size), k_size);
  p.output = run.alloc(out_size);
  try {
    state.SetLabel(pybench::kernels::cuda::conv2d_cuda_plan(p));
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  run.time(state,
           [&p](cudaStream_t stream) { pybench::kernels::cuda::launch_conv2d(p, stream); });

  const double bytes = static_cast<double>(sizeof(float)) *
                       static_cast<double>(in_size + w_size + k_size + out_size);
  state.counters["FLOP/s"] =
      benchmark::Counter(conv2d_flops(p), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bytes/s"] =
      benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
}

void register_shape_file(const char* file_name) {
  for (const auto& c : pybench::bench::load_shapes(file_name)) {
    for (int64_t N : pybench::bench::kConvBatches) {
      const Conv2dParams p = pybench::bench::conv2d_layer_params(c, N);
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
  return pybench::bench::benchmark_main(argc, argv, "conv2d_bench_cuda", [] {
    register_shape_file("conv.txt");
    pybench::bench::add_cuda_device_context();
  });
}
