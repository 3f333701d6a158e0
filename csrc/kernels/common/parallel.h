#pragma once
// An injected parallel-for, so the torch-free kernels thread the same way as the
// framework that calls them: the ATen adapters pass a wrapper of at::parallel_for (so
// torch.set_num_threads governs pybench and PyTorch alike; aten_cpu_execution in
// csrc/ops/aten_parallel.h), the Google Benchmark binaries and GoogleTest leave it empty
// and run serially.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

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

// Runs body over items [0, n) in at most exec.max_threads contiguous ranges of near-equal
// cost, prefix[i] being the cost of items [0, i) (n + 1 entries). at::parallel_for splits
// by item count: when items differ in cost (a layer's output block groups of 4 and 2
// blocks, a short last chunk) and there are few of them, one thread idles for a third of
// the layer -- MobileNet-v2's 1x1 layers scaled 1.4-1.6x on 2 threads so.
// The first item of range t of `parts` (t = parts: n): the item boundary whose cost is
// nearest t / parts of the total.
inline int64_t balanced_bound(const std::vector<int64_t>& prefix, int64_t parts, int64_t t) {
  const int64_t n = static_cast<int64_t>(prefix.size()) - 1;
  if (t <= 0) return 0;
  if (t >= parts) return n;
  const int64_t target = prefix[n] * t / parts;
  int64_t i = std::lower_bound(prefix.begin(), prefix.end(), target) - prefix.begin();
  if (i > 0 && target - prefix[i - 1] < prefix[i] - target) --i;
  return std::clamp<int64_t>(i, 0, n);
}

// The ranges run_parallel_balanced makes of `prefix` for `threads`: the costliest one's
// cost (what the threads wait for), for kernels that choose between splits.
inline int64_t balanced_makespan(const std::vector<int64_t>& prefix, int64_t threads) {
  const int64_t n = static_cast<int64_t>(prefix.size()) - 1;
  if (n <= 0) return 0;
  const int64_t parts = std::clamp<int64_t>(threads, 1, n);
  int64_t worst = 0;
  for (int64_t t = 0; t < parts; ++t) {
    worst = std::max(worst, prefix[balanced_bound(prefix, parts, t + 1)] -
                                prefix[balanced_bound(prefix, parts, t)]);
  }
  return worst;
}

inline void run_parallel_balanced(const CpuExecution& exec, const std::vector<int64_t>& prefix,
                                  const ParallelBody& body) {
  const int64_t n = static_cast<int64_t>(prefix.size()) - 1;
  if (n <= 0) return;
  const int64_t parts = std::clamp<int64_t>(exec.max_threads, 1, n);
  if (!exec.parallel_for || parts == 1) {
    body(0, n);
    return;
  }
  run_parallel(exec, 0, parts, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t lo = balanced_bound(prefix, parts, t), hi = balanced_bound(prefix, parts, t + 1);
      if (lo < hi) body(lo, hi);
    }
  });
}

}  // namespace pybench::kernels
