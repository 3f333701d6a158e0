// CPU backend of pybench::conv2d_nchwc / conv2d_nchwc_out: argument checks, then the
// ISA-dispatched blocked kernel threaded with at::parallel_for.
#include <torch/library.h>

#include <algorithm>
#include <optional>
#include <vector>
#include <string>

#include "aten_parallel.h"
#include "conv2d_args.h"
#include "conv2d_maxpool_nchwc/conv2d_maxpool_nchwc.h"
#include "conv2d_nchwc/conv2d_nchwc.h"
#include "nchwc_args.h"
#include "nchwc_prepare.h"
#include "output_cache.h"
#include "pool2d_args.h"
#include "tensor_checks.h"

namespace pybench::ops {
namespace {

struct NchwcCall {
  at::Tensor input, weight, bias, residual;
  kernels::Conv2dNchwcParams p;
};

// The packed weight's geometry: the direct kernel's (Kb, Cg, kH, kW, Bi, B), or with
// winograd the F(4x4, 3x3) transform's (36, Kb, Cb, B, B) of a 3x3 stride-1 convolution.
struct PackedWeight {
  int64_t kb, groups, bi, block, kernel_h, kernel_w;
};

PackedWeight check_packed_weight(const char* op, const at::Tensor& weight, bool winograd) {
  if (winograd) {
    TORCH_CHECK_VALUE(weight.dim() == 5 && weight.size(0) == 36 && weight.size(3) == weight.size(4),
                      op, ": expected a packed Winograd weight (36, Kb, Cb, B, B) from "
                      "pybench.ops.pack_conv2d_winograd_nchwc, got shape ", weight.sizes());
    return {weight.size(1), weight.size(2), weight.size(3), weight.size(4), 3, 3};
  }
  TORCH_CHECK_VALUE(weight.dim() == 6, op,
                    ": expected a packed weight (Kb, Cg, kH, kW, Bi, B) from "
                    "pybench.ops.pack_conv2d_nchwc, got shape ", weight.sizes());
  return {weight.size(0), weight.size(1), weight.size(4), weight.size(5), weight.size(2),
          weight.size(3)};
}

NchwcCall prepare_conv2d_nchwc(const char* op, const at::Tensor& input, const at::Tensor& weight,
                               const std::optional<at::Tensor>& bias,
                               const std::optional<at::Tensor>& residual, int64_t out_channels,
                               at::IntArrayRef stride, at::IntArrayRef padding,
                               at::IntArrayRef dilation, const std::string& activation,
                               bool winograd = false) {
  check_input_tensor(op, "input", input, c10::DeviceType::CPU);
  check_operand(op, "weight", weight, input);
  check_conv_arguments(op, stride, padding, dilation);
  const PackedWeight pw = check_packed_weight(op, weight, winograd);
  const int64_t block = pw.block, groups = pw.groups, bi = pw.bi;
  TORCH_CHECK_VALUE(block == 8 || block == 16, op, ": expected a block of 8 or 16 channels, "
                    "got a packed weight of shape ", weight.sizes());
  const bool blocked = input.dim() == 5;
  TORCH_CHECK_VALUE(blocked || (input.dim() == 4 && !winograd), op,
                    winograd ? ": expected input in the blocked layout (N, C/B, H, W, B)"
                             : ": expected input in the blocked layout (N, C/B, H, W, B) or "
                               "NCHW for a first layer",
                    ", got shape ", input.sizes());
  if (blocked) {
    TORCH_CHECK_VALUE(input.size(4) == block && bi == block && input.size(1) == groups, op,
                      ": input of shape ", input.sizes(), " does not match the packed weight ",
                      weight.sizes(), " (blocked input: (N, Cg, H, W, B) with the weight's Cg "
                      "and B, and a weight packed for a blocked input)");
  } else {
    TORCH_CHECK_VALUE(bi == 1 && input.size(1) == groups, op, ": NCHW input of shape ",
                      input.sizes(), " does not match the packed weight ", weight.sizes(),
                      " (packed for an NCHW input: (Kb, C, kH, kW, 1, B) with the input's C)");
  }
  TORCH_CHECK_VALUE(input.size(2) > 0 && input.size(3) > 0 && pw.kb > 0 && groups > 0,
                    op, ": expected non-empty channels and spatial sizes, got input ",
                    input.sizes(), " and weight ", weight.sizes());
  const int64_t kb = pw.kb;
  TORCH_CHECK_VALUE(out_channels > (kb - 1) * block && out_channels <= kb * block, op,
                    ": out_channels=", out_channels, " does not fill the weight's ", kb,
                    " blocks of ", block);
  NchwcCall c;
  kernels::Conv2dNchwcParams& p = c.p;
  set_conv_geometry(op, p, input.size(0), input.size(2), input.size(3), pw.kernel_h,
                    pw.kernel_w, stride, padding, dilation);
  p.block = block;
  p.input_blocked = blocked;
  p.in_channels = blocked ? groups * block : groups;
  p.out_channels = out_channels;
  p.output_blocks = kb;
  p.activation = parse_nchwc_activation(op, activation);
  if (bias.has_value() && bias->defined()) {
    check_operand(op, "bias", *bias, input);
    TORCH_CHECK_VALUE(bias->dim() == 1 && bias->size(0) == kb * block, op,
                      ": expected bias of shape (", kb * block, ") (padded to whole blocks), "
                      "got ", bias->sizes());
    c.bias = bias->contiguous();
  }
  if (residual.has_value() && residual->defined()) {
    check_operand(op, "residual", *residual, input);
    const std::vector<int64_t> want{p.batch, kb, p.out_h, p.out_w, block};
    TORCH_CHECK_VALUE(residual->sizes() == at::IntArrayRef(want), op,
                      ": expected residual of the output's shape ", at::IntArrayRef(want),
                      ", got ", residual->sizes());
    c.residual = residual->contiguous();
  }
  c.input = input.contiguous();
  c.weight = weight.contiguous();
  return c;
}

void run_conv2d_nchwc(NchwcCall& c, at::Tensor& out, int64_t block_offset,
                      bool winograd = false) {
  kernels::Conv2dNchwcParams& p = c.p;
  p.input = c.input.data_ptr<float>();
  p.weight = c.weight.data_ptr<float>();
  p.bias = c.bias.defined() ? c.bias.data_ptr<float>() : nullptr;
  p.residual = c.residual.defined() ? c.residual.data_ptr<float>() : nullptr;
  p.output_blocks = out.size(1);
  p.output = out.data_ptr<float>() + block_offset * p.out_h * p.out_w * p.block;
  if (p.batch == 0) return;
  p.exec = aten_cpu_execution();
  if (winograd) {
    kernels::cpu::conv2d_nchwc_winograd(p);
  } else {
    kernels::cpu::conv2d_nchwc(p);
  }
}

at::Tensor conv2d_nchwc_common(const char* op, const at::Tensor& input,
                               const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                               const std::optional<at::Tensor>& residual, int64_t out_channels,
                               at::IntArrayRef stride, at::IntArrayRef padding,
                               at::IntArrayRef dilation, c10::string_view activation,
                               bool winograd) {
  NchwcCall c = prepare_conv2d_nchwc(op, input, weight, bias, residual, out_channels, stride,
                                     padding, dilation, std::string(activation), winograd);
  const kernels::Conv2dNchwcParams& p = c.p;
  at::Tensor out = empty_output({p.batch, p.out_blocks(), p.out_h, p.out_w, p.block},
                                input.options());
  run_conv2d_nchwc(c, out, 0, winograd);
  return out;
}

void conv2d_nchwc_out_common(const char* op, const at::Tensor& input, const at::Tensor& weight,
                             const std::optional<at::Tensor>& bias,
                             const std::optional<at::Tensor>& residual, int64_t out_channels,
                             at::IntArrayRef stride, at::IntArrayRef padding,
                             at::IntArrayRef dilation, c10::string_view activation,
                             const at::Tensor& out, int64_t out_block_offset, bool winograd) {
  NchwcCall c = prepare_conv2d_nchwc(op, input, weight, bias, residual, out_channels, stride,
                                     padding, dilation, std::string(activation), winograd);
  const kernels::Conv2dNchwcParams& p = c.p;
  const int64_t kb = p.out_blocks();
  check_operand(op, "out", out, input);
  TORCH_CHECK_VALUE(out.dim() == 5 && out.is_contiguous() && out.size(0) == p.batch &&
                        out.size(2) == p.out_h && out.size(3) == p.out_w &&
                        out.size(4) == p.block,
                    op, ": expected a contiguous out of shape (", p.batch, ", Kt, ", p.out_h,
                    ", ", p.out_w, ", ", p.block, "), got ", out.sizes(),
                    out.is_contiguous() ? "" : " (not contiguous)");
  TORCH_CHECK_VALUE(out_block_offset >= 0 && out_block_offset + kb <= out.size(1),
                    op, ": blocks [", out_block_offset, ", ", out_block_offset + kb,
                    ") do not fit in out's ", out.size(1), " channel blocks");
  // The kernel stores partial sums into out before it reads the whole input or residual.
  TORCH_CHECK_VALUE(!out.is_alias_of(c.input) && !(c.residual.defined() &&
                                                   out.is_alias_of(c.residual)),
                    op, ": out must not share memory with input or residual");
  at::Tensor o = out;
  run_conv2d_nchwc(c, o, out_block_offset, winograd);
}

at::Tensor conv2d_nchwc_cpu(const at::Tensor& input, const at::Tensor& weight,
                            const std::optional<at::Tensor>& bias,
                            const std::optional<at::Tensor>& residual, int64_t out_channels,
                            at::IntArrayRef stride, at::IntArrayRef padding,
                            at::IntArrayRef dilation, c10::string_view activation) {
  return conv2d_nchwc_common("pybench.conv2d_nchwc", input, weight, bias, residual,
                             out_channels, stride, padding, dilation, activation, false);
}

void conv2d_nchwc_out_cpu(const at::Tensor& input, const at::Tensor& weight,
                          const std::optional<at::Tensor>& bias,
                          const std::optional<at::Tensor>& residual, int64_t out_channels,
                          at::IntArrayRef stride, at::IntArrayRef padding,
                          at::IntArrayRef dilation, c10::string_view activation,
                          const at::Tensor& out, int64_t out_block_offset) {
  conv2d_nchwc_out_common("pybench.conv2d_nchwc_out", input, weight, bias, residual,
                          out_channels, stride, padding, dilation, activation, out,
                          out_block_offset, false);
}

// Winograd F(4x4, 3x3): stride and dilation 1 by construction.
constexpr int64_t kUnit[2] = {1, 1};

at::Tensor conv2d_nchwc_winograd_cpu(const at::Tensor& input, const at::Tensor& weight,
                                     const std::optional<at::Tensor>& bias,
                                     const std::optional<at::Tensor>& residual,
                                     int64_t out_channels, at::IntArrayRef padding,
                                     c10::string_view activation) {
  return conv2d_nchwc_common("pybench.conv2d_nchwc_winograd", input, weight, bias, residual,
                             out_channels, kUnit, padding, kUnit, activation, true);
}

void conv2d_nchwc_winograd_out_cpu(const at::Tensor& input, const at::Tensor& weight,
                                   const std::optional<at::Tensor>& bias,
                                   const std::optional<at::Tensor>& residual,
                                   int64_t out_channels, at::IntArrayRef padding,
                                   c10::string_view activation, const at::Tensor& out,
                                   int64_t out_block_offset) {
  conv2d_nchwc_out_common("pybench.conv2d_nchwc_winograd_out", input, weight, bias, residual,
                          out_channels, kUnit, padding, kUnit, activation, out,
                          out_block_offset, true);
}

// conv1x1_depthwise_nchwc. Work items are (image, band of depthwise output rows); an item
// runs the 1x1 on the input rows its band reads (a halo of (kernel_h - 1) * dilation_h
// rows, recomputed by the next band: the price of keeping each band independent) into
// the thread's scratch, then the depthwise from there into its output rows, both on one
// thread. Band height: the scratch at most a quarter of the L2 (with the depthwise output
// band and the weights beside it), and at least 2 items per thread when the image allows.
at::Tensor conv1x1_depthwise_nchwc_cpu(const at::Tensor& input, const at::Tensor& weight,
                                       const std::optional<at::Tensor>& bias,
                                       int64_t out_channels, c10::string_view activation,
                                       const at::Tensor& dw_weight,
                                       const std::optional<at::Tensor>& dw_bias,
                                       at::IntArrayRef stride, at::IntArrayRef padding,
                                       at::IntArrayRef dilation,
                                       c10::string_view dw_activation) {
  const char* op = "pybench.conv1x1_depthwise_nchwc";
  constexpr int64_t kOne[2] = {1, 1};
  constexpr int64_t kNoPad[4] = {0, 0, 0, 0};
  NchwcCall c = prepare_conv2d_nchwc(op, input, weight, bias, std::nullopt, out_channels, kOne,
                                     kNoPad, kOne, std::string(activation));
  kernels::Conv2dNchwcParams& pw = c.p;
  TORCH_CHECK_VALUE(pw.input_blocked && pw.kernel_h == 1 && pw.kernel_w == 1, op,
                    ": expected a 1x1 weight packed for a blocked input, got ", weight.sizes());
  const int64_t N = pw.batch, H = pw.in_h, W = pw.in_w, B = pw.block;
  const int64_t kb = pw.out_blocks();
  DepthwiseNchwcCall d = prepare_depthwise_nchwc(op, input, N, kb, H, W, B, dw_weight, dw_bias,
                                                 std::nullopt, out_channels, stride, padding,
                                                 dilation, std::string(dw_activation));
  kernels::DepthwiseConv2dNchwcParams& dp = d.p;
  const int64_t Ho = dp.out_h, Wo = dp.out_w;
  at::Tensor out = empty_output({N, kb, Ho, Wo, B}, input.options());
  if (out.numel() == 0) return out;
  pw.input = c.input.data_ptr<float>();
  pw.weight = c.weight.data_ptr<float>();
  pw.bias = c.bias.defined() ? c.bias.data_ptr<float>() : nullptr;
  pw.output_blocks = kb;

  const int64_t sh = dp.stride_h, reach = (dp.kernel_h - 1) * dp.dilation_h;
  const auto in_rows = [&](int64_t oy0, int64_t oy1, int64_t& e0, int64_t& e1) {
    e0 = std::max<int64_t>(0, oy0 * sh - dp.pad_h);
    e1 = std::min<int64_t>(H, (oy1 - 1) * sh - dp.pad_h + reach + 1);
  };
  const int64_t row_bytes = kb * W * B * 4;
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  int64_t band = std::max<int64_t>(
      1, (kernels::cpu::cpu_caches().l2 / 4 / row_bytes - reach - 1) / sh + 1);
  band = std::min(band, Ho);
  if (N < 2 * threads) {  // enough bands to keep every thread busy
    band = std::min(band, std::max<int64_t>(1, Ho * N / (2 * threads)));
  }
  const int64_t bands = (Ho + band - 1) / band;
  const int64_t scratch_rows = std::min(H, (band - 1) * sh + reach + 1);
  const float* x = pw.input;
  float* y = out.data_ptr<float>();
  at::parallel_for(0, N * bands, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(static_cast<size_t>(kb * scratch_rows * W * B));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / bands, oy0 = item % bands * band;
      const int64_t oy1 = std::min(Ho, oy0 + band);
      int64_t e0, e1;
      in_rows(oy0, oy1, e0, e1);
      kernels::Conv2dNchwcParams p1 = pw;
      p1.batch = 1;
      p1.in_h = p1.out_h = e1 - e0;
      p1.in_plane_stride = H * W * B;
      p1.input = x + (n * pw.in_blocks() * H + e0) * W * B;
      p1.output = scratch.data();
      p1.exec = {};
      kernels::cpu::conv2d_nchwc(p1);
      kernels::DepthwiseConv2dNchwcParams p2 = dp;
      p2.batch = 1;
      p2.in_h = e1 - e0;
      p2.pad_h = e0 - (oy0 * sh - dp.pad_h);
      p2.out_h = oy1 - oy0;
      p2.input = scratch.data();
      p2.output = y + (n * kb * Ho + oy0) * Wo * B;
      p2.out_plane_stride = Ho * Wo * B;
      p2.exec = {};
      kernels::cpu::depthwise_conv2d_nchwc(p2);
    }
  });
  return out;
}

// conv2d_maxpool_nchwc: the direct convolution's checks, then F.max_pool2d's on its output
// size; the bands are the kernel core's (conv2d_maxpool_nchwc/conv2d_maxpool_nchwc.h).
at::Tensor conv2d_maxpool_nchwc_cpu(const at::Tensor& input, const at::Tensor& weight,
                                    const std::optional<at::Tensor>& bias,
                                    int64_t out_channels, at::IntArrayRef stride,
                                    at::IntArrayRef padding, at::IntArrayRef dilation,
                                    c10::string_view activation,
                                    at::IntArrayRef pool_kernel_size,
                                    at::IntArrayRef pool_stride, at::IntArrayRef pool_padding,
                                    at::IntArrayRef pool_dilation, bool ceil_mode) {
  const char* op = "pybench.conv2d_maxpool_nchwc";
  NchwcCall c = prepare_conv2d_nchwc(op, input, weight, bias, std::nullopt, out_channels,
                                     stride, padding, dilation, std::string(activation));
  check_pool_geometry(op, true, pool_kernel_size, pool_stride, pool_padding, pool_dilation,
                      std::nullopt);
  kernels::Conv2dMaxpoolNchwcParams f;
  f.conv = c.p;
  const PoolOutputSize o = checked_pool_output_size(op, f.conv.out_h, f.conv.out_w,
                                                    pool_kernel_size, pool_stride,
                                                    pool_padding, pool_dilation, ceil_mode);
  at::Tensor out = empty_output({f.conv.batch, f.conv.out_blocks(), o.h, o.w, f.conv.block},
                                input.options());
  if (out.numel() == 0) return out;
  f.conv.input = c.input.data_ptr<float>();
  f.conv.weight = c.weight.data_ptr<float>();
  f.conv.bias = c.bias.defined() ? c.bias.data_ptr<float>() : nullptr;
  f.pool_kernel_h = pool_kernel_size[0];
  f.pool_kernel_w = pool_kernel_size[1];
  f.pool_stride_h = pool_stride[0];
  f.pool_stride_w = pool_stride[1];
  f.pool_pad_h = pool_padding[0];
  f.pool_pad_w = pool_padding[1];
  f.pool_dilation_h = pool_dilation[0];
  f.pool_dilation_w = pool_dilation[1];
  f.out_h = o.h;
  f.out_w = o.w;
  f.output = out.data_ptr<float>();
  f.exec = aten_cpu_execution();
  kernels::cpu::conv2d_maxpool_nchwc(f);
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(pybench, CPU, m) {
  m.impl("conv1x1_depthwise_nchwc", &conv1x1_depthwise_nchwc_cpu);
  m.impl("conv2d_maxpool_nchwc", &conv2d_maxpool_nchwc_cpu);
  m.impl("conv2d_nchwc", &conv2d_nchwc_cpu);
  m.impl("conv2d_nchwc_out", &conv2d_nchwc_out_cpu);
  m.impl("conv2d_nchwc_winograd", &conv2d_nchwc_winograd_cpu);
  m.impl("conv2d_nchwc_winograd_out", &conv2d_nchwc_winograd_out_cpu);
}

}  // namespace pybench::ops
