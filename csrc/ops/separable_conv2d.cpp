// Schema of pybench::separable_conv2d; the backends register themselves in cpu/ and cuda/.
// padding as for depthwise_conv2d; activation / pw_activation are "none" | "relu" |
// "relu6", applied after the depthwise / the pointwise convolution.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(pybench, m) {
  m.def(
      "separable_conv2d(Tensor input, Tensor dw_weight, Tensor pw_weight, Tensor? dw_bias, "
      "Tensor? pw_bias, int[2] stride, int[4] padding, int[2] dilation, str activation, "
      "str pw_activation) -> Tensor");
}
