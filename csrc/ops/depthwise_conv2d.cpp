// Schema of pybench::depthwise_conv2d; the backends register themselves in cpu/ and cuda/.
// padding is (top, bottom, left, right), resolved by pybench.ops.depthwise_conv2d as for
// conv2d.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(pybench, m) {
  m.def(
      "depthwise_conv2d(Tensor input, Tensor weight, Tensor? bias, int[2] stride, "
      "int[4] padding, int[2] dilation) -> Tensor");
}
