// CPU backend of pybench::gram: argument checks, then the ISA-dispatched kernel threaded
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

}  // namespace

TORCH_LIBRARY_IMPL(pybench, CPU, m) { m.impl("gram", &gram_cpu); }

}  // namespace pybench::ops
