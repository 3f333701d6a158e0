// Schema of pybench::gram; the backends register themselves in cpu/ and cuda/.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(pybench, m) {
  m.def("gram(Tensor features, bool normalize=False) -> Tensor");
}
