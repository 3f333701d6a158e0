#pragma once
// Argument checks and parameter filling shared by the CPU and CUDA gram adapters, so
// both backends reject the same inputs with the same messages.
#include <ATen/ATen.h>

#include "gram/gram.h"
#include "tensor_checks.h"

namespace pybench::ops {

// The (batch, C, L) float32 view the kernels read: a 2-D (C, L) input is one map, a
// 4-D (N, C, H, W) input N maps of L = H*W. Rows must be contiguous along L; anything
// else is copied once here (the copy is part of the op's measured time).
struct GramInput {
  at::Tensor features;  // 3-D (batch, C, L), stride(2) == 1
  bool batched = false;  // the input was 4-D: the result is (N, C, C)
};

inline GramInput prepare_gram_input(const at::Tensor& features, c10::DeviceType device,
                                    const char* op) {
  check_input_tensor(op, "features", features, device);
  TORCH_CHECK_VALUE(features.dim() == 2 || features.dim() == 4, op,
                    ": expected features of rank 2 (C, L) or 4 (N, C, H, W), got rank ",
                    features.dim(), " with shape ", features.sizes());
  GramInput in;
  in.batched = features.dim() == 4;
  at::Tensor f3 = in.batched
                      ? features.reshape({features.size(0), features.size(1), features.size(2) * features.size(3)})
                      : features.unsqueeze(0);
  // A view whose rows are already contiguous is used in place, whatever the strides
  // between rows and maps (a channel slice, a batch slice); otherwise copy.
  if (f3.size(2) > 1 && f3.stride(2) != 1) f3 = f3.contiguous();
  in.features = f3;
  return in;
}

// 1 / (C * L) for a normalised Gram matrix, else 1.
inline float gram_scale(bool normalize, int64_t channels, int64_t length) {
  const double count = static_cast<double>(channels) * static_cast<double>(length);
  return normalize && count > 0 ? static_cast<float>(1.0 / count) : 1.0f;
}

inline kernels::GramParams make_gram_params(const GramInput& in, at::Tensor& gram,
                                            bool normalize) {
  const at::Tensor& f = in.features;
  kernels::GramParams p;
  p.features = f.data_ptr<float>();
  p.gram = gram.data_ptr<float>();
  p.batch = f.size(0);
  p.channels = f.size(1);
  p.length = f.size(2);
  p.batch_stride = f.stride(0);
  p.row_stride = f.stride(1);
  p.scale = gram_scale(normalize, p.channels, p.length);
  return p;
}

inline at::Tensor empty_gram_output(const GramInput& in) {
  const at::Tensor& f = in.features;
  at::Tensor g = at::empty({f.size(0), f.size(1), f.size(1)}, f.options());
  return g;
}

inline at::Tensor finish_gram_output(const GramInput& in, at::Tensor gram) {
  return in.batched ? gram : gram.squeeze(0);
}

// One call of pybench::gram_backward: the checked operands, the output (dF, contiguous,
// features' shape) and the kernel parameters, all but p.exec.
struct GramBackwardCall {
  GramInput in;
  at::Tensor grad;  // dG, contiguous (batch, C, C)
  at::Tensor out;   // dF, contiguous, of the features' shape
  kernels::GramBackwardParams p;
};

inline GramBackwardCall prepare_gram_backward(const at::Tensor& grad, const at::Tensor& features,
                                              bool normalize, c10::DeviceType device,
                                              const char* op) {
  GramBackwardCall c;
  c.in = prepare_gram_input(features, device, op);
  check_operand(op, "grad", grad, features);
  const at::Tensor& f = c.in.features;
  const int64_t channels = f.size(1);
  const bool shape_ok = c.in.batched
                            ? grad.dim() == 3 && grad.size(0) == f.size(0) &&
                                  grad.size(1) == channels && grad.size(2) == channels
                            : grad.dim() == 2 && grad.size(0) == channels && grad.size(1) == channels;
  TORCH_CHECK_VALUE(shape_ok, op, ": expected grad of the Gram matrix's shape ",
                    c.in.batched ? at::IntArrayRef({f.size(0), channels, channels})
                                 : at::IntArrayRef({channels, channels}),
                    " for features of shape ", features.sizes(), ", got ", grad.sizes());
  c.grad = grad.contiguous();
  c.out = at::empty(features.sizes(), f.options());
  kernels::GramBackwardParams& p = c.p;
  p.grad = c.grad.data_ptr<float>();
  p.features = f.data_ptr<float>();
  p.grad_features = c.out.data_ptr<float>();
  p.batch = f.size(0);
  p.channels = channels;
  p.length = f.size(2);
  p.batch_stride = f.stride(0);
  p.row_stride = f.stride(1);
  p.scale = gram_scale(normalize, p.channels, p.length);
  return c;
}

}  // namespace pybench::ops
