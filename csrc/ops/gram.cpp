// Schema of pybench::gram and its backward; the backends register themselves in cpu/ and
// cuda/.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(pybench, m) {
  m.def("gram(Tensor features, bool normalize=False) -> Tensor");
  // dF = scale * (dG + dG^T) F for G = gram(features, normalize): grad has gram's shape,
  // the result features' shape.
  m.def("gram_backward(Tensor grad, Tensor features, bool normalize=False) -> Tensor");
}
