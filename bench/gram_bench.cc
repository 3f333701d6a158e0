// Google Benchmark for the CPU Gram kernels, every ISA variant on:
//   BM_gram/<variant>/<case>/N=<batch>   each line of pybench/shapes/gram_style.txt and
//                                        gram.txt (the shapes the Python side measures)
//   BM_gram/<variant>/C:<C>/L:<L>        a small ArgsProduct grid for quick sweeps
// Variants: ref (scalar, double accumulation), avx2, avx512; a variant the CPU lacks is
// reported with SkipWithError. Counters: FLOP/s (SSYRK count, gram_flops) and bytes/s
// (compulsory traffic: features read once, the Gram matrix written once).
//
// Single-threaded: GramParams::exec.parallel_for is left empty, so the numbers are one core's
// throughput. Thread scaling belongs to the Python side, where the adapter injects
// at::parallel_for and torch.set_num_threads governs pybench and PyTorch alike.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

#include "bench_util.h"
#include "common/cpu_isa.h"
#include "gram/gram.h"
#include "shapes.h"

namespace {

using pybench::bench::aligned_floats;
using pybench::bench::AlignedFloats;
using pybench::kernels::GramParams;
using pybench::kernels::gram_flops;
using pybench::kernels::cpu::CpuIsa;
namespace kcpu = pybench::kernels::cpu;

struct Variant {
  const char* name;
  CpuIsa isa;
  void (*run)(const GramParams&);
};

const Variant kVariants[] = {
    {"ref", CpuIsa::scalar, kcpu::gram_ref},
    {"avx2", CpuIsa::avx2, kcpu::gram_avx2},
    {"avx512", CpuIsa::avx512, kcpu::gram_avx512},
};

// gram_ref accumulates every dot product in double, one serial dependency chain, at
// 3-4 GFLOP/s on a Zen core (50x below avx512): the largest cases (13 GFLOP a call)
// would take seconds per iteration and say nothing new, since ref is the oracle, not a
// contender. It is skipped above this count, with SkipWithError so the report lists the
// case and the reason rather than silently dropping it.
constexpr double kRefMaxFlops = 2e9;

// The features' seeded sequence (shared with gram_bench_cuda).
constexpr uint64_t kFeatureSeed = 0x9b3a5eedULL;

void BM_gram(benchmark::State& state, const Variant& v, int64_t N, int64_t C, int64_t L) {
  if (!pybench::bench::require_isa(state, v.isa)) return;
  const double flops = gram_flops(N, C, L);
  if (v.isa == CpuIsa::scalar && flops > kRefMaxFlops) {
    state.SkipWithError("ref skipped above 2 GFLOP a call (slow oracle, see kRefMaxFlops)");
    return;
  }
  const float* features =
      pybench::bench::normal_floats(kFeatureSeed, static_cast<size_t>(N * C * L));
  AlignedFloats gram = aligned_floats(static_cast<size_t>(N * C * C));

  GramParams p;
  p.features = features;
  p.gram = gram.get();
  p.batch = N;
  p.channels = C;
  p.length = L;
  p.batch_stride = C * L;
  p.row_stride = L;
  p.scale = 1.0f;
  // p.exec.parallel_for stays empty: serial, one core (see the top of this file).

  for (auto _ : state) {
    v.run(p);
    benchmark::DoNotOptimize(p.gram);
    benchmark::ClobberMemory();
  }
  const double bytes = static_cast<double>(sizeof(float)) *
                       static_cast<double>(N * C * L + N * C * C);
  state.counters["FLOP/s"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bytes/s"] =
      benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
}

void register_shape_file(const char* file_name) {
  for (const auto& c : pybench::bench::load_shapes(file_name)) {
    const int64_t N = c.get("N");
    const int64_t C = c.get("C");
    const int64_t L = c.get("L", c.get("H") * c.get("W"));
    for (const Variant& v : kVariants) {
      const std::string name =
          std::string("BM_gram/") + v.name + "/" + c.name + "/N=" + std::to_string(N);
      benchmark::RegisterBenchmark(name.c_str(), [&v, N, C, L](benchmark::State& state) {
        BM_gram(state, v, N, C, L);
      })->Unit(benchmark::kMicrosecond);
    }
  }
}

void register_grid() {
  for (const Variant& v : kVariants) {
    const std::string name = std::string("BM_gram/") + v.name;
    benchmark::RegisterBenchmark(name.c_str(), [&v](benchmark::State& state) {
      BM_gram(state, v, 1, state.range(0), state.range(1));
    })
        ->ArgsProduct({{32, 64, 128, 256, 512}, {196, 784, 3136, 12544}})
        ->ArgNames({"C", "L"})
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  return pybench::bench::benchmark_main(argc, argv, "gram_bench", [] {
    register_shape_file("gram_style.txt");
    register_shape_file("gram.txt");
    register_grid();
  });
}
