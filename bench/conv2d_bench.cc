// Google Benchmark for the CPU conv2d kernels, every ISA variant on
//   BM_conv2d/<variant>/<layer>/N=<batch>   each line of pybench/shapes/conv.txt (the
//                                           layers the Python conv suite measures) at
//                                           batch 1 and 8, as the suite runs them
// Variants: ref (scalar, double accumulation), avx2, avx512; a variant the CPU lacks is
// reported with SkipWithError. Counters: FLOP/s (conv2d_flops: 2 x multiply-adds, padding
// taps included, as benchdnn counts) and bytes/s (compulsory traffic: input, weight and
// bias read once, output written once).
//
// Single-threaded: Conv2dParams::parallel_for is left empty (max_threads 1), so the
// numbers are one core's throughput. Thread scaling belongs to the Python side, where the
// adapter injects at::parallel_for and torch.set_num_threads governs pybench and PyTorch
// alike.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <random>
#include <string>

#include "common/cpu_isa.h"
#include "conv2d/conv2d.h"
#include "shapes.h"

namespace {

using pybench::kernels::Conv2dParams;
using pybench::kernels::conv2d_flops;
using pybench::kernels::conv2d_out_size;
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

// The batches the conv suite runs; the shape file leaves N to its consumers.
const int64_t kBatches[] = {1, 8};

// conv2d_ref sums every output in double, one serial dependency chain per element, at
// about 1 GFLOP/s on one core: VGG-16's large layers at batch 8 (up to 30 GFLOP a call)
// would take tens of seconds per iteration and say nothing new, since ref is the oracle,
// not a contender. It is skipped above this count, with SkipWithError so the report
// lists the case and the reason rather than silently dropping it.
constexpr double kRefMaxFlops = 1e9;

// 64-byte aligned like PyTorch's CPU allocator, so plane starts match what the Python
// benchmark feeds the kernel.
struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using AlignedFloats = std::unique_ptr<float[], FreeDeleter>;

AlignedFloats aligned_floats(size_t n) {
  const size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
  return AlignedFloats(static_cast<float*>(std::aligned_alloc(64, bytes > 0 ? bytes : 64)));
}

// Standard normal operands, never zeros (all-zero data would also hide a kernel that
// skips work). One buffer per operand role, grown only: Google Benchmark calls a
// benchmark function several times while it sizes the iteration count and the variants
// of a layer run back to back, so regenerating up to 26 M normals for every call would
// dominate a run's wall time. Each buffer is the prefix of one seeded sequence, so a
// case sees the same values whatever ran before it.
enum Role { kInput = 0, kWeight = 1, kBias = 2 };

const float* normal_floats(Role role, size_t n) {
  static AlignedFloats buffers[3];
  static size_t sizes[3] = {0, 0, 0};
  if (!buffers[role] || sizes[role] < n) {
    buffers[role].reset();  // free first: the largest input is 103 MB
    buffers[role] = aligned_floats(n);
    sizes[role] = n;
    std::mt19937_64 rng(0xc0de2d00ULL + role);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (size_t i = 0; i < n; ++i) buffers[role][i] = normal(rng);
  }
  return buffers[role].get();
}

// Geometry of one shape-file line at batch N; pointers are set by BM_conv2d.
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
  // What the ATen adapter checks before it calls a kernel; a bad line fails here, loudly,
  // rather than as a wild read in the middle of a run.
  if (p.groups <= 0 || p.in_channels % p.groups != 0 || p.out_channels % p.groups != 0 ||
      p.stride_h <= 0 || p.stride_w <= 0 || p.dilation_h <= 0 || p.dilation_w <= 0 ||
      p.kernel_h <= 0 || p.kernel_w <= 0 || p.out_h <= 0 || p.out_w <= 0) {
    throw std::runtime_error(c.source + ": '" + c.name + "' is not a valid convolution");
  }
  return p;
}

void BM_conv2d(benchmark::State& state, const Variant& v, Conv2dParams p) {
  if (!kcpu::cpu_supports(v.isa)) {
    const std::string msg = std::string("CPU lacks ") + kcpu::cpu_isa_name(v.isa) +
                            " (detected: " + kcpu::cpu_isa_name(kcpu::detected_cpu_isa()) + ")";
    state.SkipWithError(msg.c_str());
    return;
  }
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
  p.input = normal_floats(kInput, in_size);
  p.weight = normal_floats(kWeight, w_size);
  p.bias = normal_floats(kBias, k_size);  // with bias, as VGG / AlexNet layers have it
  AlignedFloats output = aligned_floats(out_size);
  p.output = output.get();
  // p.parallel_for stays empty: serial, one core (see the top of this file).

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

void register_shape_file(const char* file_name) {
  for (const auto& c : pybench::bench::load_shapes(file_name)) {
    for (int64_t N : kBatches) {
      const Conv2dParams p = layer_params(c, N);
      for (const Variant& v : kVariants) {
        const std::string name =
            std::string("BM_conv2d/") + v.name + "/" + c.name + "/N=" + std::to_string(N);
        benchmark::RegisterBenchmark(name.c_str(), [&v, p](benchmark::State& state) {
          BM_conv2d(state, v, p);
        })->Unit(benchmark::kMicrosecond);
      }
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
    std::fprintf(stderr, "conv2d_bench: %s\n", e.what());
    return 1;
  }
  benchmark::AddCustomContext("pybench_cpu_isa_detected",
                              kcpu::cpu_isa_name(kcpu::detected_cpu_isa()));
  benchmark::AddCustomContext("pybench_shapes_dir", pybench::bench::shapes_dir());
  // Nonzero when the filter matched nothing, so a stale ctest smoke filter fails loudly
  // (Google Benchmark itself only prints a message and exits 0).
  const size_t ran = benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return ran > 0 ? 0 : 1;
}
