// Schema of pybench::conv2d_nchwc (the blocked-layout convolution of converted models, CPU
// only) and its out= form, which writes channel blocks [out_block_offset, +Kb) of a larger
// blocked buffer so that the branches of a channel concat write their slices in place.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(pybench, m) {
  m.def(
      "conv2d_nchwc(Tensor input, Tensor weight, Tensor? bias, Tensor? residual, "
      "int out_channels, int[2] stride, int[4] padding, int[2] dilation, "
      "str activation=\"none\") -> Tensor");
  m.def(
      "conv2d_nchwc_out(Tensor input, Tensor weight, Tensor? bias, Tensor? residual, "
      "int out_channels, int[2] stride, int[4] padding, int[2] dilation, str activation, "
      "Tensor(a!) out, int out_block_offset) -> ()");
  // Winograd F(4x4, 3x3) of a 3x3, stride-1, undilated convolution on a blocked input, the
  // weight packed by pybench.ops.pack_conv2d_winograd_nchwc.
  m.def(
      "conv2d_nchwc_winograd(Tensor input, Tensor weight, Tensor? bias, Tensor? residual, "
      "int out_channels, int[4] padding, str activation=\"none\") -> Tensor");
  m.def(
      "conv2d_nchwc_winograd_out(Tensor input, Tensor weight, Tensor? bias, Tensor? residual, "
      "int out_channels, int[4] padding, str activation, Tensor(a!) out, "
      "int out_block_offset) -> ()");
  // A 1x1 convolution (stride 1, no padding; its epilogue: bias, activation) whose output
  // feeds only a depthwise convolution (dw_*, as depthwise_conv2d_nchwc), run band by band
  // of rows so the 1x1's output -- an inverted residual's expanded tensor -- never leaves
  // the core's L2; returns the depthwise output. Results equal the two ops run one after
  // the other.
  m.def(
      "conv1x1_depthwise_nchwc(Tensor input, Tensor weight, Tensor? bias, int out_channels, "
      "str activation, Tensor dw_weight, Tensor? dw_bias, int[2] stride, int[4] padding, "
      "int[2] dilation, str dw_activation) -> Tensor");
  // A direct convolution (its epilogue: bias, activation) whose output feeds only a max
  // pooling (pool_*, F.max_pool2d's arguments, padding symmetric), run band by band of
  // pooled rows so the convolution's output never leaves the core's L2; returns the
  // pooled output. Results equal conv2d_nchwc then pool2d_nchwc "max". CPU only, as the
  // blocked layout is: there is no CUDA kernel, and a CUDA input is refused.
  m.def(
      "conv2d_maxpool_nchwc(Tensor input, Tensor weight, Tensor? bias, int out_channels, "
      "int[2] stride, int[4] padding, int[2] dilation, str activation, "
      "int[2] pool_kernel_size, int[2] pool_stride, int[2] pool_padding, "
      "int[2] pool_dilation, bool ceil_mode) -> Tensor");
}
