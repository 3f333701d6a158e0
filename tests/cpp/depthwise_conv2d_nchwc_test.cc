// Each SIMD variant of the blocked depthwise convolution against depthwise_conv2d_nchwc_ref
// (double accumulation and epilogue), both blocks (the variants run B = their vector width,
// AVX-512 also B = 8 on ymm, and hand the rest to ref), every activation, with and without
// bias and residual, serially and with a threaded parallel_for. Memory around every operand
// and the output is NaN (a stray read turns an output NaN, a stray write breaks a guard);
// the output starts NaN; padded lanes must come out exactly zero.
#include "depthwise_conv2d_nchwc/depthwise_conv2d_nchwc.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "common/cpu_isa.h"
#include "conv2d/conv2d.h"
#include "depthwise_test_util.h"

namespace {

using pybench::kernels::Activation;
using pybench::kernels::DepthwiseConv2dNchwcParams;
using pybench::kernels::ParallelFor;
using pybench::kernels::cpu::CpuIsa;
namespace kcpu = pybench::kernels::cpu;
namespace pt = pybench::testing;

constexpr double kTolerance = 1e-5;
using DwFn = void (*)(const DepthwiseConv2dNchwcParams&);

DwFn variant_for(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::avx512: return kcpu::depthwise_conv2d_nchwc_avx512;
    case CpuIsa::avx2: return kcpu::depthwise_conv2d_nchwc_avx2;
    case CpuIsa::scalar: return kcpu::depthwise_conv2d_nchwc_ref;
  }
  return nullptr;
}

struct NchwcCase {
  int64_t n, c, b, h, w, k;
  int64_t s = 1, pt = 1, pb = 1, pl = 1, pr = 1, d = 1;
  bool bias = true, residual = false;
  Activation act = Activation::none;

  int64_t cb() const { return (c + b - 1) / b; }
  int64_t out_h() const { return pybench::kernels::conv2d_out_size(h, k, s, pt, pb, d); }
  int64_t out_w() const { return pybench::kernels::conv2d_out_size(w, k, s, pl, pr, d); }
  size_t in_size() const { return static_cast<size_t>(n * cb() * h * w * b); }
  size_t out_size() const { return static_cast<size_t>(n * cb() * out_h() * out_w() * b); }
  // Whether element i of a blocked (n, Cb, rows, cols, B) buffer is a padded channel.
  bool padded(size_t i, int64_t rows, int64_t cols) const {
    const int64_t j = static_cast<int64_t>(i);
    return (j / (rows * cols * b)) % cb() * b + j % b >= c;
  }
  std::string name() const {
    auto t = [](int64_t v) { return std::to_string(v); };
    static const char* acts[] = {"none", "relu", "relu6", "hardswish", "sigmoid"};
    return "n" + t(n) + "_c" + t(c) + "_B" + t(b) + "_" + t(h) + "x" + t(w) + "_k" + t(k) +
           "_s" + t(s) + "_p" + t(pt) + t(pb) + t(pl) + t(pr) + "_d" + t(d) + "_" +
           acts[static_cast<int>(act)] + (bias ? "_bias" : "") + (residual ? "_res" : "");
  }
  DepthwiseConv2dNchwcParams params() const {
    DepthwiseConv2dNchwcParams p;
    p.batch = n;
    p.channels = c;
    p.block = b;
    p.in_h = h;
    p.in_w = w;
    p.kernel_h = p.kernel_w = k;
    p.out_h = out_h();
    p.out_w = out_w();
    p.stride_h = p.stride_w = s;
    p.pad_h = pt;
    p.pad_w = pl;
    p.dilation_h = p.dilation_w = d;
    p.activation = act;
    return p;
  }
};

std::vector<NchwcCase> cases() {
  std::vector<NchwcCase> out;
  const Activation acts[] = {Activation::none, Activation::relu, Activation::relu6,
                             Activation::hardswish, Activation::sigmoid};
  for (int64_t b : {8, 16}) {
    for (Activation a : acts) {
      for (int flags = 0; flags < 4; ++flags) {
        NchwcCase c{2, 13, b, 9, 23, 3};
        c.act = a;
        c.bias = flags & 1;
        c.residual = flags & 2;
        out.push_back(c);
      }
    }
    NchwcCase s2{1, 40, b, 15, 17, 3};
    s2.s = 2;
    NchwcCase k5{1, 32, b, 12, 19, 5};
    k5.pt = k5.pb = k5.pl = k5.pr = 2;
    k5.act = Activation::relu6;
    NchwcCase k7{1, 3, b, 15, 13, 7};
    k7.pt = k7.pb = k7.pl = k7.pr = 3;
    NchwcCase k1{2, 13, b, 7, 9, 1};
    k1.pt = k1.pb = k1.pl = k1.pr = 0;
    k1.residual = true;
    NchwcCase asym{1, 13, b, 9, 10, 3};
    asym.pt = 2; asym.pb = 0; asym.pl = 0; asym.pr = 2;
    asym.act = Activation::hardswish;
    NchwcCase dil{1, 21, b, 17, 17, 3};
    dil.d = 2; dil.s = 2; dil.pt = dil.pb = dil.pl = dil.pr = 2;
    NchwcCase pad_only{1, 13, b, 2, 2, 3};
    pad_only.pt = pad_only.pb = pad_only.pl = pad_only.pr = 4;
    pad_only.act = Activation::sigmoid;
    NchwcCase chunked{1, 3, b, 120, 20, 3};
    for (const NchwcCase& c : {s2, k5, k7, k1, asym, dil, pad_only, chunked}) out.push_back(c);
    for (int64_t w : {1, 3, 4, 5, 8, 9, 12, 13, 17}) out.push_back(NchwcCase{1, 13, b, 4, w, 3});
  }
  return out;
}

// NaN-guarded buffer of a blocked tensor: normal values, padded lanes zero (the layout's
// invariant).
pt::GuardedBuffer blocked(const NchwcCase& c, int64_t rows, int64_t cols, uint64_t seed) {
  const size_t size = static_cast<size_t>(c.n * c.cb() * rows * cols * c.b);
  pt::GuardedBuffer buf = pt::GuardedBuffer(size).filled(seed);
  for (size_t i = 0; i < size; ++i) {
    if (c.padded(i, rows, cols)) buf.data()[i] = 0.0f;
  }
  return buf;
}

struct Operands {
  pt::GuardedBuffer x, w, bias, res;
};

pt::GuardedBuffer run(DwFn fn, const NchwcCase& c, const Operands& o, Activation act,
                      const ParallelFor& pf = {}, int64_t threads = 1) {
  DepthwiseConv2dNchwcParams p = c.params();
  pt::GuardedBuffer out(c.out_size());
  p.input = o.x.data();
  p.weight = o.w.data();
  p.bias = c.bias ? o.bias.data() : nullptr;
  p.residual = c.residual ? o.res.data() : nullptr;
  p.output = out.data();
  p.activation = act;
  p.exec = {pf, threads};
  fn(p);
  EXPECT_TRUE(out.guards_intact()) << "the kernel wrote outside the output";
  return out;
}

class DepthwiseConv2dNchwcTest : public ::testing::TestWithParam<std::tuple<CpuIsa, NchwcCase>> {};

TEST_P(DepthwiseConv2dNchwcTest, MatchesRef) {
  const auto& [isa, c] = GetParam();
  if (!kcpu::cpu_supports(isa)) GTEST_SKIP() << "this CPU lacks " << kcpu::cpu_isa_name(isa);
  // The weight (Cb, k, k, B) and bias (Cb*B) zeroed in the padded channels, as packed.
  Operands o{blocked(c, c.h, c.w, 11),
             pt::GuardedBuffer(static_cast<size_t>(c.cb() * c.k * c.k * c.b)).filled(12),
             pt::GuardedBuffer(static_cast<size_t>(c.cb() * c.b)).filled(13),
             blocked(c, c.out_h(), c.out_w(), 14)};
  for (size_t i = 0; i < o.w.size; ++i) {
    if (c.padded(i, c.k, c.k)) o.w.data()[i] = 0.0f;
  }
  for (int64_t i = c.c; i < c.cb() * c.b; ++i) o.bias.data()[i] = 0.0f;
  const std::vector<float> x_before(o.x.data(), o.x.data() + o.x.size);
  const pt::GuardedBuffer expected = run(kcpu::depthwise_conv2d_nchwc_ref, c, o, c.act);
  // |x|*|w| + |b| + |res| (the sum's rounding), times the activation's Lipschitz constant,
  // plus |expected| (the activation's own rounding).
  const Operands abs_o{o.x.abs(), o.w.abs(), o.bias.abs(), o.res.abs()};
  pt::GuardedBuffer scale = run(kcpu::depthwise_conv2d_nchwc_ref, c, abs_o, Activation::none);
  const double lipschitz = c.act == Activation::hardswish ? 1.5 : 1.0;
  for (size_t i = 0; i < scale.size; ++i) {
    scale.data()[i] = static_cast<float>(lipschitz * scale.data()[i] + std::fabs(expected.data()[i]));
  }
  for (int threads : {1, 3}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    const pt::GuardedBuffer out = run(variant_for(isa), c, o, c.act,
                                      threads > 1 ? pt::std_thread_for(threads) : ParallelFor{},
                                      threads);
    pt::expect_close_scaled(out.data(), expected.data(), scale.data(), out.size, kTolerance);
    for (size_t i = 0; i < out.size; ++i) {
      if (c.padded(i, c.out_h(), c.out_w())) {
        ASSERT_EQ(out.data()[i], 0.0f) << "padded lane " << i << " is not zero";
      }
    }
  }
  EXPECT_EQ(std::memcmp(x_before.data(), o.x.data(), o.x.size * sizeof(float)), 0)
      << "the kernel modified its input";
  EXPECT_TRUE(o.x.guards_intact() && o.w.guards_intact() && o.bias.guards_intact() &&
              o.res.guards_intact());
}

INSTANTIATE_TEST_SUITE_P(
    Variants, DepthwiseConv2dNchwcTest,
    ::testing::Combine(::testing::Values(CpuIsa::avx512, CpuIsa::avx2, CpuIsa::scalar),
                       ::testing::ValuesIn(cases())),
    [](const auto& info) {
      return std::string(kcpu::cpu_isa_name(std::get<0>(info.param))) + "_" +
             std::get<1>(info.param).name();
    });

TEST(DepthwiseConv2dNchwcDispatch, FollowsTheActiveIsa) {
  pt::ActiveIsaGuard guard;
  for (int64_t b : {8, 16}) {
    NchwcCase c{1, 13, b, 9, 11, 3};
    c.act = Activation::sigmoid;
    c.residual = true;
    const Operands o{blocked(c, c.h, c.w, 1),
                     pt::GuardedBuffer(static_cast<size_t>(c.cb() * 9 * b)).filled(2),
                     pt::GuardedBuffer(static_cast<size_t>(c.cb() * b)).filled(3),
                     blocked(c, c.out_h(), c.out_w(), 4)};
    for (CpuIsa isa : {CpuIsa::avx512, CpuIsa::avx2, CpuIsa::scalar}) {
      if (!kcpu::cpu_supports(isa)) continue;
      kcpu::set_active_cpu_isa(isa);
      const pt::GuardedBuffer via_dispatch = run(kcpu::depthwise_conv2d_nchwc, c, o, c.act);
      const pt::GuardedBuffer direct = run(variant_for(isa), c, o, c.act);
      EXPECT_EQ(std::memcmp(via_dispatch.data(), direct.data(), direct.size * 4), 0)
          << kcpu::cpu_isa_name(isa) << " B=" << b;
    }
  }
}

}  // namespace
