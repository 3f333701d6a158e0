// pybench::fma_peak_run: the FMA throughput loop of the active CPU ISA on every thread of
// at::parallel_for at once; `python -m pybench peak` times it (pybench/peak.py).
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <atomic>

#include "peak/peak.h"

namespace pybench::ops {
namespace {

// Returns the FLOPs executed by all threads together.
double fma_peak_run(int64_t iterations, int64_t threads) {
  TORCH_CHECK_VALUE(iterations > 0 && threads > 0,
                    "pybench.fma_peak_run: expected positive iterations and threads, got ",
                    iterations, " and ", threads);
  std::atomic<float> sink{0.0f};
  std::atomic<int64_t> ran{0};
  at::parallel_for(0, threads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      sink.store(sink.load() + kernels::cpu::fma_loop(iterations));
      ran.fetch_add(1);
    }
  });
  TORCH_CHECK(sink.load() != 0.0f, "pybench.fma_peak_run: the loop produced no result");
  return kernels::cpu::fma_loop_flops(iterations) * static_cast<double>(ran.load());
}

}  // namespace

// No tensor arguments, so no dispatch key: a catch-all kernel, like the CPU-ISA ops.
TORCH_LIBRARY_FRAGMENT(pybench, m) {
  m.def("fma_peak_run(int iterations, int threads) -> float", &fma_peak_run);
}

}  // namespace pybench::ops
