// Schemas of pybench::max_pool2d, avg_pool2d and adaptive_avg_pool2d: PyTorch's pooling
// (F.max_pool2d without return_indices, F.avg_pool2d, F.adaptive_avg_pool2d) on float32
// NCHW or unbatched CHW tensors. The backends register themselves in cpu/ and cuda/;
// padding is (height, width), symmetric, as PyTorch's; the Python wrappers
// (pybench/ops/pool_ops.py) fill in the defaults (stride = kernel_size, ...).
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(pybench, m) {
  m.def(
      "max_pool2d(Tensor input, int[2] kernel_size, int[2] stride, int[2] padding, "
      "int[2] dilation, bool ceil_mode) -> Tensor");
  m.def(
      "avg_pool2d(Tensor input, int[2] kernel_size, int[2] stride, int[2] padding, "
      "bool ceil_mode, bool count_include_pad, int? divisor_override) -> Tensor");
  m.def("adaptive_avg_pool2d(Tensor input, int[2] output_size) -> Tensor");
}
