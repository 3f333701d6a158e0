// Schema of pybench::depthwise_conv2d_nchwc, the blocked-layout depthwise convolution with
// its fused epilogue; CPU only (cpu/depthwise_conv2d_nchwc_kernel.cpp): the blocked layout
// is a CPU layout. padding is (top, bottom, left, right), as depthwise_conv2d's; channels is
// the real channel count C, which a blocked tensor does not carry (lanes >= C of the last
// block are written as zeros); bias is padded to Cb*B by pybench.ops.depthwise_nchwc.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(pybench, m) {
  m.def(
      "depthwise_conv2d_nchwc(Tensor input, Tensor weight, Tensor? bias, Tensor? residual, "
      "int channels, int[2] stride, int[4] padding, int[2] dilation, str activation) -> Tensor");
}
