#include "depthwise_conv2d_nchwc/depthwise_conv2d_nchwc.h"

#include "common/cpu_isa.h"

namespace pybench::kernels::cpu {

void depthwise_conv2d_nchwc(const DepthwiseConv2dNchwcParams& p) {
  switch (active_cpu_isa()) {
    case CpuIsa::avx512: return depthwise_conv2d_nchwc_avx512(p);
    case CpuIsa::avx2: return depthwise_conv2d_nchwc_avx2(p);
    case CpuIsa::scalar: return depthwise_conv2d_nchwc_ref(p);
  }
}

}  // namespace pybench::kernels::cpu
