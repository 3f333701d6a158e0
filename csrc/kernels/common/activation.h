#pragma once
// The activations a kernel epilogue applies to its output tile while it is still in
// registers. The values are part of the CUDA kernels' argument structs (int fields), so
// they never change; new ones go at the end.
namespace pybench::kernels {

enum class Activation : int { none = 0, relu = 1, relu6 = 2, hardswish = 3, sigmoid = 4 };

}  // namespace pybench::kernels
