#pragma once
// Argument checks shared by the pooling adapters -- the NCHW ops' CPU and CUDA backends
// (cpu/pool2d_kernel.cpp, cuda/pool2d_kernel.cpp) and the blocked layout's
// (cpu/pool2d_nchwc_kernel.cpp) -- so every backend refuses what PyTorch's pooling refuses,
// under the same conditions, with messages naming the op; and the NCHW ops' call set-up
// (checked input, output, kernel parameters), the same for both of their backends.
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

// One call of an NCHW pooling op: the input as a contiguous 4-D tensor, the output
// (contiguous, of the input's rank) and the kernel parameters, all but the pointers
// (point_pool2d_operands: the adapters' test-only checks run on meta tensors, which have
// none) and p.exec.
struct Pool2dCall {
  at::Tensor input;   // contiguous (N, C, H, W)
  at::Tensor output;  // contiguous, (N, C, OH, OW) or unbatched (C, OH, OW)
  kernels::Pool2dParams p;
};

// A float32 (C, H, W) or (N, C, H, W) input on `device` with non-empty C, H and W (the
// batch may be empty), as PyTorch's pooling asks; any strides (copied to contiguous).
inline Pool2dCall prepare_pool2d_input(const char* op, const at::Tensor& input,
                                       c10::DeviceType device) {
  check_input_tensor(op, "input", input, device);
  const int64_t rank = input.dim();
  TORCH_CHECK_VALUE((rank == 3 || rank == 4) && input.size(-1) > 0 && input.size(-2) > 0 &&
                        input.size(-3) > 0,
                    op, ": expected a 3-D (C, H, W) or 4-D (N, C, H, W) input with non-empty "
                    "C, H and W (only the batch may be empty), got shape ", input.sizes());
  Pool2dCall c;
  c.input = (rank == 4 ? input : input.unsqueeze(0)).contiguous();
  c.p.planes = c.input.size(0) * c.input.size(1);
  c.p.in_h = c.input.size(2);
  c.p.in_w = c.input.size(3);
  return c;
}

// The output of c's pooling (c.p.out_h x c.p.out_w, of the original input's rank).
inline void allocate_pool2d_output(Pool2dCall& c, const at::Tensor& original) {
  const int64_t oh = c.p.out_h, ow = c.p.out_w;
  c.output = original.dim() == 4
                 ? at::empty({original.size(0), original.size(1), oh, ow}, c.input.options())
                 : at::empty({original.size(0), oh, ow}, c.input.options());
}

inline void point_pool2d_operands(Pool2dCall& c) {
  c.p.input = c.input.data_ptr<float>();
  c.p.output = c.output.data_ptr<float>();
}

// The checks and set-up max_pool2d and avg_pool2d share (avg: dilation 1s).
inline Pool2dCall prepare_pool2d(const char* op, kernels::PoolMode mode, const at::Tensor& input,
                                 at::IntArrayRef kernel_size, at::IntArrayRef stride,
                                 at::IntArrayRef padding, at::IntArrayRef dilation,
                                 bool ceil_mode, std::optional<int64_t> divisor_override,
                                 c10::DeviceType device) {
  check_pool_geometry(op, mode == kernels::PoolMode::max, kernel_size, stride, padding,
                      dilation, divisor_override);
  Pool2dCall c = prepare_pool2d_input(op, input, device);
  checked_pool_output_size(op, c.p.in_h, c.p.in_w, kernel_size, stride, padding, dilation,
                           ceil_mode);
  c.p = kernels::pool2d_params(mode, c.p.planes, c.p.in_h, c.p.in_w, kernel_size[0],
                               kernel_size[1], stride[0], stride[1], padding[0], padding[1],
                               dilation[0], dilation[1], ceil_mode);
  allocate_pool2d_output(c, input);
  return c;
}

inline Pool2dCall prepare_max_pool2d(const at::Tensor& input, at::IntArrayRef kernel_size,
                                     at::IntArrayRef stride, at::IntArrayRef padding,
                                     at::IntArrayRef dilation, bool ceil_mode,
                                     c10::DeviceType device) {
  return prepare_pool2d("pybench.max_pool2d", kernels::PoolMode::max, input, kernel_size,
                        stride, padding, dilation, ceil_mode, std::nullopt, device);
}

inline Pool2dCall prepare_avg_pool2d(const at::Tensor& input, at::IntArrayRef kernel_size,
                                     at::IntArrayRef stride, at::IntArrayRef padding,
                                     bool ceil_mode, bool count_include_pad,
                                     std::optional<int64_t> divisor_override,
                                     c10::DeviceType device) {
  const int64_t no_dilation[2] = {1, 1};
  Pool2dCall c = prepare_pool2d("pybench.avg_pool2d", kernels::PoolMode::avg, input,
                                kernel_size, stride, padding, no_dilation, ceil_mode,
                                divisor_override, device);
  c.p.count_include_pad = count_include_pad;
  c.p.divisor_override = divisor_override.value_or(0);
  return c;
}

// PyTorch's adaptive_avg_pool2d takes output sizes >= 0 (0: an empty output).
inline Pool2dCall prepare_adaptive_avg_pool2d(const at::Tensor& input,
                                              at::IntArrayRef output_size,
                                              c10::DeviceType device) {
  constexpr const char* op = "pybench.adaptive_avg_pool2d";
  TORCH_CHECK_VALUE(output_size.size() == 2 && output_size[0] >= 0 && output_size[1] >= 0, op,
                    ": expected output_size (H, W) of sizes >= 0, got ", output_size);
  Pool2dCall c = prepare_pool2d_input(op, input, device);
  c.p = kernels::adaptive_avg_pool2d_params(c.p.planes, c.p.in_h, c.p.in_w, output_size[0],
                                            output_size[1]);
  allocate_pool2d_output(c, input);
  return c;
}

}  // namespace pybench::ops
