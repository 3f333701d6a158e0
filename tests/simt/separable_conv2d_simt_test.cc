// The CUDA fused separable kernel (csrc/kernels/separable_conv2d/separable_conv2d_cuda.cuh)
// under the SIMT emulator: the shapes of depthwise_simt_util.h with pointwise output
// channels and activations, each under every scheduling seed, against a float64 reference.
//
// The launch sequence is launch_separable_conv2d's (separable_conv2d_cuda.cu) step for
// step: the same geometry and argument functions.
#include "depthwise_simt_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "separable_conv2d/separable_conv2d_cuda.cuh"

namespace pybench::kernels::cuda {
namespace {

using namespace dw_simt;  // the shared shapes, inputs and references

TEST(SeparableConv2dSimt, MatchesFloat64) {
  for (const Shape& s : shapes()) {
    const Data data = data_for(s);
    SeparableConv2dParams sp;
    sp.dw = params_for(s);
    sp.out_channels = s.k;
    sp.dw_activation = s.act;
    sp.pw_activation = s.pw_act;
    const DepthwiseConv2dParams& p = sp.dw;
    const std::vector<double> mid = depthwise_ref(p, data.x, data.w, data.b, s.bias, s.act);
    const int64_t hw = p.out_h * p.out_w, mids = p.out_channels();
    std::vector<double> ref(static_cast<size_t>(p.batch * s.k * hw));
    for (int64_t n = 0; n < p.batch; ++n)
      for (int64_t k = 0; k < s.k; ++k)
        for (int64_t i = 0; i < hw; ++i) {
          double acc = data.pb[k];
          for (int64_t c = 0; c < mids; ++c) acc += static_cast<double>(data.pw[k * mids + c]) * mid[(n * mids + c) * hw + i];
          ref[(n * s.k + k) * hw + i] = act64(acc, s.pw_act);
        }
    for (uint64_t seed : simt::test::seeds()) {
      SCOPED_TRACE(describe(s) + ", seed " + std::to_string(seed));
      simt::DeviceArray<float> x(data.x), w(data.w), b(data.b), pw(data.pw), pb(data.pb),
          out(ref.size());
      sp.dw.input = x.data();
      sp.dw.weight = w.data();
      sp.dw.bias = s.bias ? b.data() : nullptr;
      sp.pw_weight = pw.data();
      sp.pw_bias = pb.data();
      sp.output = out.data();
      ASSERT_EQ(separable_cuda_unsupported(sp), nullptr);
      SeparableLaunchGeometry g = separable_launch_geometry(sp);
      if (s.grid_y_cap > 0 && g.grid_y > 1) g.grid_y = 1;  // the K-tile loop
      if (s.grid_y_cap > 0) g.grid_x = g.grid_x > 2 ? 2 : g.grid_x;  // the position loop
      simt::launch(simt::test::config_for(seed), dim3(g.grid_x, g.grid_y), dim3(g.threads), 0,
                   separable_conv2d_kernel, make_separable_kernel_args(sp, g));
      EXPECT_TRUE(simt::test::all_close(out.to_vector(), ref, 1e-5, 1e-4));
    }
  }
}

TEST(SeparableConv2dSimt, ActivationsKeepNaN) {
  EXPECT_TRUE(std::isnan(dw_activate(NAN, static_cast<int>(Activation::relu))));
  EXPECT_TRUE(std::isnan(dw_activate(NAN, static_cast<int>(Activation::relu6))));
  EXPECT_EQ(dw_activate(-1.0f, static_cast<int>(Activation::relu)), 0.0f);
  EXPECT_EQ(dw_activate(7.5f, static_cast<int>(Activation::relu6)), 6.0f);
  EXPECT_EQ(dw_activate(-1.5f, static_cast<int>(Activation::none)), -1.5f);
}

}  // namespace
}  // namespace pybench::kernels::cuda
