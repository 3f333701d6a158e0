// Each SIMD variant of the NCHW pooling against pool2d_ref (double sums, ATen's NaN rule):
// max over a grid of kernels 1-5, strides 1-3 (the phase paths: stride 1, the stride-2
// deinterleave, the scalar scatter), every padding PyTorch allows, dilation 1-2 and
// ceil_mode; average with and without count_include_pad and divisor_override; adaptive
// windows, uniform (the phase path) and not (window by window); rows narrower and wider
// than a vector with tails; serially and with a threaded parallel_for. Memory around the
// input and the output is NaN (a stray read turns an output NaN, a stray write breaks a
// guard); the output starts NaN. Max must match exactly; average to 1e-5 of the window's
// |x| mean.
#include "pool2d/pool2d.h"

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
using pybench::kernels::Pool2dParams;
using pybench::kernels::PoolMode;
using pybench::kernels::adaptive_avg_pool2d_params;
using pybench::kernels::pool2d_description;
using pybench::kernels::pool2d_params;
using pybench::kernels::cpu::CpuIsa;
namespace kcpu = pybench::kernels::cpu;
namespace kern = pybench::kernels;
namespace pt = pybench::testing;

using PoolFn = void (*)(const Pool2dParams&);

PoolFn variant_for(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::avx512: return kcpu::pool2d_avx512;
    case CpuIsa::avx2: return kcpu::pool2d_avx2;
    case CpuIsa::scalar: return kcpu::pool2d_ref;
  }
  return nullptr;
}

std::vector<Pool2dParams> cases() {
  std::vector<Pool2dParams> out;
  // 13: under one zmm; 37: two zmm and a tail; 40: whole ymm, a zmm tail.
  for (auto [planes, h, w] : {std::tuple<int64_t, int64_t, int64_t>{2, 11, 13}, {3, 9, 37},
                              {1, 6, 40}}) {
    for (int64_t k : {1, 2, 3, 5}) {
      for (int64_t s : {1, 2, 3}) {
        for (int64_t d : {1, 2}) {
          for (int64_t pad = 0; pad <= k / 2; ++pad) {  // PyTorch's bound
            for (bool ceil : {false, true}) {
              Pool2dParams p =
                  pool2d_params(PoolMode::max, planes, h, w, k, k, s, s, pad, pad, d, d, ceil);
              if (p.out_h < 1 || p.out_w < 1) continue;
              out.push_back(p);
              if (d == 1) {
                for (bool include_pad : {true, false}) {
                  Pool2dParams a = p;
                  a.mode = PoolMode::avg;
                  a.count_include_pad = include_pad;
                  out.push_back(a);
                }
              }
            }
          }
        }
      }
    }
  }
  // Rectangular windows, strides, paddings and dilations.
  out.push_back(pool2d_params(PoolMode::max, 2, 13, 29, 3, 2, 2, 1, 1, 0, 1, 1, true));
  out.push_back(pool2d_params(PoolMode::max, 1, 10, 33, 2, 3, 1, 2, 0, 1, 3, 2, true));
  out.push_back(pool2d_params(PoolMode::avg, 2, 12, 35, 2, 3, 3, 2, 1, 1, 1, 1, true));
  Pool2dParams div = pool2d_params(PoolMode::avg, 2, 9, 21, 3, 3, 2, 2, 1, 1, 1, 1, false);
  div.divisor_override = -3;
  out.push_back(div);
  div.divisor_override = 7;
  out.push_back(div);
  // Global windows (the whole plane, contiguous), padded or not, tails after 2 vectors.
  for (PoolMode mode : {PoolMode::max, PoolMode::avg}) {
    out.push_back(pool2d_params(mode, 3, 7, 7, 7, 7, 1, 1, 0, 0, 1, 1, false));
    out.push_back(pool2d_params(mode, 2, 5, 11, 5, 11, 1, 1, 0, 0, 1, 1, false));
    out.push_back(pool2d_params(mode, 2, 3, 3, 5, 5, 3, 3, 2, 2, 1, 1, false));
  }
  // Dilated windows holding no input (PyTorch gives -inf): a narrow row and a wide one.
  out.push_back(pool2d_params(PoolMode::max, 2, 1, 3, 2, 2, 1, 1, 1, 1, 2, 2, false));
  out.push_back(pool2d_params(PoolMode::max, 1, 3, 37, 2, 2, 1, 2, 1, 1, 4, 1, true));
  // A 4x4 stride-4 window (the scatter path with a whole row of taps).
  out.push_back(pool2d_params(PoolMode::avg, 2, 8, 36, 4, 4, 4, 4, 2, 2, 1, 1, true));
  // Adaptive: uniform (global, identity, 14 -> 7) and varying windows, growing too.
  for (auto [h, w, oh, ow] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{7, 7, 1, 1},
                              {6, 6, 6, 6}, {14, 28, 7, 7}, {13, 37, 4, 5}, {5, 9, 7, 12},
                              {10, 33, 3, 1}, {9, 37, 1, 1}, {1, 1, 1, 1}}) {
    out.push_back(adaptive_avg_pool2d_params(3, h, w, oh, ow));
  }
  return out;
}

pt::GuardedBuffer run(PoolFn fn, Pool2dParams p, const pt::GuardedBuffer& x,
                      const ParallelFor& pf = {}, int64_t threads = 1) {
  p.input = x.data();
  pt::GuardedBuffer out(static_cast<size_t>(p.planes * p.out_h * p.out_w));
  p.output = out.data();
  p.exec = {pf, threads};
  fn(p);
  EXPECT_TRUE(out.guards_intact()) << "the kernel wrote outside the output";
  return out;
}

void expect_matches_ref(PoolFn fn, const Pool2dParams& p, const ParallelFor& pf = {},
                        int64_t threads = 1) {
  SCOPED_TRACE(pool2d_description(p) + ", threads " + std::to_string(threads));
  const size_t n = static_cast<size_t>(p.planes * p.in_h * p.in_w);
  pt::GuardedBuffer x = pt::GuardedBuffer(n).filled(21 + n);
  if (p.mode == PoolMode::max) {
    // NaNs inside windows must win over larger taps after them; infinities pool as numbers.
    x.data()[n / 3] = pt::kNaN;
    x.data()[n / 3 + 1] = 1e30f;
    x.data()[n - 1] = pt::kNaN;
    x.data()[n / 2] = INFINITY;
    x.data()[n / 5] = -INFINITY;
  }
  const pt::GuardedBuffer expected = run(kcpu::pool2d_ref, p, x);
  const pt::GuardedBuffer scale = run(kcpu::pool2d_ref, p, x.abs());
  const pt::GuardedBuffer out = run(fn, p, x, pf, threads);
  for (size_t i = 0; i < out.size; ++i) {
    const float o = out.data()[i], e = expected.data()[i];
    if (p.mode == PoolMode::max) {
      ASSERT_TRUE(std::isnan(o) == std::isnan(e) && (std::isnan(o) || o == e))
          << "element " << i << ": " << o << " vs " << e;
    } else {
      ASSERT_LE(std::fabs(o - e), 1e-5 * std::fabs(scale.data()[i]) + 1e-30)
          << "element " << i << ": " << o << " vs " << e;
    }
  }
  EXPECT_TRUE(x.guards_intact());
}

class Pool2dTest : public ::testing::TestWithParam<CpuIsa> {};

TEST_P(Pool2dTest, MatchesRefOnEveryGeometry) {
  const CpuIsa isa = GetParam();
  if (!kcpu::cpu_supports(isa)) GTEST_SKIP() << "this CPU lacks " << kcpu::cpu_isa_name(isa);
  int runs = 0;
  for (const Pool2dParams& p : cases()) {
    expect_matches_ref(variant_for(isa), p);
    ++runs;
  }
  EXPECT_GT(runs, 300);
}

TEST_P(Pool2dTest, ThreadedMatchesRef) {
  const CpuIsa isa = GetParam();
  if (!kcpu::cpu_supports(isa)) GTEST_SKIP() << "this CPU lacks " << kcpu::cpu_isa_name(isa);
  for (const Pool2dParams& p :
       {pool2d_params(PoolMode::max, 5, 29, 31, 3, 3, 2, 2, 1, 1, 1, 1, true),
        pool2d_params(PoolMode::avg, 4, 17, 45, 3, 3, 1, 1, 1, 1, 1, 1, false),
        adaptive_avg_pool2d_params(7, 13, 27, 5, 4)}) {
    expect_matches_ref(variant_for(isa), p, pt::std_thread_for(3), 3);
    expect_matches_ref(variant_for(isa), p, pt::reverse_uneven_chunks, 4);
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, Pool2dTest,
                         ::testing::Values(CpuIsa::avx512, CpuIsa::avx2, CpuIsa::scalar),
                         [](const auto& info) { return kcpu::cpu_isa_name(info.param); });

// The per-output windows, in 32 and 64 bits alike (the CUDA kernel runs the 32-bit ones).
TEST(Pool2dWindows, Int32AndInt64Agree) {
  for (int64_t in : {1, 5, 13}) {
    for (int64_t k : {1, 2, 3, 4}) {
      for (int64_t s : {1, 2, 3}) {
        for (int64_t d : {1, 2}) {
          for (int64_t pad = 0; pad <= k / 2; ++pad) {
            const int64_t out = kern::pool_output_size(in, k, s, pad, d, true);
            for (int64_t o = 0; o < out; ++o) {
              const auto a = kern::pool_window<int64_t>(o, in, k, s, pad, d);
              const auto b = kern::pool_window<int32_t>(static_cast<int32_t>(o),
                                                        static_cast<int32_t>(in),
                                                        static_cast<int32_t>(k),
                                                        static_cast<int32_t>(s),
                                                        static_cast<int32_t>(pad),
                                                        static_cast<int32_t>(d));
              EXPECT_EQ(a.first, b.first);
              EXPECT_EQ(a.taps, b.taps);
              EXPECT_EQ(a.span, b.span);
              // A dilated window may hold no input (a 1-pixel input, kernel 2, dilation 2,
              // padding 1); otherwise PyTorch's bounds leave one in every window.
              if (d == 1) EXPECT_GE(a.taps, 1) << "every window holds an input";
            }
          }
        }
      }
    }
  }
}

TEST(Pool2dDispatch, FollowsTheActiveIsa) {
  pt::ActiveIsaGuard guard;
  const Pool2dParams p = pool2d_params(PoolMode::max, 2, 9, 21, 3, 3, 2, 2, 1, 1, 1, 1, false);
  const pt::GuardedBuffer x = pt::GuardedBuffer(static_cast<size_t>(2 * 9 * 21)).filled(3);
  for (CpuIsa isa : {CpuIsa::avx512, CpuIsa::avx2, CpuIsa::scalar}) {
    if (!kcpu::cpu_supports(isa)) continue;
    kcpu::set_active_cpu_isa(isa);
    const pt::GuardedBuffer via_dispatch = run(kcpu::pool2d, p, x);
    const pt::GuardedBuffer direct = run(variant_for(isa), p, x);
    EXPECT_EQ(std::memcmp(via_dispatch.data(), direct.data(), direct.size * 4), 0)
        << kcpu::cpu_isa_name(isa);
  }
}

}  // namespace
