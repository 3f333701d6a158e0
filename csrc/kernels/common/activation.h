#pragma once
// The activations a kernel epilogue applies to its output tile while it is still in
// registers. The values are part of the CUDA kernels' argument structs (int fields), so
// they never change; new ones go at the end.
#include <cmath>

#include "common/index_math.h"

namespace pybench::kernels {

enum class Activation : int { none = 0, relu = 1, relu6 = 2, hardswish = 3, sigmoid = 4 };

// The reference kernels' activation, in double, with PyTorch's semantics: NaN stays NaN.
inline double activate_ref(double v, Activation act) {
  switch (act) {
    case Activation::none: return v;
    case Activation::relu: return v < 0.0 ? 0.0 : v;
    case Activation::relu6: return v < 0.0 ? 0.0 : (v > 6.0 ? 6.0 : v);
    case Activation::hardswish: {
      const double gate = v + 3.0 < 0.0 ? 0.0 : (v + 3.0 > 6.0 ? 6.0 : v + 3.0);
      return v * gate / 6.0;
    }
    case Activation::sigmoid: return 1.0 / (1.0 + std::exp(-v));
  }
  return v;
}

// The same in float, for the CUDA kernels' epilogues (and the emulator running them).
// Comparisons, not fmaxf / fminf, which return the bound for a NaN; expf, the accurate
// one, not the __expf intrinsic: the tests hold sigmoid to float64 at 1e-5.
PYBENCH_HOST_DEVICE inline float activate(float v, Activation act) {
  switch (act) {
    case Activation::none: return v;
    case Activation::relu: return v < 0.0f ? 0.0f : v;
    case Activation::relu6: return v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
    case Activation::hardswish: {
      const float gate = v + 3.0f < 0.0f ? 0.0f : (v + 3.0f > 6.0f ? 6.0f : v + 3.0f);
      return v * gate * (1.0f / 6.0f);
    }
    case Activation::sigmoid: return 1.0f / (1.0f + expf(-v));
  }
  return v;
}

}  // namespace pybench::kernels
