// Schema of pybench::gram and its backward; the backends register themselves in cpu/ and
// cuda/. Also _gram_executed_flops: the FLOPs the active CPU variant executes for a shape
// (its tiles' padding included), the Gram suites' "% HW" column.
#include <torch/library.h>

#include "common/cpu_isa.h"
#include "gram/gram_blocking.h"

namespace {

double gram_executed_flops(int64_t batch, int64_t channels, int64_t length) {
  TORCH_CHECK_VALUE(batch >= 0 && channels >= 0 && length >= 0,
                    "pybench._gram_executed_flops: sizes must be >= 0, got batch ", batch,
                    ", channels ", channels, ", length ", length);
  namespace kcpu = pybench::kernels::cpu;
  return kcpu::gram_executed_flops(kcpu::active_cpu_isa(), batch, channels, length);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(pybench, m) {
  m.def("gram(Tensor features, bool normalize=False) -> Tensor");
  // dF = scale * (dG + dG^T) F for G = gram(features, normalize): grad has gram's shape,
  // the result features' shape.
  m.def("gram_backward(Tensor grad, Tensor features, bool normalize=False) -> Tensor");
  m.def("_gram_executed_flops(int batch, int channels, int length) -> float",
        &gram_executed_flops);
}
