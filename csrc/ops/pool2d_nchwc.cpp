// Schemas of pybench::pool2d_nchwc (max or average pooling, F.max_pool2d / F.avg_pool2d
// semantics) and pybench::adaptive_avg_pool2d_nchwc on the blocked layout; CPU only
// (cpu/pool2d_nchwc_kernel.cpp): the blocked layout is a CPU layout. padding is
// (height, width), symmetric, as PyTorch's pooling; dilation applies to max only.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(pybench, m) {
  m.def(
      "pool2d_nchwc(Tensor input, str mode, int[2] kernel_size, int[2] stride, int[2] padding, "
      "int[2] dilation, bool ceil_mode, bool count_include_pad, int? divisor_override) -> Tensor");
  m.def("adaptive_avg_pool2d_nchwc(Tensor input, int[2] output_size) -> Tensor");
}
