// Google Benchmark for the packed linear kernel (pybench.ops.linear), every ISA variant on
// the classifiers of the CNN families at the cnn suite's batches:
//   BM_linear/<variant>/<layer>/N=<batch>
// Variants: ref (scalar, double accumulation), avx2, avx512; a variant the CPU lacks is
// reported with SkipWithError. Counters: FLOP/s (linear_flops) and bytes/s (compulsory
// traffic: the packed weights once, the input, the output), the figure that matters at
// these batches, where the weight stream is the whole cost.
//
// Single-threaded (LinearParams::exec.parallel_for left empty): one core's throughput.
// Thread scaling belongs to the Python side (torch.set_num_threads governs both).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

#include "bench_util.h"
#include "common/cpu_isa.h"
#include "linear/linear.h"

namespace {

using pybench::bench::aligned_floats;
using pybench::bench::AlignedFloats;
using pybench::kernels::kLinearPanel;
using pybench::kernels::LinearParams;
using pybench::kernels::cpu::CpuIsa;
namespace kcpu = pybench::kernels::cpu;

struct Variant {
  const char* name;
  CpuIsa isa;
  void (*run)(const LinearParams&);
};

const Variant kVariants[] = {
    {"ref", CpuIsa::scalar, kcpu::linear_ref},
    {"avx2", CpuIsa::avx2, kcpu::linear_avx2},
    {"avx512", CpuIsa::avx512, kcpu::linear_avx512},
};

struct Layer {
  const char* name;
  int64_t in, out;
};

// The classifiers' Linear layers (pybench.models), in_features -> out_features.
const Layer kLayers[] = {
    {"alexnet:classifier.1", 9216, 4096}, {"alexnet:classifier.4", 4096, 4096},
    {"alexnet:classifier.6", 4096, 1000}, {"vgg16:classifier.0", 25088, 4096},
    {"resnet18:fc", 512, 1000},           {"mobilenet_v2:classifier.1", 1280, 1000},
};

// The oracle's double accumulation runs at a few GFLOP/s: skipped above this count.
constexpr double kRefMaxFlops = 2e8;

void BM_linear(benchmark::State& state, const Variant& v, const Layer& layer, int64_t batch) {
  if (!pybench::bench::require_isa(state, v.isa)) return;
  LinearParams p;
  p.batch = batch;
  p.in_features = layer.in;
  p.out_features = layer.out;
  if (v.isa == CpuIsa::scalar && linear_flops(p) > kRefMaxFlops) {
    state.SkipWithError("ref skipped above 0.2 GFLOP a call (slow oracle, see kRefMaxFlops)");
    return;
  }
  const size_t weights = static_cast<size_t>(p.panels() * layer.in * kLinearPanel);
  p.input = pybench::bench::normal_floats(0x11ea5ULL, static_cast<size_t>(batch * layer.in));
  p.weight = pybench::bench::normal_floats(0x3e16b7ULL, weights);
  p.bias = pybench::bench::normal_floats(0xb1a5ULL, static_cast<size_t>(layer.out));
  AlignedFloats out = aligned_floats(static_cast<size_t>(batch * layer.out));
  p.output = out.get();
  for (auto _ : state) {
    v.run(p);
    benchmark::DoNotOptimize(p.output);
    benchmark::ClobberMemory();
  }
  const double bytes = 4.0 * static_cast<double>(weights + batch * (layer.in + layer.out));
  state.counters["FLOP/s"] =
      benchmark::Counter(linear_flops(p), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bytes/s"] =
      benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  return pybench::bench::benchmark_main(argc, argv, "linear_bench", [] {
    for (const Layer& layer : kLayers) {
      for (int64_t batch : {1, 8}) {
        for (const Variant& v : kVariants) {
          const std::string name = std::string("BM_linear/") + v.name + "/" + layer.name +
                                   "/N=" + std::to_string(batch);
          benchmark::RegisterBenchmark(name.c_str(), [&v, &layer, batch](
                                                         benchmark::State& state) {
            BM_linear(state, v, layer, batch);
          })->Unit(benchmark::kMicrosecond);
        }
      }
    }
  });
}
