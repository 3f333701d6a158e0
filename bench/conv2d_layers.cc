#include "conv2d_layers.h"

#include <stdexcept>

namespace pybench::bench {

bool set_layer_geometry(kernels::ConvParamsBase& p, const ShapeCase& c, int64_t N) {
  using kernels::conv2d_out_size;
  p.batch = N;
  p.in_h = c.get("H");
  p.in_w = c.get("W");
  p.kernel_h = c.get("R");
  p.kernel_w = c.get("S");
  p.stride_h = c.get("SH", 1);
  p.stride_w = c.get("SW", 1);
  p.pad_h = c.get("PH", 0);
  p.pad_w = c.get("PW", 0);
  p.dilation_h = c.get("DH", 1);
  p.dilation_w = c.get("DW", 1);
  p.out_h = conv2d_out_size(p.in_h, p.kernel_h, p.stride_h, p.pad_h, p.pad_h, p.dilation_h);
  p.out_w = conv2d_out_size(p.in_w, p.kernel_w, p.stride_w, p.pad_w, p.pad_w, p.dilation_w);
  return p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0 &&
         p.kernel_h > 0 && p.kernel_w > 0 && p.out_h > 0 && p.out_w > 0;
}

kernels::Conv2dParams conv2d_layer_params(const ShapeCase& c, int64_t N) {
  kernels::Conv2dParams p;
  const bool geometry_ok = set_layer_geometry(p, c, N);
  p.in_channels = c.get("C");
  p.out_channels = c.get("K");
  p.groups = c.get("G", 1);
  if (!geometry_ok || p.groups <= 0 || p.in_channels % p.groups != 0 ||
      p.out_channels % p.groups != 0) {
    throw std::runtime_error(c.source + ": '" + c.name + "' is not a valid convolution");
  }
  return p;
}

}  // namespace pybench::bench
