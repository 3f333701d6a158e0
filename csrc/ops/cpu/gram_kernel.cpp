// CPU backend of pybench::gram and pybench::gram_backward: argument checks, then the ISA-dispatched kernel threaded
// with at::parallel_for.
#include <torch/library.h>

#include "aten_parallel.h"
#include "gram_args.h"

namespace pybench::ops {
namespace {

at::Tensor gram_cpu(const at::Tensor& features, bool normalize) {
  GramInput in = prepare_gram_input(features, c10::DeviceType::CPU, "pybench.gram");
  at::Tensor gram = empty_gram_output(in);
  kernels::GramParams p = make_gram_params(in, gram, normalize);
  if (gram.numel() > 0) {
    p.exec = aten_cpu_execution();
    kernels::cpu::gram(p);
  }
  return finish_gram_output(in, gram);
}

at::Tensor gram_backward_cpu(const at::Tensor& grad, const at::Tensor& features, bool normalize) {
  GramBackwardCall c = prepare_gram_backward(grad, features, normalize, c10::DeviceType::CPU,
                                             "pybench.gram_backward");
  if (c.p.batch > 0 && c.p.channels > 0 && c.p.length > 0) {
    c.p.exec = aten_cpu_execution();
    kernels::cpu::gram_backward(c.p);
  }
  return c.out;
}

}  // namespace

TORCH_LIBRARY_IMPL(pybench, CPU, m) {
  m.impl("gram", &gram_cpu);
  m.impl("gram_backward", &gram_backward_cpu);
}

}  // namespace pybench::ops
