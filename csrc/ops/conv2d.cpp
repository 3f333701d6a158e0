// Schema of pybench::conv2d; the backends register themselves in cpu/ and cuda/.
// padding is (top, bottom, left, right): pybench.ops.conv2d resolves ints, pairs, "valid"
// and "same" (whose padding is asymmetric for even kernels) into it. The epilogue
// arguments come last, with defaults, so calls written before them keep working:
// out = activation(conv2d(input, weight, bias) + residual).
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(pybench, m) {
  m.def(
      "conv2d(Tensor input, Tensor weight, Tensor? bias, int[2] stride, int[4] padding, "
      "int[2] dilation, int groups, Tensor? residual=None, str activation=\"none\") -> Tensor");
}
