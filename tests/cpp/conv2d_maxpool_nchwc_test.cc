// conv2d_maxpool_nchwc (the band-by-band convolution -> max pooling) against the two kernels
// it runs, conv2d_nchwc then pool2d_nchwc, on every ISA variant (scalar reference, AVX2,
// AVX-512) and both blocks: blocked and NCHW inputs, channel tails, strides, padding,
// dilation, overlapping and disjoint pool windows, pool padding and dilation, ceil_mode,
// every activation; the plan's bands and block groups as chosen and forced (one pooled
// row a band, groups of one register tile), serially and under two injected parallel-fors.
// The same sums run on both sides, so the outputs must be bitwise equal; the output starts
// NaN, so an element the fused kernel skips fails too.
#include "conv2d_maxpool_nchwc/conv2d_maxpool_nchwc.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/cpu_caches.h"
#include "common/cpu_isa.h"
#include "pool2d_nchwc/pool2d_nchwc.h"
#include "test_util.h"

namespace {

using pybench::kernels::Activation;
using pybench::kernels::Conv2dMaxpoolNchwcParams;
using pybench::kernels::Conv2dNchwcParams;
using pybench::kernels::Pool2dNchwcParams;
using pybench::kernels::PoolMode;
using pybench::kernels::PoolWindow;
using pybench::kernels::cpu::CpuIsa;
using pybench::kernels::cpu::cpu_supports;
namespace kcpu = pybench::kernels::cpu;
namespace kern = pybench::kernels;
namespace pt = pybench::testing;

struct Case {
  int64_t n, c, k, h, w, kh, sh, ph, dh;  // square conv kernel, symmetric padding
  bool blocked;
  Activation act;
  int64_t pk, ps, pp, pd;                 // square pool
  bool ceil;
};

const Case kCases[] = {
    {1, 16, 24, 23, 19, 3, 1, 1, 1, true, Activation::relu, 2, 2, 0, 1, false},
    {2, 5, 17, 12, 13, 3, 2, 1, 1, true, Activation::relu6, 3, 2, 1, 1, true},
    {3, 8, 20, 15, 11, 5, 1, 2, 1, true, Activation::hardswish, 3, 1, 1, 1, false},
    {1, 24, 40, 14, 14, 3, 1, 2, 2, true, Activation::sigmoid, 2, 2, 0, 1, true},
    {2, 3, 32, 67, 61, 11, 4, 2, 1, false, Activation::relu, 3, 2, 0, 1, false},
    {1, 8, 8, 5, 4, 1, 1, 0, 1, true, Activation::none, 2, 1, 1, 2, false},
    {2, 32, 72, 9, 9, 3, 1, 1, 1, true, Activation::relu, 3, 2, 1, 1, true},
    {1, 8, 40, 40, 36, 3, 1, 1, 1, true, Activation::relu, 2, 2, 0, 1, false},
    // Padding past the kernel: the last conv rows lie wholly in the bottom padding.
    {1, 8, 16, 6, 6, 3, 1, 4, 1, true, Activation::relu, 3, 2, 1, 1, true},
};

int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

struct Operands {
  std::vector<float> input, weight, bias;
  Conv2dNchwcParams conv;
};

// Operands with zeros in every padded channel, as pybench.ops packs them.
Operands make(const Case& c, int64_t B, uint64_t seed) {
  Operands o;
  const int64_t cb = (c.c + B - 1) / B, kb = (c.k + B - 1) / B;
  const int64_t groups = c.blocked ? cb : c.c, bi = c.blocked ? B : 1;
  o.input.assign(c.n * groups * c.h * c.w * bi, 0.0f);
  o.weight.assign(kb * groups * c.kh * c.kh * bi * B, 0.0f);
  o.bias.assign(kb * B, 0.0f);
  std::vector<float> r(o.input.size() + o.weight.size() + o.bias.size());
  pt::fill_normal(r.data(), r.size(), seed);
  size_t at = 0;
  for (size_t i = 0; i < o.input.size(); ++i, ++at) {
    const int64_t ch = c.blocked ? (i / (c.h * c.w * B)) % cb * B + i % B : 0;
    if (ch < c.c) o.input[i] = r[at];
  }
  for (size_t i = 0; i < o.weight.size(); ++i, ++at) {
    const int64_t oc = i % B, ic = (i / B) % bi;
    const int64_t g = (i / (B * bi * c.kh * c.kh)) % groups;
    const int64_t kbi = i / (B * bi * c.kh * c.kh * groups);
    if (kbi * B + oc < c.k && g * bi + ic < c.c) o.weight[i] = r[at] * 0.3f;
  }
  for (size_t i = 0; i < o.bias.size(); ++i, ++at) {
    if (static_cast<int64_t>(i) < c.k) o.bias[i] = r[at];
  }
  Conv2dNchwcParams& p = o.conv;
  p.input = o.input.data();
  p.weight = o.weight.data();
  p.bias = o.bias.data();
  p.batch = c.n;
  p.in_h = c.h;
  p.in_w = c.w;
  p.kernel_h = p.kernel_w = c.kh;
  p.stride_h = p.stride_w = c.sh;
  p.pad_h = p.pad_w = c.ph;
  p.dilation_h = p.dilation_w = c.dh;
  p.out_h = conv_out(c.h, c.kh, c.sh, c.ph, c.dh);
  p.out_w = conv_out(c.w, c.kh, c.sh, c.ph, c.dh);
  p.in_channels = c.c;
  p.out_channels = c.k;
  p.block = B;
  p.input_blocked = c.blocked;
  p.activation = c.act;
  p.output_blocks = kb;
  return o;
}

Conv2dMaxpoolNchwcParams fused_params(const Case& c, const Operands& o) {
  Conv2dMaxpoolNchwcParams f;
  f.conv = o.conv;
  f.pool_kernel_h = f.pool_kernel_w = c.pk;
  f.pool_stride_h = f.pool_stride_w = c.ps;
  f.pool_pad_h = f.pool_pad_w = c.pp;
  f.pool_dilation_h = f.pool_dilation_w = c.pd;
  f.out_h = kern::pool_output_size(o.conv.out_h, c.pk, c.ps, c.pp, c.pd, c.ceil);
  f.out_w = kern::pool_output_size(o.conv.out_w, c.pk, c.ps, c.pp, c.pd, c.ceil);
  return f;
}

// The two kernels in a row, serially.
std::vector<float> separate(const Case& c, const Operands& o, const Conv2dMaxpoolNchwcParams& f) {
  Conv2dNchwcParams p = o.conv;
  const int64_t kb = p.out_blocks(), B = p.block;
  std::vector<float> mid(p.batch * kb * p.out_h * p.out_w * B, pt::kNaN);
  p.output = mid.data();
  kcpu::conv2d_nchwc(p);
  const std::vector<PoolWindow> rows =
      kern::pool_windows(p.out_h, f.out_h, c.pk, c.ps, c.pp, c.pd);
  const std::vector<PoolWindow> cols =
      kern::pool_windows(p.out_w, f.out_w, c.pk, c.ps, c.pp, c.pd);
  std::vector<float> out(p.batch * kb * f.out_h * f.out_w * B, pt::kNaN);
  Pool2dNchwcParams q;
  q.input = mid.data();
  q.output = out.data();
  q.batch = p.batch;
  q.blocks = kb;
  q.block = B;
  q.in_h = p.out_h;
  q.in_w = p.out_w;
  q.out_h = f.out_h;
  q.out_w = f.out_w;
  q.dilation_h = q.dilation_w = c.pd;
  q.mode = PoolMode::max;
  q.rows = rows.data();
  q.cols = cols.data();
  kcpu::pool2d_nchwc(q);
  return out;
}

std::string name(const Case& c, int64_t B) {
  auto t = [](int64_t v) { return std::to_string(v); };
  return "n" + t(c.n) + " c" + t(c.c) + " k" + t(c.k) + " " + t(c.h) + "x" + t(c.w) + " kernel " +
         t(c.kh) + " s" + t(c.sh) + " p" + t(c.ph) + " d" + t(c.dh) +
         (c.blocked ? "" : " nchw") + " pool k" + t(c.pk) + " s" + t(c.ps) + " p" + t(c.pp) +
         " d" + t(c.pd) + (c.ceil ? " ceil" : "") + " B" + t(B);
}

class Conv2dMaxpoolNchwcTest : public ::testing::TestWithParam<std::tuple<CpuIsa, int64_t>> {};

TEST_P(Conv2dMaxpoolNchwcTest, EqualsConvThenPool) {
  const auto [isa, B] = GetParam();
  if (!cpu_supports(isa)) GTEST_SKIP() << "this CPU lacks " << kcpu::cpu_isa_name(isa);
  pt::ActiveIsaGuard guard;
  kcpu::set_active_cpu_isa(isa);
  uint64_t seed = 7;
  for (const Case& c : kCases) {
    const Operands o = make(c, B, seed++);
    Conv2dMaxpoolNchwcParams f = fused_params(c, o);
    const std::vector<float> want = separate(c, o, f);
    // (band_rows, block_groups, threads): the plan's own, then forced splits.
    const int64_t splits[][3] = {{0, 0, 1}, {0, 0, 2}, {1, 1, 2}, {2, 2, 1}, {3, 3, 2}};
    for (const auto& s : splits) {
      std::vector<float> got(want.size(), pt::kNaN);
      f.output = got.data();
      f.band_rows = s[0];
      f.block_groups = s[1];
      f.exec = {};
      if (s[2] > 1) {
        f.exec.parallel_for = s[0] % 2 ? pt::std_thread_for(2) : pt::reverse_uneven_chunks;
        f.exec.max_threads = 2;
      }
      kcpu::conv2d_maxpool_nchwc(f);
      ASSERT_EQ(0, std::memcmp(got.data(), want.data(), want.size() * sizeof(float)))
          << name(c, B) << " band_rows " << s[0] << " block_groups " << s[1] << " threads "
          << s[2];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, Conv2dMaxpoolNchwcTest,
                         ::testing::Combine(::testing::Values(CpuIsa::scalar, CpuIsa::avx2,
                                                              CpuIsa::avx512),
                                            ::testing::Values(int64_t{8}, int64_t{16})));

// The plan: bands whose conv rows fit a quarter of the L2 where they make enough items
// for the threads; else the split whose costliest thread finishes first -- within a few
// percent of an even share where the image allows; a scratch holding the largest band.
TEST(Conv2dMaxpoolNchwcPlan, BandsFitTheL2AndFeedTheThreads) {
  const Case vgg{8, 64, 64, 224, 224, 3, 1, 1, 1, true, Activation::relu, 2, 2, 0, 1, false};
  Operands o = make(vgg, 16, 1);
  Conv2dMaxpoolNchwcParams f = fused_params(vgg, o);
  f.exec.max_threads = 2;
  auto d = kern::conv2d_maxpool_nchwc_plan(f);
  EXPECT_EQ(d.groups, 1);
  EXPECT_EQ(d.scratch_rows, 2 * d.band);  // disjoint 2x2 windows: no conv row twice
  EXPECT_LE(d.scratch_floats * 4, std::max<int64_t>(kcpu::cpu_caches().l2 / 4,
                                                    4 * 2 * 4 * 224 * 16));
  EXPECT_EQ(d.bands, (112 + d.band - 1) / d.band);
  EXPECT_EQ(static_cast<int64_t>(d.prefix.size()), 8 * d.items() + 1);

  // Small images at batch 1 (VGG-16's 28x28 and 14x14 pools, AlexNet's 27x27 and 13x13
  // 3x3 stride-2 ones): 2 threads each within 10% of half the work.
  const Case small[] = {
      {1, 256, 512, 28, 28, 3, 1, 1, 1, true, Activation::relu, 2, 2, 0, 1, false},
      {1, 512, 512, 14, 14, 3, 1, 1, 1, true, Activation::relu, 2, 2, 0, 1, false},
      {1, 64, 192, 27, 27, 5, 1, 2, 1, true, Activation::relu, 3, 2, 0, 1, false},
      {1, 256, 256, 13, 13, 3, 1, 1, 1, true, Activation::relu, 3, 2, 0, 1, false}};
  for (const Case& c : small) {
    for (int64_t B : {8, 16}) {
      o = make(c, B, 2);
      f = fused_params(c, o);
      f.exec.max_threads = 2;
      d = kern::conv2d_maxpool_nchwc_plan(f);
      EXPECT_GE(d.items(), 2) << name(c, B);
      EXPECT_LE(kern::balanced_makespan(d.prefix, 2), d.prefix.back() / 2 * 11 / 10)
          << name(c, B) << ": groups " << d.groups << " band " << d.band;
    }
  }
}

}  // namespace
