#include "common/cpu_isa.h"

#include <atomic>
#include <cstdlib>
#include <stdexcept>

namespace pybench::kernels::cpu {
namespace {

CpuIsa detect() {
#if defined(__x86_64__) || defined(__i386__)
  // __builtin_cpu_supports checks CPUID and that the OS saves the wider registers
  // (XGETBV), so a kernel without AVX-512 state support reports avx2.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
    return CpuIsa::avx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return CpuIsa::avx2;
  }
#endif
  return CpuIsa::scalar;
}

CpuIsa initial_isa() {
  CpuIsa isa = detected_cpu_isa();
  if (const char* cap = std::getenv("PYBENCH_MAX_CPU_ISA")) {
    // An unknown value is ignored rather than fatal: the library is loaded at import
    // time, where throwing would make the whole package unusable. pybench.ops checks
    // the variable again and raises a readable error.
    if (auto parsed = parse_cpu_isa(cap); parsed && *parsed < isa) isa = *parsed;
  }
  return isa;
}

std::atomic<int>& active_slot() {
  static std::atomic<int> slot{static_cast<int>(initial_isa())};
  return slot;
}

}  // namespace

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::scalar: return "scalar";
    case CpuIsa::avx2: return "avx2";
    case CpuIsa::avx512: return "avx512";
  }
  return "unknown";
}

std::optional<CpuIsa> parse_cpu_isa(const std::string& name) {
  for (CpuIsa isa : {CpuIsa::scalar, CpuIsa::avx2, CpuIsa::avx512}) {
    if (name == cpu_isa_name(isa)) return isa;
  }
  return std::nullopt;
}

CpuIsa detected_cpu_isa() {
  static const CpuIsa isa = detect();
  return isa;
}

bool cpu_supports(CpuIsa isa) { return isa <= detected_cpu_isa(); }

CpuIsa active_cpu_isa() { return static_cast<CpuIsa>(active_slot().load()); }

void set_active_cpu_isa(CpuIsa isa) {
  if (!cpu_supports(isa)) {
    throw std::invalid_argument(std::string("pybench: this CPU does not support the ") +
                                cpu_isa_name(isa) + " kernels (best available: " +
                                cpu_isa_name(detected_cpu_isa()) + ")");
  }
  active_slot().store(static_cast<int>(isa));
}

}  // namespace pybench::kernels::cpu
