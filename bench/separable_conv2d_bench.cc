// Google Benchmark for the CPU depthwise and fused separable kernels, every ISA variant on
//   BM_depthwise_conv2d/<variant>/<layer>/N=<batch>
//   BM_separable_conv2d/<variant>/<layer>/N=<batch>
// for each line of pybench/shapes/separable.txt (every depthwise -> pointwise pair of the
// MobileNets, the separable suite's cases) at batch 1 and 8.
// Variants: ref (scalar, double accumulation: the oracle), avx2, avx512; a variant the CPU
// lacks is reported with SkipWithError. Counters: FLOP/s (2 x multiply-adds, padding taps
// included) and bytes/s (compulsory traffic: depthwise_conv2d_bytes /
// separable_conv2d_bytes -- the fused op's intermediate is not part of it).
//
// Single-threaded (exec.parallel_for empty), as conv2d_bench: one core's throughput. Thread
// scaling and the PyTorch baselines are the Python suite's (`--suite separable`).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "bench_util.h"
#include "conv2d_layers.h"
#include "common/cpu_isa.h"
#include "conv2d/conv2d.h"
#include "separable_conv2d/separable_conv2d.h"
#include "shapes.h"

namespace {

using pybench::kernels::Activation;
using pybench::kernels::DepthwiseConv2dParams;
using pybench::kernels::SeparableConv2dParams;
using pybench::kernels::cpu::CpuIsa;
namespace kcpu = pybench::kernels::cpu;
using pybench::bench::aligned_floats;
using pybench::bench::AlignedFloats;

struct Variant {
  const char* name;
  CpuIsa isa;
  void (*depthwise)(const DepthwiseConv2dParams&);
  void (*separable)(const SeparableConv2dParams&);
};

const Variant kVariants[] = {
    {"ref", CpuIsa::scalar, kcpu::depthwise_conv2d_ref, kcpu::separable_conv2d_ref},
    {"avx2", CpuIsa::avx2, kcpu::depthwise_conv2d_avx2, kcpu::separable_conv2d_avx2},
    {"avx512", CpuIsa::avx512, kcpu::depthwise_conv2d_avx512, kcpu::separable_conv2d_avx512},
};

const int64_t kBatches[] = {1, 8};

// The double-accumulating oracle runs at about 1 GFLOP/s; the fused op's pointwise half
// at batch 8 is up to 0.8 GFLOP a call. Skipped above this, saying so.
constexpr double kRefMaxFlops = 2e8;

// One seeded sequence per operand role (bench_util's normal_floats).
enum Role { kInput = 0, kDwWeight, kDwBias, kPwWeight, kPwBias };

const float* normal_floats(Role role, size_t n) {
  return pybench::bench::normal_floats(0x5e9a2d00ULL + role, n);
}

Activation activation(const pybench::bench::ShapeCase& c, const char* key) {
  const int64_t a = c.get(key, 0);
  if (a < 0 || a > 2) throw std::runtime_error(c.source + ": " + key + " must be 0, 1 or 2");
  return static_cast<Activation>(a);
}

SeparableConv2dParams layer_params(const pybench::bench::ShapeCase& c, int64_t N) {
  SeparableConv2dParams s;
  DepthwiseConv2dParams& p = s.dw;
  const bool geometry_ok = pybench::bench::set_layer_geometry(p, c, N);
  p.channels = c.get("C");
  p.multiplier = c.get("M", 1);
  s.out_channels = c.get("K");
  s.dw_activation = activation(c, "A");
  s.pw_activation = activation(c, "PA");
  if (!geometry_ok || p.channels <= 0 || p.multiplier <= 0 || s.out_channels <= 0) {
    throw std::runtime_error(c.source + ": '" + c.name + "' is not a valid separable convolution");
  }
  return s;
}

bool usable(benchmark::State& state, const Variant& v, double flops) {
  if (!pybench::bench::require_isa(state, v.isa)) return false;
  if (v.isa == CpuIsa::scalar && flops > kRefMaxFlops) {
    state.SkipWithError("ref skipped above 0.2 GFLOP a call (slow oracle, see kRefMaxFlops)");
    return false;
  }
  return true;
}

void set_counters(benchmark::State& state, double flops, double bytes) {
  state.counters["FLOP/s"] =
      benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bytes/s"] =
      benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
}

void fill_depthwise(DepthwiseConv2dParams& p) {
  const int64_t mid = p.channels * p.multiplier;
  p.input = normal_floats(kInput, static_cast<size_t>(p.batch * p.channels * p.in_h * p.in_w));
  p.weight = normal_floats(kDwWeight, static_cast<size_t>(mid * p.kernel_h * p.kernel_w));
  p.bias = normal_floats(kDwBias, static_cast<size_t>(mid));
}

void BM_depthwise_conv2d(benchmark::State& state, const Variant& v, SeparableConv2dParams s) {
  DepthwiseConv2dParams p = s.dw;
  const double flops = pybench::kernels::depthwise_conv2d_flops(p);
  if (!usable(state, v, flops)) return;
  fill_depthwise(p);
  AlignedFloats out = aligned_floats(static_cast<size_t>(p.batch * p.out_channels() * p.out_h * p.out_w));
  p.output = out.get();
  for (auto _ : state) {
    v.depthwise(p);
    benchmark::DoNotOptimize(p.output);
    benchmark::ClobberMemory();
  }
  set_counters(state, flops, pybench::kernels::depthwise_conv2d_bytes(p));
}

void BM_separable_conv2d(benchmark::State& state, const Variant& v, SeparableConv2dParams s) {
  const double flops = pybench::kernels::separable_conv2d_flops(s);
  if (!usable(state, v, flops)) return;
  fill_depthwise(s.dw);
  const int64_t mid = s.dw.out_channels();
  s.pw_weight = normal_floats(kPwWeight, static_cast<size_t>(s.out_channels * mid));
  s.pw_bias = normal_floats(kPwBias, static_cast<size_t>(s.out_channels));
  AlignedFloats out =
      aligned_floats(static_cast<size_t>(s.dw.batch * s.out_channels * s.dw.out_h * s.dw.out_w));
  s.output = out.get();
  for (auto _ : state) {
    v.separable(s);
    benchmark::DoNotOptimize(s.output);
    benchmark::ClobberMemory();
  }
  set_counters(state, flops, pybench::kernels::separable_conv2d_bytes(s));
}

void register_shape_file(const char* file_name) {
  for (const auto& c : pybench::bench::load_shapes(file_name)) {
    for (int64_t N : kBatches) {
      const SeparableConv2dParams s = layer_params(c, N);
      const std::string suffix = "/" + c.name + "/N=" + std::to_string(N);
      for (const Variant& v : kVariants) {
        benchmark::RegisterBenchmark(
            (std::string("BM_depthwise_conv2d/") + v.name + suffix).c_str(),
            [&v, s](benchmark::State& st) { BM_depthwise_conv2d(st, v, s); })
            ->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(
            (std::string("BM_separable_conv2d/") + v.name + suffix).c_str(),
            [&v, s](benchmark::State& st) { BM_separable_conv2d(st, v, s); })
            ->Unit(benchmark::kMicrosecond);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  return pybench::bench::benchmark_main(argc, argv, "separable_conv2d_bench",
                                        [] { register_shape_file("separable.txt"); });
}
