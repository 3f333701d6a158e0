// CPU backend of pybench::max_pool2d, avg_pool2d and adaptive_avg_pool2d: the shared
// checks and set-up of pool2d_args.h, then the ISA-dispatched kernel threaded with
// at::parallel_for.
#include <torch/library.h>

#include <optional>

#include "aten_parallel.h"
#include "pool2d/pool2d.h"
#include "pool2d_args.h"

namespace pybench::ops {
namespace {

at::Tensor run_pool2d_cpu(Pool2dCall c) {
  if (c.output.numel() > 0) {
    point_pool2d_operands(c);
    c.p.exec = aten_cpu_execution();
    kernels::cpu::pool2d(c.p);
  }
  return c.output;
}

at::Tensor max_pool2d_cpu(const at::Tensor& input, at::IntArrayRef kernel_size,
                          at::IntArrayRef stride, at::IntArrayRef padding,
                          at::IntArrayRef dilation, bool ceil_mode) {
  return run_pool2d_cpu(prepare_max_pool2d(input, kernel_size, stride, padding, dilation,
                                           ceil_mode, c10::DeviceType::CPU));
}

at::Tensor avg_pool2d_cpu(const at::Tensor& input, at::IntArrayRef kernel_size,
                          at::IntArrayRef stride, at::IntArrayRef padding, bool ceil_mode,
                          bool count_include_pad, std::optional<int64_t> divisor_override) {
  return run_pool2d_cpu(prepare_avg_pool2d(input, kernel_size, stride, padding, ceil_mode,
                                           count_include_pad, divisor_override,
                                           c10::DeviceType::CPU));
}

at::Tensor adaptive_avg_pool2d_cpu(const at::Tensor& input, at::IntArrayRef output_size) {
  return run_pool2d_cpu(prepare_adaptive_avg_pool2d(input, output_size, c10::DeviceType::CPU));
}

}  // namespace

TORCH_LIBRARY_IMPL(pybench, CPU, m) {
  m.impl("max_pool2d", &max_pool2d_cpu);
  m.impl("avg_pool2d", &avg_pool2d_cpu);
  m.impl("adaptive_avg_pool2d", &adaptive_avg_pool2d_cpu);
}

}  // namespace pybench::ops
