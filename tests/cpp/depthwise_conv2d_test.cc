// Each SIMD depthwise variant against depthwise_conv2d_ref (double accumulation), on the
// shapes of depthwise_test_util.h: every fast path and its row-block leftovers, the
// generic path, widths around the vector widths, multipliers -- serially and with a
// threaded parallel_for. Memory around every operand and the output is NaN (a stray read
// turns an output NaN, a stray write breaks a guard); the output starts NaN.
#include "depthwise_conv2d/depthwise_conv2d.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "common/cpu_isa.h"
#include "depthwise_test_util.h"

namespace {

using pybench::kernels::DepthwiseConv2dParams;
using pybench::kernels::ParallelBody;
using pybench::kernels::ParallelFor;
using pybench::kernels::cpu::CpuIsa;
namespace kcpu = pybench::kernels::cpu;
namespace pt = pybench::testing;

constexpr double kTolerance = 1e-5;
using DwFn = void (*)(const DepthwiseConv2dParams&);

DwFn variant_for(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::avx512: return kcpu::depthwise_conv2d_avx512;
    case CpuIsa::avx2: return kcpu::depthwise_conv2d_avx2;
    case CpuIsa::scalar: return kcpu::depthwise_conv2d_ref;
  }
  return nullptr;
}


pt::GuardedBuffer run(DwFn fn, const pt::DwCase& c, const pt::GuardedBuffer& x,
                      const pt::GuardedBuffer& w, const pt::GuardedBuffer& b,
                      const ParallelFor& pf = {}, int64_t threads = 1) {
  DepthwiseConv2dParams p = c.params();
  pt::GuardedBuffer out(static_cast<size_t>(c.n * c.c * c.m * p.out_h * p.out_w));
  p.input = x.data();
  p.weight = w.data();
  p.bias = c.bias ? b.data() : nullptr;
  p.output = out.data();
  p.exec = {pf, threads};
  fn(p);
  EXPECT_TRUE(out.guards_intact()) << "the kernel wrote outside the output";
  return out;
}

class DepthwiseConv2dTest : public ::testing::TestWithParam<std::tuple<CpuIsa, pt::DwCase>> {};

TEST_P(DepthwiseConv2dTest, MatchesRef) {
  const auto& [isa, c] = GetParam();
  if (!kcpu::cpu_supports(isa)) GTEST_SKIP() << "this CPU lacks " << kcpu::cpu_isa_name(isa);
  const pt::GuardedBuffer shape_x(static_cast<size_t>(c.n * c.c * c.h * c.w));
  const pt::GuardedBuffer x = shape_x.filled(11);
  const pt::GuardedBuffer w = pt::GuardedBuffer(static_cast<size_t>(c.c * c.m * c.kh * c.kw)).filled(12);
  const pt::GuardedBuffer b = pt::GuardedBuffer(static_cast<size_t>(c.c * c.m)).filled(13);
  const std::vector<float> x_before(x.data(), x.data() + x.size);
  const pt::GuardedBuffer expected = run(kcpu::depthwise_conv2d_ref, c, x, w, b);
  const pt::GuardedBuffer scale = run(kcpu::depthwise_conv2d_ref, c, x.abs(), w.abs(), b.abs());
  for (int threads : {1, 3}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    const pt::GuardedBuffer out =
        run(variant_for(isa), c, x, w, b, threads > 1 ? pt::std_thread_for(threads) : ParallelFor{},
            threads);
    pt::expect_close_scaled(out.data(), expected.data(), scale.data(), out.size, kTolerance);
  }
  EXPECT_EQ(std::memcmp(x_before.data(), x.data(), x.size * sizeof(float)), 0)
      << "the kernel modified its input";
  EXPECT_TRUE(x.guards_intact() && w.guards_intact() && b.guards_intact());
}

INSTANTIATE_TEST_SUITE_P(
    Variants, DepthwiseConv2dTest,
    ::testing::Combine(::testing::Values(CpuIsa::avx512, CpuIsa::avx2, CpuIsa::scalar),
                       ::testing::ValuesIn(pt::dw_cases())),
    [](const auto& info) {
      return std::string(kcpu::cpu_isa_name(std::get<0>(info.param))) + "_" +
             std::get<1>(info.param).name();
    });

TEST(DepthwiseConv2dDispatch, FollowsTheActiveIsa) {
  pt::ActiveIsaGuard guard;
  const pt::DwCase c = pt::dw_case(1, 5, 9, 11, 2, 3, 1, 1);
  const pt::GuardedBuffer x = pt::GuardedBuffer(5 * 9 * 11).filled(1);
  const pt::GuardedBuffer w = pt::GuardedBuffer(10 * 9).filled(2);
  const pt::GuardedBuffer b = pt::GuardedBuffer(10).filled(3);
  for (CpuIsa isa : {CpuIsa::avx512, CpuIsa::avx2, CpuIsa::scalar}) {
    if (!kcpu::cpu_supports(isa)) continue;
    kcpu::set_active_cpu_isa(isa);
    const pt::GuardedBuffer via_dispatch = run(kcpu::depthwise_conv2d, c, x, w, b);
    const pt::GuardedBuffer direct = run(variant_for(isa), c, x, w, b);
    EXPECT_EQ(std::memcmp(via_dispatch.data(), direct.data(), direct.size * 4), 0)
        << kcpu::cpu_isa_name(isa);
  }
}

}  // namespace
