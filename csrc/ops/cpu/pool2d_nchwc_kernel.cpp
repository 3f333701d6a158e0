// CPU backend of pybench::pool2d_nchwc and pybench::adaptive_avg_pool2d_nchwc: PyTorch's
// argument checks (pool2d_args.h, shared with the NCHW pooling), the windows of
// pool2d/pool2d.h, then the ISA-dispatched kernel threaded with at::parallel_for.
#include <torch/library.h>

#include <optional>
#include <string>
#include <vector>

#include "aten_parallel.h"
#include "nchwc_args.h"
#include "output_cache.h"
#include "pool2d_args.h"
#include "pool2d_nchwc/pool2d_nchwc.h"

namespace pybench::ops {
namespace {

using kernels::PoolWindow;

struct Blocked {
  at::Tensor x;
  kernels::Pool2dNchwcParams p;
};

Blocked blocked_input(const char* op, const at::Tensor& input) {
  const int64_t B = check_blocked_input(op, input);
  Blocked b;
  b.x = input.contiguous();
  b.p.batch = input.size(0);
  b.p.blocks = input.size(1);
  b.p.in_h = input.size(2);
  b.p.in_w = input.size(3);
  b.p.block = B;
  return b;
}

at::Tensor run_pool(Blocked& b, const std::vector<PoolWindow>& rows,
                    const std::vector<PoolWindow>& cols) {
  kernels::Pool2dNchwcParams& p = b.p;
  p.out_h = static_cast<int64_t>(rows.size());
  p.out_w = static_cast<int64_t>(cols.size());
  at::Tensor out =
      empty_output({p.batch, p.blocks, p.out_h, p.out_w, p.block}, b.x.options());
  if (out.numel() == 0) return out;
  p.input = b.x.data_ptr<float>();
  p.output = out.data_ptr<float>();
  p.rows = rows.data();
  p.cols = cols.data();
  p.exec = aten_cpu_execution();
  kernels::cpu::pool2d_nchwc(p);
  return out;
}

at::Tensor pool2d_nchwc_cpu(const at::Tensor& input, c10::string_view mode,
                            at::IntArrayRef kernel_size, at::IntArrayRef stride,
                            at::IntArrayRef padding, at::IntArrayRef dilation, bool ceil_mode,
                            bool count_include_pad, std::optional<int64_t> divisor_override) {
  constexpr const char* op = "pybench.pool2d_nchwc";
  TORCH_CHECK_VALUE(mode == "max" || mode == "avg", op, ": unknown mode '", std::string(mode),
                    "'; expected 'max' or 'avg'");
  const bool max = mode == "max";
  check_pool_geometry(op, max, kernel_size, stride, padding, dilation, divisor_override);
  Blocked b = blocked_input(op, input);
  kernels::Pool2dNchwcParams& p = b.p;
  const PoolOutputSize o = checked_pool_output_size(op, p.in_h, p.in_w, kernel_size, stride,
                                                    padding, dilation, ceil_mode);
  p.mode = max ? kernels::PoolMode::max : kernels::PoolMode::avg;
  p.dilation_h = dilation[0];
  p.dilation_w = dilation[1];
  p.count_include_pad = count_include_pad;
  p.divisor_override = divisor_override.value_or(0);
  return run_pool(b,
                  kernels::pool_windows(p.in_h, o.h, kernel_size[0], stride[0], padding[0],
                                        dilation[0]),
                  kernels::pool_windows(p.in_w, o.w, kernel_size[1], stride[1], padding[1],
                                        dilation[1]));
}

at::Tensor adaptive_avg_pool2d_nchwc_cpu(const at::Tensor& input, at::IntArrayRef output_size) {
  constexpr const char* op = "pybench.adaptive_avg_pool2d_nchwc";
  TORCH_CHECK_VALUE(output_size.size() == 2 && output_size[0] > 0 && output_size[1] > 0, op,
                    ": expected a positive output_size (H, W), got ", output_size);
  Blocked b = blocked_input(op, input);
  b.p.mode = kernels::PoolMode::avg;
  b.p.count_include_pad = false;
  return run_pool(b, kernels::adaptive_pool_windows(b.p.in_h, output_size[0]),
                  kernels::adaptive_pool_windows(b.p.in_w, output_size[1]));
}

}  // namespace

TORCH_LIBRARY_IMPL(pybench, CPU, m) {
  m.impl("pool2d_nchwc", &pool2d_nchwc_cpu);
  m.impl("adaptive_avg_pool2d_nchwc", &adaptive_avg_pool2d_nchwc_cpu);
}

}  // namespace pybench::ops
