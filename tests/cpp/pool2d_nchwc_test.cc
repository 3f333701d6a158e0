// Each SIMD variant of the blocked pooling against pool2d_nchwc_ref (double sums, ATen's
// NaN rule), both blocks (AVX2 runs B = 16 as two ymm, AVX-512 B = 8 on ymm), max and
// average (with and without count_include_pad, divisor_override), adaptive windows,
// serially and with a threaded parallel_for. Memory around the input and the output is
// NaN (a stray read turns an output NaN, a stray write breaks a guard); the output starts
// NaN. Max must match the reference exactly; average to 1e-5 of the window's |x| mean.
#include "pool2d_nchwc/pool2d_nchwc.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "common/cpu_isa.h"
#include "depthwise_test_util.h"

namespace {

using pybench::kernels::ParallelFor;
using pybench::kernels::PoolMode;
using pybench::kernels::PoolWindow;
using pybench::kernels::Pool2dNchwcParams;
using pybench::kernels::cpu::CpuIsa;
namespace kcpu = pybench::kernels::cpu;
namespace kern = pybench::kernels;
namespace pt = pybench::testing;

using PoolFn = void (*)(const Pool2dNchwcParams&);

PoolFn variant_for(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::avx512: return kcpu::pool2d_nchwc_avx512;
    case CpuIsa::avx2: return kcpu::pool2d_nchwc_avx2;
    case CpuIsa::scalar: return kcpu::pool2d_nchwc_ref;
  }
  return nullptr;
}

struct PoolCase {
  int64_t n, blocks, b, h, w;
  int64_t kh, kw, sh, sw, ph, pw, dh = 1, dw = 1;
  bool ceil = false;
  PoolMode mode = PoolMode::max;
  bool include_pad = true;
  int64_t divisor = 0;
  int64_t adaptive_h = 0, adaptive_w = 0;  // > 0: adaptive average pooling to this size

  std::vector<PoolWindow> rows() const {
    if (adaptive_h > 0) return kern::adaptive_pool_windows(h, adaptive_h);
    return kern::pool_windows(h, kern::pool_output_size(h, kh, sh, ph, dh, ceil), kh, sh, ph, dh);
  }
  std::vector<PoolWindow> cols() const {
    if (adaptive_w > 0) return kern::adaptive_pool_windows(w, adaptive_w);
    return kern::pool_windows(w, kern::pool_output_size(w, kw, sw, pw, dw, ceil), kw, sw, pw, dw);
  }
  std::string name() const {
    auto t = [](int64_t v) { return std::to_string(v); };
    std::string s = std::string(mode == PoolMode::max ? "max" : "avg") + "_n" + t(n) + "_cb" +
                    t(blocks) + "_B" + t(b) + "_" + t(h) + "x" + t(w);
    if (adaptive_h > 0) return s + "_adaptive" + t(adaptive_h) + "x" + t(adaptive_w);
    return s + "_k" + t(kh) + "x" + t(kw) + "_s" + t(sh) + "x" + t(sw) + "_p" + t(ph) + "x" +
           t(pw) + "_d" + t(dh) + "x" + t(dw) + (ceil ? "_ceil" : "") +
           (include_pad ? "" : "_nopad") + (divisor ? "_div" + t(divisor < 0 ? -divisor : divisor) : "");
  }
};

std::vector<PoolCase> cases() {
  std::vector<PoolCase> out;
  for (int64_t b : {8, 16}) {
    for (PoolMode m : {PoolMode::max, PoolMode::avg}) {
      PoolCase s1{1, 3, b, 14, 13, 3, 3, 1, 1, 1, 1};
      s1.ceil = true;
      PoolCase s2{2, 2, b, 15, 17, 3, 3, 2, 2, 1, 1};
      PoolCase ceil{1, 2, b, 28, 27, 3, 3, 2, 2, 0, 0};
      ceil.ceil = true;
      PoolCase rect{1, 1, b, 10, 11, 2, 3, 3, 2, 1, 1};
      rect.ceil = true;
      PoolCase nopad{1, 2, b, 8, 7, 3, 3, 2, 2, 1, 1};
      nopad.ceil = true;
      nopad.include_pad = false;
      PoolCase whole{1, 2, b, 7, 7, 7, 7, 1, 1, 0, 0};
      for (PoolCase c : {s1, s2, ceil, rect, nopad, whole}) {
        c.mode = m;
        out.push_back(c);
      }
    }
    PoolCase dil{2, 2, b, 13, 12, 3, 2, 2, 3, 1, 1, 2, 3};
    dil.ceil = true;
    out.push_back(dil);
    PoolCase div{1, 2, b, 7, 7, 3, 3, 1, 1, 1, 1};
    div.mode = PoolMode::avg;
    div.divisor = -3;
    out.push_back(div);
    for (auto [oh, ow] : {std::pair<int64_t, int64_t>{1, 1}, {4, 3}, {9, 14}}) {
      PoolCase a{2, 2, b, 13, 9, 0, 0, 0, 0, 0, 0};
      a.mode = PoolMode::avg;
      a.include_pad = false;
      a.adaptive_h = oh;
      a.adaptive_w = ow;
      out.push_back(a);
    }
  }
  return out;
}

pt::GuardedBuffer run(PoolFn fn, const PoolCase& c, const pt::GuardedBuffer& x,
                      const ParallelFor& pf = {}, int64_t threads = 1) {
  const std::vector<PoolWindow> rows = c.rows(), cols = c.cols();
  Pool2dNchwcParams p;
  p.batch = c.n;
  p.blocks = c.blocks;
  p.block = c.b;
  p.in_h = c.h;
  p.in_w = c.w;
  p.out_h = static_cast<int64_t>(rows.size());
  p.out_w = static_cast<int64_t>(cols.size());
  p.dilation_h = c.dh;
  p.dilation_w = c.dw;
  p.mode = c.mode;
  p.rows = rows.data();
  p.cols = cols.data();
  p.count_include_pad = c.include_pad;
  p.divisor_override = c.divisor;
  p.input = x.data();
  pt::GuardedBuffer out(static_cast<size_t>(c.n * c.blocks * p.out_h * p.out_w * c.b));
  p.output = out.data();
  p.exec = {pf, threads};
  fn(p);
  EXPECT_TRUE(out.guards_intact()) << "the kernel wrote outside the output";
  return out;
}

class Pool2dNchwcTest : public ::testing::TestWithParam<std::tuple<CpuIsa, PoolCase>> {};

TEST_P(Pool2dNchwcTest, MatchesRef) {
  const auto& [isa, c] = GetParam();
  if (!kcpu::cpu_supports(isa)) GTEST_SKIP() << "this CPU lacks " << kcpu::cpu_isa_name(isa);
  pt::GuardedBuffer x = pt::GuardedBuffer(static_cast<size_t>(c.n * c.blocks * c.h * c.w * c.b)).filled(21);
  if (c.mode == PoolMode::max) {
    x.data()[5] = pt::kNaN;  // a NaN inside a window must win over larger taps after it
    x.data()[5 + c.b] = 1e30f;
  }
  const pt::GuardedBuffer expected = run(kcpu::pool2d_nchwc_ref, c, x);
  const pt::GuardedBuffer scale = run(kcpu::pool2d_nchwc_ref, c, x.abs());
  for (int threads : {1, 3}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    const pt::GuardedBuffer out = run(variant_for(isa), c, x,
                                      threads > 1 ? pt::std_thread_for(threads) : ParallelFor{},
                                      threads);
    for (size_t i = 0; i < out.size; ++i) {
      if (c.mode == PoolMode::max) {
        ASSERT_TRUE(std::isnan(out.data()[i]) == std::isnan(expected.data()[i]) &&
                    (std::isnan(out.data()[i]) || out.data()[i] == expected.data()[i]))
            << "element " << i << ": " << out.data()[i] << " vs " << expected.data()[i];
      } else {
        ASSERT_LE(std::fabs(out.data()[i] - expected.data()[i]), 1e-5 * std::fabs(scale.data()[i]) + 1e-30)
            << "element " << i << ": " << out.data()[i] << " vs " << expected.data()[i];
      }
    }
  }
  EXPECT_TRUE(x.guards_intact());
}

INSTANTIATE_TEST_SUITE_P(
    Variants, Pool2dNchwcTest,
    ::testing::Combine(::testing::Values(CpuIsa::avx512, CpuIsa::avx2, CpuIsa::scalar),
                       ::testing::ValuesIn(cases())),
    [](const auto& info) {
      return std::string(kcpu::cpu_isa_name(std::get<0>(info.param))) + "_" +
             std::get<1>(info.param).name();
    });

// PyTorch's output sizes, ceil_mode's rule that the last window starts inside the input or
// its left padding included, and the windows' clipping.
TEST(Pool2dNchwcWindows, OutputSizesAndWindows) {
  EXPECT_EQ(kern::pool_output_size(112, 3, 2, 0, 1, true), 56);   // GoogLeNet's maxpool1
  EXPECT_EQ(kern::pool_output_size(112, 3, 2, 0, 1, false), 55);
  EXPECT_EQ(kern::pool_output_size(112, 3, 2, 1, 1, false), 56);  // ResNet's
  EXPECT_EQ(kern::pool_output_size(5, 2, 2, 1, 1, true), 3);      // ceil would give 4
  EXPECT_EQ(kern::pool_output_size(2, 7, 1, 0, 1, false), -4);    // too small: < 1
  const std::vector<PoolWindow> w = kern::pool_windows(7, 4, 3, 2, 1, 1);
  EXPECT_EQ(w[0].first, 0); EXPECT_EQ(w[0].taps, 2); EXPECT_EQ(w[0].span, 3);
  EXPECT_EQ(w[3].first, 5); EXPECT_EQ(w[3].taps, 2); EXPECT_EQ(w[3].span, 3);
  const std::vector<PoolWindow> c = kern::pool_windows(6, 3, 3, 2, 0, 1);  // ceil: 3 outputs
  EXPECT_EQ(c[2].first, 4); EXPECT_EQ(c[2].taps, 2); EXPECT_EQ(c[2].span, 2);
  const std::vector<PoolWindow> d = kern::pool_windows(9, 3, 3, 3, 2, 2);  // dilation 2, pad 2
  EXPECT_EQ(d[0].first, 0); EXPECT_EQ(d[0].taps, 2);
  const std::vector<PoolWindow> a = kern::adaptive_pool_windows(10, 3);
  EXPECT_EQ(a[0].first, 0); EXPECT_EQ(a[0].taps, 4);
  EXPECT_EQ(a[1].first, 3); EXPECT_EQ(a[1].taps, 4);
  EXPECT_EQ(a[2].first, 6); EXPECT_EQ(a[2].taps, 4);
}

TEST(Pool2dNchwcDispatch, FollowsTheActiveIsa) {
  pt::ActiveIsaGuard guard;
  for (int64_t b : {8, 16}) {
    PoolCase c{1, 2, b, 9, 11, 3, 3, 2, 2, 1, 1};
    const pt::GuardedBuffer x = pt::GuardedBuffer(static_cast<size_t>(2 * 9 * 11 * b)).filled(3);
    for (CpuIsa isa : {CpuIsa::avx512, CpuIsa::avx2, CpuIsa::scalar}) {
      if (!kcpu::cpu_supports(isa)) continue;
      kcpu::set_active_cpu_isa(isa);
      const pt::GuardedBuffer via_dispatch = run(kcpu::pool2d_nchwc, c, x);
      const pt::GuardedBuffer direct = run(variant_for(isa), c, x);
      EXPECT_EQ(std::memcmp(via_dispatch.data(), direct.data(), direct.size * 4), 0)
          << kcpu::cpu_isa_name(isa) << " B=" << b;
    }
  }
}

}  // namespace
