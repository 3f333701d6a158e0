#pragma once
// The kernels' injected parallel-for, backed by at::parallel_for so that
// torch.set_num_threads governs pybench's kernels and PyTorch's baselines alike.
#include <ATen/Parallel.h>

#include "common/parallel.h"

namespace pybench::ops {

inline kernels::ParallelFor aten_parallel_for() {
  return [](int64_t begin, int64_t end, int64_t grain, const kernels::ParallelBody& body) {
    at::parallel_for(begin, end, grain, body);
  };
}

// The params' CpuExecution: at::parallel_for on at::get_num_threads() threads.
inline kernels::CpuExecution aten_cpu_execution() {
  return {aten_parallel_for(), at::get_num_threads()};
}

}  // namespace pybench::ops
