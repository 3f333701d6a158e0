#pragma once
// Argument checks shared by the pooling adapters (the blocked layout's,
// cpu/pool2d_nchwc_kernel.cpp), so every backend refuses what PyTorch's pooling refuses,
// under the same conditions, with messages naming the op.
#include <ATen/ATen.h>

#include <optional>

#include "pool2d/pool2d.h"
#include "tensor_checks.h"

namespace pybench::ops {

// PyTorch's bounds on the window (pooling_output_shape, pool2d_shape_check): positive
// kernel, stride and dilation (max pooling only; average pooling passes 1s), non-negative
// padding of at most half the dilated window and of at most half the kernel itself (the
// second bound is the tighter with dilation; every window then holds an input), a
// non-zero divisor_override.
inline void check_pool_geometry(const char* op, bool max, at::IntArrayRef kernel_size,
                                at::IntArrayRef stride, at::IntArrayRef padding,
                                at::IntArrayRef dilation,
                                std::optional<int64_t> divisor_override) {
  TORCH_CHECK_VALUE(kernel_size.size() == 2 && stride.size() == 2 && padding.size() == 2 &&
                        dilation.size() == 2,
                    op, ": expected 2 kernel sizes, strides, paddings and dilations, got ",
                    kernel_size.size(), ", ", stride.size(), ", ", padding.size(), " and ",
                    dilation.size());
  for (int i = 0; i < 2; ++i) {
    TORCH_CHECK_VALUE(kernel_size[i] > 0, op, ": kernel_size must be greater than zero, got ",
                      kernel_size);
    TORCH_CHECK_VALUE(stride[i] > 0, op, ": stride must be greater than zero, got ", stride);
    TORCH_CHECK_VALUE(dilation[i] > 0, op, ": dilation must be greater than zero, got ",
                      dilation);
    TORCH_CHECK_VALUE(max || dilation[i] == 1, op, ": average pooling has no dilation, got ",
                      dilation);
    TORCH_CHECK_VALUE(padding[i] >= 0, op, ": padding must be non-negative, got ", padding);
    const int64_t window = (kernel_size[i] - 1) * dilation[i] + 1;
    TORCH_CHECK_VALUE(padding[i] <= window / 2, op, ": pad should be at most half of the "
                      "effective kernel size, got padding ", padding, ", kernel_size ",
                      kernel_size, " and dilation ", dilation);
    TORCH_CHECK_VALUE(padding[i] <= kernel_size[i] / 2, op, ": pad should be smaller than or "
                      "equal to half of kernel size, got padding ", padding, " and kernel_size ",
                      kernel_size);
  }
  TORCH_CHECK_VALUE(!divisor_override.has_value() || *divisor_override != 0, op,
                    ": divisor_override must be non-zero");
}

struct PoolOutputSize {
  int64_t h = 0, w = 0;
};

// The output size of an (in_h, in_w) input, refused when the window does not fit.
inline PoolOutputSize checked_pool_output_size(const char* op, int64_t in_h, int64_t in_w,
                                               at::IntArrayRef kernel_size,
                                               at::IntArrayRef stride, at::IntArrayRef padding,
                                               at::IntArrayRef dilation, bool ceil_mode) {
  PoolOutputSize o;
  o.h = kernels::pool_output_size(in_h, kernel_size[0], stride[0], padding[0], dilation[0],
                                  ceil_mode);
  o.w = kernels::pool_output_size(in_w, kernel_size[1], stride[1], padding[1], dilation[1],
                                  ceil_mode);
  TORCH_CHECK_VALUE(o.h > 0 && o.w > 0, op, ": input of spatial size (", in_h, ", ", in_w,
                    ") is too small: the output would be (", o.h, ", ", o.w, ")");
  return o;
}

}  // namespace pybench::ops
