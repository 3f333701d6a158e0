#include "bench_util.h"

#include <cstdio>
#include <exception>
#include <map>
#include <random>
#include <string>
#include <utility>

#include "common/cpu_caches.h"
#include "shapes.h"

namespace pybench::bench {

namespace kcpu = kernels::cpu;

AlignedFloats aligned_floats(size_t n) {
  const size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
  return AlignedFloats(static_cast<float*>(std::aligned_alloc(64, bytes > 0 ? bytes : 64)));
}

const float* normal_floats(uint64_t seed, size_t n) {
  static std::map<uint64_t, std::pair<AlignedFloats, size_t>> buffers;
  auto& [buffer, size] = buffers[seed];
  if (!buffer || size < n) {
    buffer.reset();  // free first: the largest operands are over 100 MB
    buffer = aligned_floats(n);
    size = n;
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (size_t i = 0; i < n; ++i) buffer[i] = normal(rng);
  }
  return buffer.get();
}

bool require_isa(benchmark::State& state, kcpu::CpuIsa isa) {
  if (kcpu::cpu_supports(isa)) return true;
  const std::string msg = std::string("CPU lacks ") + kcpu::cpu_isa_name(isa) +
                          " (detected: " + kcpu::cpu_isa_name(kcpu::detected_cpu_isa()) + ")";
  state.SkipWithError(msg.c_str());
  return false;
}

int benchmark_main(int argc, char** argv, const char* program,
                   const std::function<void()>& register_all) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::string caches;
  try {
    register_all();
    // The kernels' blocking follows these sizes, so the context records them; a malformed
    // PYBENCH_CPU_CACHES fails here, before any benchmark runs.
    const kcpu::CpuCaches& c = kcpu::cpu_caches();
    caches = "l1d " + kcpu::format_cache_size(c.l1d) + ", l2 " + kcpu::format_cache_size(c.l2) +
             ", l3 " + kcpu::format_cache_size(c.l3) + " (" + c.source + ")";
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 1;
  }
  benchmark::AddCustomContext("pybench_cpu_isa_detected",
                              kcpu::cpu_isa_name(kcpu::detected_cpu_isa()));
  benchmark::AddCustomContext("pybench_cpu_caches", caches);
  benchmark::AddCustomContext("pybench_shapes_dir", shapes_dir());
  const size_t ran = benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return ran > 0 ? 0 : 1;
}

}  // namespace pybench::bench
