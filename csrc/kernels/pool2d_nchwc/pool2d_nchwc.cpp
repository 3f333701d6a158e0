#include "pool2d_nchwc/pool2d_nchwc.h"

#include "common/cpu_isa.h"

namespace pybench::kernels::cpu {

void pool2d_nchwc(const Pool2dNchwcParams& p) {
  switch (active_cpu_isa()) {
    case CpuIsa::avx512: return pool2d_nchwc_avx512(p);
    case CpuIsa::avx2: return pool2d_nchwc_avx2(p);
    case CpuIsa::scalar: return pool2d_nchwc_ref(p);
  }
}

}  // namespace pybench::kernels::cpu
