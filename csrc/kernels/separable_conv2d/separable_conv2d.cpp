#include "separable_conv2d/separable_conv2d.h"

#include "common/cpu_isa.h"

namespace pybench::kernels::cpu {

void separable_conv2d(const SeparableConv2dParams& p) {
  switch (active_cpu_isa()) {
    case CpuIsa::avx512: return separable_conv2d_avx512(p);
    case CpuIsa::avx2: return separable_conv2d_avx2(p);
    case CpuIsa::scalar: return separable_conv2d_ref(p);
  }
}

}  // namespace pybench::kernels::cpu
