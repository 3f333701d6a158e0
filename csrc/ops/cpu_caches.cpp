// The CPU cache description the kernels size their blocking by (common/cpu_caches.h), as
// pybench.ops.cpu_caches() reads it, and two test-only ops:
//   _set_cpu_caches_for_testing(spec) installs another description in-process (the
//     PYBENCH_CPU_CACHES syntax over the detected one; "" restores the process's own), so
//     one test run checks the kernels under a 512 KiB and a 2 MiB L2;
//   _cpu_cache_blocking() returns every CPU kernel's blocking sizes derived from the
//     description in use, so such a test can show the blocking really changed.
// A malformed PYBENCH_CPU_CACHES (or spec) is a ValueError naming the variable and the bad
// part.
#include <torch/library.h>

#include <stdexcept>
#include <string>

#include "common/cpu_caches.h"
#include "common/cpu_isa.h"
#include "conv2d/conv2d.h"
#include "depthwise_conv2d/depthwise_conv2d.h"
#include "gram/gram_blocking.h"
#include "lstm/lstm.h"
#include "separable_conv2d/separable_conv2d.h"

namespace pybench::ops {
namespace {

namespace kcpu = pybench::kernels::cpu;

const kcpu::CpuCaches& caches_or_raise() {
  try {
    return kcpu::cpu_caches();
  } catch (const std::invalid_argument& e) {
    C10_THROW_ERROR(ValueError, e.what());
  }
}

c10::Dict<std::string, std::string> cpu_caches() {
  const kcpu::CpuCaches& c = caches_or_raise();
  c10::Dict<std::string, std::string> d;
  d.insert("l1d", std::to_string(c.l1d));
  d.insert("l2", std::to_string(c.l2));
  d.insert("l3", std::to_string(c.l3));
  d.insert("line", std::to_string(c.line));
  d.insert("vendor", c.vendor);
  d.insert("family", std::to_string(c.family));
  d.insert("model", std::to_string(c.model));
  d.insert("source", c.source);
  d.insert("detected_source", c.detected_source);
  return d;
}

void set_cpu_caches_for_testing(const std::string& spec) {
  try {
    kcpu::set_cpu_caches_for_testing(spec);
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK_VALUE(false, "pybench._set_cpu_caches_for_testing('", spec, "'): ", e.what());
  }
}

c10::Dict<std::string, int64_t> cpu_cache_blocking() {
  const kcpu::CpuCaches& c = caches_or_raise();
  c10::Dict<std::string, int64_t> d;
  d.insert("conv2d_slab_bytes", kernels::conv2d_slab_bytes(c));
  d.insert("depthwise_plane_bytes", kernels::depthwise_plane_bytes(c));
  d.insert("separable_mid_bytes", kernels::separable_mid_bytes(c));
  for (kcpu::CpuIsa isa : {kcpu::CpuIsa::avx512, kcpu::CpuIsa::avx2}) {
    const kcpu::LstmKBlocking lstm = kcpu::lstm_k_blocking(c, isa);
    const std::string suffix = std::string("_") + kcpu::cpu_isa_name(isa);
    d.insert("lstm_chunk_k" + suffix, lstm.chunk_k);
    d.insert("lstm_direct_max_k" + suffix, lstm.direct_max_k);
    const kcpu::GramBlocking gram = kcpu::gram_blocking(c, isa);
    d.insert("gram_kc_max" + suffix, gram.kc_max);
    d.insert("gram_panel_bytes" + suffix, gram.panel_bytes);
    d.insert("gram_super_bytes" + suffix, gram.super_bytes);
  }
  return d;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(pybench, m) {
  m.def("cpu_caches() -> Dict(str, str)", &cpu_caches);
  m.def("_set_cpu_caches_for_testing(str spec) -> ()", &set_cpu_caches_for_testing);
  m.def("_cpu_cache_blocking() -> Dict(str, int)", &cpu_cache_blocking);
}

}  // namespace pybench::ops
