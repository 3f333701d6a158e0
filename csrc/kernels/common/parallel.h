#pragma once
// An injected parallel-for, so the torch-free kernels thread the same way as the
// framework that calls them: the ATen adapters pass a wrapper of at::parallel_for (so
// torch.set_num_threads governs pybench and PyTorch alike), the Google Benchmark
// binaries and GoogleTest leave it empty and run serially.
#include <cstdint>
#include <functional>

namespace pybench::kernels {

// body(begin, end) processes work items [begin, end).
using ParallelBody = std::function<void(int64_t, int64_t)>;
using ParallelFor =
    std::function<void(int64_t begin, int64_t end, int64_t grain, const ParallelBody& body)>;

inline void run_parallel(const ParallelFor& parallel_for, int64_t begin, int64_t end,
                         int64_t grain, const ParallelBody& body) {
  if (begin >= end) return;
  if (parallel_for) {
    parallel_for(begin, end, grain, body);
  } else {
    body(begin, end);
  }
}

}  // namespace pybench::kernels
