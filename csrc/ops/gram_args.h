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
  const double count = static_cast<double>(p.channels) * static_cast<double>(p.length);
  p.scale = normalize && count > 0 ? static_cast<float>(1.0 / count) : 1.0f;
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

}  // namespace pybench::ops
