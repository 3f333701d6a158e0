#include "pool2d/pool2d.h"

#include "common/cpu_isa.h"

namespace pybench::kernels::cpu {

void pool2d(const Pool2dParams& p) {
  switch (active_cpu_isa()) {
    case CpuIsa::avx512: return pool2d_avx512(p);
    case CpuIsa::avx2: return pool2d_avx2(p);
    case CpuIsa::scalar: return pool2d_ref(p);
  }
}

}  // namespace pybench::kernels::cpu
