#pragma once
// The conv layers of pybench/shapes/conv.txt as Conv2dParams, shared by the CPU and CUDA
// conv2d benchmarks so both measure exactly the geometry the Python conv suite runs.
#include <cstdint>

#include "conv2d/conv2d.h"
#include "shapes.h"

namespace pybench::bench {

// The batches the conv suite runs; the shape file leaves N to its consumers.
inline constexpr int64_t kConvBatches[] = {1, 8};

// Geometry of one shape-file line at batch N (symmetric padding, as the file states it);
// the pointers stay null for the benchmark to set. Throws std::runtime_error naming the
// line when it is not a convolution the ATen adapter would accept, so a bad line fails
// at registration, loudly, rather than as a wild read in the middle of a run.
kernels::Conv2dParams conv2d_layer_params(const ShapeCase& c, int64_t N);

// The geometry every conv layer line states (N, H, W, R, S, SH, SW, PH, PW, DH, DW) at
// batch N, output size included; true when it is a valid one (positive strides, dilations,
// kernel and output sizes). Shared with the separable benchmark's lines.
bool set_layer_geometry(kernels::ConvParamsBase& p, const ShapeCase& c, int64_t N);

}  // namespace pybench::bench
