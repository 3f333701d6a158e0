#include "gram/gram.h"

#include "common/cpu_isa.h"

namespace pybench::kernels::cpu {

void gram(const GramParams& p) {
  switch (active_cpu_isa()) {
    case CpuIsa::avx512: return gram_avx512(p);
    case CpuIsa::avx2: return gram_avx2(p);
    case CpuIsa::scalar: return gram_ref(p);
  }
}

void gram_backward(const GramBackwardParams& p) {
  switch (active_cpu_isa()) {
    case CpuIsa::avx512: return gram_backward_avx512(p);
    case CpuIsa::avx2: return gram_backward_avx2(p);
    case CpuIsa::scalar: return gram_backward_ref(p);
  }
}

}  // namespace pybench::kernels::cpu
