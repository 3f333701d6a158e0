#pragma once
// An injected parallel-for, so the torch-free kernels thread the same way as the
// framework that calls them: the ATen adapters pass a wrapper of at::parallel_for (so
// torch.set_num_threads governs pybench and PyTorch alike; aten_cpu_execution in
// csrc/ops/aten_parallel.h), the Google Benchmark binaries and GoogleTest leave it empty
// and run serially.
#include <cstdint>
#include <functional>

namespace pybench::kernels {

// body(begin, end) processes work items [begin, end).
using ParallelBody = std::function<void(int64_t, int64_t)>;
using ParallelFor =
    std::function<void(int64_t begin, int64_t end, int64_t grain, const ParallelBody& body)>;

// How a CPU kernel may thread, a member of every CPU params struct: the injected
// parallel-for (empty: serial) and how many threads it may use, which the kernels that
// split work finer than one item per thread read to size that split.
struct CpuExecution {
  ParallelFor parallel_for;  // empty: serial
  int64_t max_threads = 1;   // threads parallel_for may use
};

inline void run_parallel(const ParallelFor& parallel_for, int64_t begin, int64_t end,
                         int64_t grain, const ParallelBody& body) {
  if (begin >= end) return;
  if (parallel_for) {
    parallel_for(begin, end, grain, body);
  } else {
    body(begin, end);
  }
}

inline void run_parallel(const CpuExecution& exec, int64_t begin, int64_t end, int64_t grain,
                         const ParallelBody& body) {
  run_parallel(exec.parallel_for, begin, end, grain, body);
}

}  // namespace pybench::kernels
