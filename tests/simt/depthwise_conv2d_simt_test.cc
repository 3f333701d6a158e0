// The CUDA depthwise kernel (csrc/kernels/depthwise_conv2d/depthwise_conv2d_cuda.cuh)
// under the SIMT emulator: the shapes of depthwise_simt_util.h, each under every
// scheduling seed, against a float64 reference.
//
// The launch sequence is launch_depthwise_conv2d's (depthwise_conv2d_cuda.cu) step for
// step: the same geometry and argument functions.
#include "depthwise_simt_util.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pybench::kernels::cuda {
namespace {

using namespace dw_simt;  // the shared shapes, inputs and references

TEST(DepthwiseConv2dSimt, MatchesFloat64) {
  for (const Shape& s : shapes()) {
    const Data data = data_for(s);
    DepthwiseConv2dParams p = params_for(s);
    const std::vector<double> ref = depthwise_ref(p, data.x, data.w, data.b, s.bias, Activation::none);
    for (uint64_t seed : simt::test::seeds()) {
      SCOPED_TRACE(describe(s) + ", seed " + std::to_string(seed));
      simt::DeviceArray<float> x(data.x), w(data.w), b(data.b), out(ref.size());
      p.input = x.data();
      p.weight = w.data();
      p.bias = s.bias ? b.data() : nullptr;
      p.output = out.data();
      ASSERT_EQ(depthwise_cuda_unsupported(p), nullptr);
      DepthwiseLaunchGeometry g = depthwise_launch_geometry(p);
      if (s.grid_y_cap > 0) g.grid_y = static_cast<int>(s.grid_y_cap);
      simt::launch(simt::test::config_for(seed), dim3(g.grid_x, g.grid_y), dim3(g.threads),
                   static_cast<size_t>(g.dynamic_smem_bytes), depthwise_conv2d_kernel,
                   make_depthwise_kernel_args(p, g));
      EXPECT_TRUE(simt::test::all_close(out.to_vector(), ref, 1e-5, 1e-5));
    }
  }
}

}  // namespace
}  // namespace pybench::kernels::cuda
