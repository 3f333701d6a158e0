// The one TORCH_LIBRARY anchor of the pybench namespace, the CPU-ISA control ops, and
// the empty Python module that lets `import pybench._C` load this library (and so run
// every TORCH_LIBRARY_FRAGMENT / TORCH_LIBRARY_IMPL in it), as pytorch/extension-cpp does.
#include <Python.h>
#include <torch/library.h>

#include <stdexcept>
#include <string>

#include "common/cpu_isa.h"

namespace pybench::ops {
namespace {

namespace isa = pybench::kernels::cpu;

std::string detected_cpu_isa() { return isa::cpu_isa_name(isa::detected_cpu_isa()); }

std::string active_cpu_isa() { return isa::cpu_isa_name(isa::active_cpu_isa()); }

void set_cpu_isa(const std::string& name) {
  auto parsed = isa::parse_cpu_isa(name);
  TORCH_CHECK_VALUE(parsed.has_value(), "pybench.set_cpu_isa: unknown CPU ISA '", name,
                    "' (expected one of: avx512, avx2, scalar)");
  try {
    isa::set_active_cpu_isa(*parsed);
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK_VALUE(false, e.what());
  }
}

}  // namespace

TORCH_LIBRARY(pybench, m) {
  m.def("detected_cpu_isa() -> str", &detected_cpu_isa);
  m.def("active_cpu_isa() -> str", &active_cpu_isa);
  m.def("set_cpu_isa(str name) -> ()", &set_cpu_isa);
}

}  // namespace pybench::ops

PyMODINIT_FUNC PyInit__C(void) {
  static PyModuleDef module = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module);
}
