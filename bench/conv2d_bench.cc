// Google Benchmark for the CPU conv2d kernels, every ISA variant on
//   BM_conv2d/<variant>/<layer>/N=<batch>   each line of pybench/shapes/conv.txt (the
//                                           layers the Python conv suite measures) at
//                                           batch 1 and 8, as the suite runs them
// Variants: ref (scalar, double accumulation), avx2, avx512; a variant the CPU lacks is
// reported with SkipWithError. Counters: FLOP/s (conv2d_flops: 2 x multiply-adds, padding
// taps included, as benchdnn counts) and bytes/s (compulsory traffic: input, weight and
// bias read once, output written once).
//
// Single-threaded: Conv2dParams::exec is left empty (serial, max_threads 1), so the
// numbers are one core's throughput. Thread scaling belongs to the Python side, where the
// adapter injects at::parallel_for and torch.set_num_threads governs pybench and PyTorch
// alike.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

#include "bench_util.h"
#include "common/cpu_isa.h"
#include "conv2d/conv2d.h"
#include "conv2d_layers.h"
#include "conv2d_nchwc/conv2d_nchwc.h"
#include "shapes.h"

namespace {

using pybench::bench::aligned_floats;
using pybench::bench::AlignedFloats;
using pybench::bench::normal_floats;
using pybench::kernels::Conv2dParams;
using pybench::kernels::conv2d_flops;
using pybench::kernels::cpu::CpuIsa;
namespace kcpu = pybench::kernels::cpu;

struct Variant {
  const char* name;
  CpuIsa isa;
  void (*run)(const Conv2dParams&);
};

const Variant kVariants[] = {
    {"ref", CpuIsa::scalar, kcpu::conv2d_ref},
    {"avx2", CpuIsa::avx2, kcpu::conv2d_avx2},
    {"avx512", CpuIsa::avx512, kcpu::conv2d_avx512},
};

// conv2d_ref sums every output in double, one serial dependency chain per element, at
// about 1 GFLOP/s on one core: VGG-16's large layers at batch 8 (up to 30 GFLOP a call)
// would take tens of seconds per iteration and say nothing new, since ref is the oracle,
// not a contender. It is skipped above this count, with SkipWithError so the report
// lists the case and the reason rather than silently dropping it.
constexpr double kRefMaxFlops = 1e9;

// One seeded sequence per operand role (shared with conv2d_bench_cuda).
constexpr uint64_t kInputSeed = 0xc0de2d00ULL, kWeightSeed = kInputSeed + 1,
                   kBiasSeed = kInputSeed + 2;

void BM_conv2d(benchmark::State& state, const Variant& v, Conv2dParams p) {
  if (!pybench::bench::require_isa(state, v.isa)) return;
  const double flops = conv2d_flops(p);
  if (v.isa == CpuIsa::scalar && flops > kRefMaxFlops) {
    state.SkipWithError("ref skipped above 1 GFLOP a call (slow oracle, see kRefMaxFlops)");
    return;
  }
  const size_t in_size = static_cast<size_t>(p.batch * p.in_channels * p.in_h * p.in_w);
  const size_t w_size = static_cast<size_t>(p.out_channels * (p.in_channels / p.groups) *
                                            p.kernel_h * p.kernel_w);
  const size_t out_size = static_cast<size_t>(p.batch * p.out_channels * p.out_h * p.out_w);
  const size_t k_size = static_cast<size_t>(p.out_channels);
  p.input = normal_floats(kInputSeed, in_size);
  p.weight = normal_floats(kWeightSeed, w_size);
  p.bias = normal_floats(kBiasSeed, k_size);  // with bias, as VGG / AlexNet layers have it
  AlignedFloats output = aligned_floats(out_size);
  p.output = output.get();
  // p.exec.parallel_for stays empty: serial, one core (see the top of this file).

  for (auto _ : state) {
    v.run(p);
    benchmark::DoNotOptimize(p.output);
    benchmark::ClobberMemory();
  }
  const double bytes = static_cast<double>(sizeof(float)) *
                       static_cast<double>(in_size + w_size + k_size + out_size);
  state.counters["FLOP/s"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bytes/s"] =
      benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
}

// The blocked-layout kernel (conv2d_nchwc.h) on the same layers, as a converted model runs
// them: BM_conv2d_nchwc/<avx2|avx512>/<layer>/N=<batch>, block 8 on avx2 and 16 on avx512,
// the input blocked (or NCHW where it has fewer channels than a block, as a first layer),
// weights packed beforehand, bias and ReLU fused. Grouped layers are not its job (skipped
// at registration). FLOP/s as BM_conv2d's, so the two compare line by line.
struct NchwcVariant {
  const char* name;
  CpuIsa isa;
  int64_t block;
};
const NchwcVariant kNchwcVariants[] = {{"avx2", CpuIsa::avx2, 8}, {"avx512", CpuIsa::avx512, 16}};

void BM_conv2d_nchwc(benchmark::State& state, const NchwcVariant& v, const Conv2dParams& c) {
  if (!pybench::bench::require_isa(state, v.isa)) return;
  pybench::kernels::Conv2dNchwcParams p;
  static_cast<pybench::kernels::ConvParamsBase&>(p) = c;
  p.in_channels = c.in_channels;
  p.out_channels = c.out_channels;
  p.block = v.block;
  p.input_blocked = c.in_channels >= v.block;
  p.activation = pybench::kernels::Activation::relu;
  p.output_blocks = p.out_blocks();
  const int64_t bi = p.group_channels(), groups = p.channel_groups();
  const size_t in_size = static_cast<size_t>(p.batch * groups * bi * p.in_h * p.in_w);
  const size_t w_size =
      static_cast<size_t>(p.out_blocks() * groups * p.kernel_h * p.kernel_w * bi * v.block);
  const size_t out_size = static_cast<size_t>(p.batch * p.out_blocks() * p.out_h * p.out_w *
                                              v.block);
  p.input = normal_floats(kInputSeed, in_size);
  p.weight = normal_floats(kWeightSeed, w_size);
  p.bias = normal_floats(kBiasSeed, static_cast<size_t>(p.out_blocks() * v.block));
  AlignedFloats output = aligned_floats(out_size);
  p.output = output.get();
  pybench::kernels::cpu::set_active_cpu_isa(v.isa);
  for (auto _ : state) {
    kcpu::conv2d_nchwc(p);
    benchmark::DoNotOptimize(p.output);
    benchmark::ClobberMemory();
  }
  state.counters["FLOP/s"] =
      benchmark::Counter(conv2d_flops(c), benchmark::Counter::kIsIterationInvariantRate);
}

void register_shape_file(const char* file_name) {
  for (const auto& c : pybench::bench::load_shapes(file_name)) {
    for (int64_t N : pybench::bench::kConvBatches) {
      const Conv2dParams p = pybench::bench::conv2d_layer_params(c, N);
      for (const Variant& v : kVariants) {
        const std::string name =
            std::string("BM_conv2d/") + v.name + "/" + c.name + "/N=" + std::to_string(N);
        benchmark::RegisterBenchmark(name.c_str(), [&v, p](benchmark::State& state) {
          BM_conv2d(state, v, p);
        })->Unit(benchmark::kMicrosecond);
      }
      if (p.groups != 1) continue;
      for (const NchwcVariant& v : kNchwcVariants) {
        const std::string name =
            std::string("BM_conv2d_nchwc/") + v.name + "/" + c.name + "/N=" + std::to_string(N);
        benchmark::RegisterBenchmark(name.c_str(), [&v, p](benchmark::State& state) {
          BM_conv2d_nchwc(state, v, p);
        })->Unit(benchmark::kMicrosecond);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  return pybench::bench::benchmark_main(argc, argv, "conv2d_bench",
                                        [] { register_shape_file("conv.txt"); });
}
