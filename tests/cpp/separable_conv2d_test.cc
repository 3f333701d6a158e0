// Each SIMD fused separable variant against separable_conv2d_ref (double intermediate and
// accumulation) on the depthwise shapes of depthwise_test_util.h times pointwise output
// channel counts around the register-tile heights, every activation pair, serial and
// threaded (the output-channel chunks). NaN guards as in depthwise_conv2d_test.cc.
#include "separable_conv2d/separable_conv2d.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "common/cpu_isa.h"
#include "depthwise_test_util.h"

namespace {

using pybench::kernels::Activation;
using pybench::kernels::ParallelBody;
using pybench::kernels::ParallelFor;
using pybench::kernels::SeparableConv2dParams;
using pybench::kernels::cpu::CpuIsa;
namespace kcpu = pybench::kernels::cpu;
namespace pt = pybench::testing;

constexpr double kTolerance = 1e-5;
using SepFn = void (*)(const SeparableConv2dParams&);

SepFn variant_for(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::avx512: return kcpu::separable_conv2d_avx512;
    case CpuIsa::avx2: return kcpu::separable_conv2d_avx2;
    case CpuIsa::scalar: return kcpu::separable_conv2d_ref;
  }
  return nullptr;
}

struct SepCase {
  pt::DwCase dw;
  int64_t k;
  Activation dw_act, pw_act;
  bool pw_bias;
};

const char* act_name(Activation a) {
  return a == Activation::none ? "none" : a == Activation::relu ? "relu" : "relu6";
}

std::vector<SepCase> sep_cases() {
  std::vector<SepCase> out;
  const int64_t ks[] = {1, 5, 6, 7, 13, 24, 25};
  const Activation acts[][2] = {{Activation::relu, Activation::relu},
                                {Activation::relu6, Activation::none},
                                {Activation::none, Activation::none},
                                {Activation::relu6, Activation::relu6}};
  int i = 0;
  for (const pt::DwCase& d : pt::dw_cases()) {
    const auto& a = acts[i % 4];
    out.push_back({d, ks[i % 7], a[0], a[1], i % 3 != 0});
    ++i;
  }
  // Mid tiles of several row groups and many output channels.
  out.push_back({pt::dw_case(1, 96, 56, 56, 1, 3, 1, 1), 24, Activation::relu6, Activation::none, true});
  out.push_back({pt::dw_case(1, 16, 7, 7, 1, 3, 1, 1), 200, Activation::relu, Activation::relu, true});
  // Small images stacked in one work item (separable_conv2d_fused.h), tiles across images.
  out.push_back({pt::dw_case(5, 40, 7, 7, 1, 3, 1, 1), 33, Activation::relu, Activation::relu, true});
  out.push_back({pt::dw_case(4, 12, 6, 6, 2, 5, 2, 2), 17, Activation::relu6, Activation::none, false});
  out.push_back({pt::dw_case(3, 17, 3, 3, 1, 3, 1, 1), 23, Activation::none, Activation::none, true});
  return out;
}

struct Operands {
  pt::GuardedBuffer x, dw, db, pw, pb;
};

pt::GuardedBuffer run(SepFn fn, const SepCase& c, const Operands& o, const ParallelFor& pf = {},
                      int64_t threads = 1, bool activations = true, bool stack_images = true) {
  SeparableConv2dParams p;
  p.dw = c.dw.params();
  p.dw.input = o.x.data();
  p.dw.weight = o.dw.data();
  p.dw.bias = c.dw.bias ? o.db.data() : nullptr;
  p.dw.exec = {pf, threads};
  p.pw_weight = o.pw.data();
  p.pw_bias = c.pw_bias ? o.pb.data() : nullptr;
  p.out_channels = c.k;
  p.dw_activation = activations ? c.dw_act : Activation::none;
  p.pw_activation = activations ? c.pw_act : Activation::none;
  p.stack_images = stack_images;
  pt::GuardedBuffer out(static_cast<size_t>(c.dw.n * c.k * p.dw.out_h * p.dw.out_w));
  p.output = out.data();
  fn(p);
  EXPECT_TRUE(out.guards_intact()) << "the kernel wrote outside the output";
  return out;
}

class SeparableConv2dTest : public ::testing::TestWithParam<std::tuple<CpuIsa, SepCase>> {};

TEST_P(SeparableConv2dTest, MatchesRef) {
  const auto& [isa, c] = GetParam();
  if (!kcpu::cpu_supports(isa)) GTEST_SKIP() << "this CPU lacks " << kcpu::cpu_isa_name(isa);
  const auto& d = c.dw;
  const int64_t mid = d.c * d.m;
  const Operands o{pt::GuardedBuffer(static_cast<size_t>(d.n * d.c * d.h * d.w)).filled(21),
                   pt::GuardedBuffer(static_cast<size_t>(mid * d.kh * d.kw)).filled(22),
                   pt::GuardedBuffer(static_cast<size_t>(mid)).filled(23),
                   pt::GuardedBuffer(static_cast<size_t>(c.k * mid)).filled(24),
                   pt::GuardedBuffer(static_cast<size_t>(c.k)).filled(25)};
  const Operands a{o.x.abs(), o.dw.abs(), o.db.abs(), o.pw.abs(), o.pb.abs()};
  const pt::GuardedBuffer expected = run(kcpu::separable_conv2d_ref, c, o);
  // The scale: both sums on absolute operands, without activations.
  const pt::GuardedBuffer scale = run(kcpu::separable_conv2d_ref, c, a, {}, 1, false);
  for (int threads : {1, 2, 3}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    const pt::GuardedBuffer out = run(
        variant_for(isa), c, o, threads > 1 ? pt::std_thread_for(threads) : ParallelFor{}, threads);
    pt::expect_close_scaled(out.data(), expected.data(), scale.data(), out.size, kTolerance);
    // Stacking images moves outputs between tiles, never reorders a sum.
    const pt::GuardedBuffer alone = run(
        variant_for(isa), c, o, threads > 1 ? pt::std_thread_for(threads) : ParallelFor{}, threads,
        true, false);
    EXPECT_EQ(std::memcmp(out.data(), alone.data(), out.size * sizeof(float)), 0)
        << "stacking images changed the result";
  }
  EXPECT_TRUE(o.x.guards_intact() && o.dw.guards_intact() && o.pw.guards_intact());
}

INSTANTIATE_TEST_SUITE_P(
    Variants, SeparableConv2dTest,
    ::testing::Combine(::testing::Values(CpuIsa::avx512, CpuIsa::avx2, CpuIsa::scalar),
                       ::testing::ValuesIn(sep_cases())),
    [](const auto& info) {
      const SepCase& c = std::get<1>(info.param);
      return std::string(kcpu::cpu_isa_name(std::get<0>(info.param))) + "_" + c.dw.name() +
             "_k" + std::to_string(c.k) + "_" + act_name(c.dw_act) + "_" + act_name(c.pw_act) +
             (c.pw_bias ? "" : "_nopwbias");
    });

}  // namespace
