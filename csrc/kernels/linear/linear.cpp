#include "linear/linear.h"

#include "common/cpu_isa.h"

namespace pybench::kernels::cpu {

void linear(const LinearParams& p) {
  switch (active_cpu_isa()) {
    case CpuIsa::avx512: return linear_avx512(p);
    case CpuIsa::avx2: return linear_avx2(p);
    case CpuIsa::scalar: return linear_ref(p);
  }
}

}  // namespace pybench::kernels::cpu
