#include "depthwise_conv2d/depthwise_conv2d.h"

#include "common/cpu_isa.h"

namespace pybench::kernels::cpu {

void depthwise_conv2d(const DepthwiseConv2dParams& p) {
  switch (active_cpu_isa()) {
    case CpuIsa::avx512: return depthwise_conv2d_avx512(p);
    case CpuIsa::avx2: return depthwise_conv2d_avx2(p);
    case CpuIsa::scalar: return depthwise_conv2d_ref(p);
  }
}

}  // namespace pybench::kernels::cpu
