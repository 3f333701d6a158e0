#pragma once
// What every pybench Google Benchmark binary shares: 64-byte aligned, seeded standard-
// normal operands, the skip for an ISA this CPU lacks, and main().
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>

#include "common/cpu_isa.h"

namespace pybench::bench {

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using AlignedFloats = std::unique_ptr<float[], FreeDeleter>;

// 64-byte aligned like PyTorch's CPU allocator, so row and plane starts match what the
// Python benchmarks feed the kernels.
AlignedFloats aligned_floats(size_t n);

// The first n values of the standard-normal sequence seeded by `seed` (never zeros:
// all-zero data would hide a kernel that skips work, and zeros and denormals change CPU
// speed). One buffer per seed, grown only and kept for the process: Google Benchmark
// calls a benchmark function several times while it sizes the iteration count and the
// variants of a case run back to back, so regenerating tens of millions of normals per
// call would dominate a run's wall time. A case sees the same values whatever ran before.
const float* normal_floats(uint64_t seed, size_t n);

// True when this CPU can run `isa`; otherwise marks the benchmark skipped with the reason
// (SkipWithError, so the report lists the case rather than silently dropping it).
bool require_isa(benchmark::State& state, kernels::cpu::CpuIsa isa);

// main() of a benchmark binary: Initialize, `register_all` (a std::exception thrown there,
// e.g. a malformed shape file, prints "<program>: <what>" and exits 1), the context keys
// pybench_cpu_isa_detected and pybench_shapes_dir, then the run. Exits nonzero when the
// filter matched nothing, so a stale ctest smoke filter fails loudly (Google Benchmark
// itself only prints a message and exits 0).
int benchmark_main(int argc, char** argv, const char* program,
                   const std::function<void()>& register_all);

}  // namespace pybench::bench
