// Schema of pybench::linear: y = act(input @ W^T + bias) with W packed once by
// pybench.ops.pack_linear (csrc/kernels/linear/linear.h); CPU only
// (cpu/linear_kernel.cpp): a small-batch inference kernel for the classifiers of
// converted models.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(pybench, m) {
  m.def(
      "linear(Tensor input, Tensor weight, Tensor? bias, int out_features, "
      "str activation=\"none\") -> Tensor");
}
