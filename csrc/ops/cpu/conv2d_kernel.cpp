// CPU backend of pybench::conv2d: the shared argument checks, then the ISA-dispatched
// kernel threaded with at::parallel_for.
#include <torch/library.h>

#include <atomic>
#include <string>

#include "aten_parallel.h"
#include "conv2d_args.h"
#include "cpu/image_stacking.h"

namespace pybench::ops {
namespace {

std::atomic<bool> g_stack_images{true};

void set_image_stacking_for_testing(bool enabled) { g_stack_images.store(enabled); }

at::Tensor conv2d_cpu(const at::Tensor& input, const at::Tensor& weight,
                      const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                      at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                      const std::optional<at::Tensor>& residual, c10::string_view activation) {
  Conv2dInput in = prepare_conv2d(input, weight, bias, stride, padding, dilation, groups,
                                  c10::DeviceType::CPU, residual, std::string(activation));
  at::Tensor out = make_conv2d_output(in);
  if (out.numel() > 0) {
    in.params.exec = aten_cpu_execution();
    in.params.stack_images = image_stacking_enabled();
    kernels::cpu::conv2d(in.params);
  }
  return finish_conv2d_output(in, out);
}

}  // namespace

bool image_stacking_enabled() { return g_stack_images.load(std::memory_order_relaxed); }

TORCH_LIBRARY_FRAGMENT(pybench, m) {
  m.def("_set_image_stacking_for_testing(bool enabled) -> ()", &set_image_stacking_for_testing);
}

TORCH_LIBRARY_IMPL(pybench, CPU, m) { m.impl("conv2d", &conv2d_cpu); }

}  // namespace pybench::ops
