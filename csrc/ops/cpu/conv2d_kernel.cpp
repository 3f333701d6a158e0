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
std::atomic<kernels::Conv2dAlgorithm> g_algorithm{kernels::Conv2dAlgorithm::automatic};

void set_image_stacking_for_testing(bool enabled) { g_stack_images.store(enabled); }

// Forces the CPU kernel of pybench::conv2d ("direct" or "nchwc"; "auto" gives the choice
// back), for tests that run both paths on one shape and for A/B timings in one process.
void set_conv2d_algorithm_for_testing(c10::string_view name) {
  const std::string s(name);
  if (s == "auto") {
    g_algorithm.store(kernels::Conv2dAlgorithm::automatic);
  } else if (s == "direct") {
    g_algorithm.store(kernels::Conv2dAlgorithm::direct);
  } else if (s == "nchwc") {
    g_algorithm.store(kernels::Conv2dAlgorithm::nchwc);
  } else {
    TORCH_CHECK_VALUE(false, "pybench._set_conv2d_algorithm_for_testing: expected 'auto', "
                             "'direct' or 'nchwc', got '", s, "'");
  }
}

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
    in.params.algorithm = g_algorithm.load(std::memory_order_relaxed);
    kernels::cpu::conv2d(in.params);
  }
  return finish_conv2d_output(in, out);
}

}  // namespace

bool image_stacking_enabled() { return g_stack_images.load(std::memory_order_relaxed); }

TORCH_LIBRARY_FRAGMENT(pybench, m) {
  m.def("_set_image_stacking_for_testing(bool enabled) -> ()", &set_image_stacking_for_testing);
  m.def("_set_conv2d_algorithm_for_testing(str algorithm) -> ()",
        &set_conv2d_algorithm_for_testing);
}

TORCH_LIBRARY_IMPL(pybench, CPU, m) { m.impl("conv2d", &conv2d_cpu); }

}  // namespace pybench::ops
