#include "conv2d/conv2d.h"

#include "common/cpu_isa.h"

namespace pybench::kernels::cpu {

void conv2d(const Conv2dParams& p) {
  switch (active_cpu_isa()) {
    case CpuIsa::avx512: return conv2d_avx512(p);
    case CpuIsa::avx2: return conv2d_avx2(p);
    case CpuIsa::scalar: return conv2d_ref(p);
  }
}

}  // namespace pybench::kernels::cpu
