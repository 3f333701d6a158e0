// Each SIMD variant of the blocked convolution against conv2d_nchwc_ref (double
// accumulation): blocks of 8 (AVX2, and AVX-512 running the AVX2 kernel) and 16 (AVX-512),
// blocked and NCHW inputs, channel counts off the block, strides, asymmetric padding,
// dilation, a 1x1 line, rows wider than a chunk, every activation, residual and bias on
// and off, an output that is a slice of a larger concat buffer, and two injected
// parallel-fors (uneven reversed chunks, real threads).
//
// Accuracy: element-wise |out - ref| <= 1e-5 * scale, scale = the reference on the
// absolute operands (no activation; the activations here have slope <= 1.5, and the bound
// is taken 1.5x). Output blocks around the slice must keep their NaN poison; padded
// channels must be exact zeros.
#include "conv2d_nchwc/conv2d_nchwc.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "common/cpu_caches.h"
#include "common/cpu_isa.h"
#include "test_util.h"

namespace {

using pybench::kernels::Activation;
using pybench::kernels::Conv2dNchwcParams;
using pybench::kernels::cpu::CpuIsa;
using pybench::kernels::cpu::cpu_supports;
namespace kcpu = pybench::kernels::cpu;
namespace pt = pybench::testing;

struct Shape {
  int64_t n, c, h, w, k, kh, kw, sh, sw, pt, pb, pl, pr, dh, dw;
  bool blocked;
};

int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p0, int64_t p1, int64_t d) {
  return (in + p0 + p1 - d * (k - 1) - 1) / s + 1;
}

struct Buffers {
  std::vector<float> input, weight, bias, residual;
};

// Operands with zeros in every padded channel, as pybench.ops packs them.
Buffers make_operands(const Shape& s, int64_t B, uint64_t seed) {
  const int64_t kb = (s.k + B - 1) / B, cb = (s.c + B - 1) / B;
  const int64_t groups = s.blocked ? cb : s.c, bi = s.blocked ? B : 1;
  const int64_t oh = out_size(s.h, s.kh, s.sh, s.pt, s.pb, s.dh);
  const int64_t ow = out_size(s.w, s.kw, s.sw, s.pl, s.pr, s.dw);
  Buffers b;
  b.input.assign(s.n * groups * s.h * s.w * bi, 0.0f);
  b.weight.assign(kb * groups * s.kh * s.kw * bi * B, 0.0f);
  b.bias.assign(kb * B, 0.0f);
  b.residual.assign(s.n * kb * oh * ow * B, 0.0f);
  std::vector<float> r(b.input.size() + b.weight.size() + b.bias.size() + b.residual.size());
  pt::fill_normal(r.data(), r.size(), seed);
  size_t at = 0;
  for (size_t i = 0; i < b.input.size(); ++i, ++at) {
    const int64_t channel = s.blocked ? (i / (s.h * s.w * B)) % cb * B + i % B : 0;
    if (channel < s.c) b.input[i] = r[at];
  }
  for (size_t i = 0; i < b.weight.size(); ++i, ++at) {
    const int64_t o = i % B, in_i = (i / B) % bi;
    const int64_t g = (i / (B * bi * s.kh * s.kw)) % groups;
    const int64_t kbi = i / (B * bi * s.kh * s.kw * groups);
    if (kbi * B + o < s.k && g * bi + in_i < s.c) b.weight[i] = r[at];
  }
  for (size_t i = 0; i < b.bias.size(); ++i, ++at) {
    if (static_cast<int64_t>(i) < s.k) b.bias[i] = r[at];
  }
  for (size_t i = 0; i < b.residual.size(); ++i, ++at) {
    if ((i / (oh * ow * B)) % kb * B + i % B < static_cast<size_t>(s.k)) b.residual[i] = r[at];
  }
  return b;
}

Conv2dNchwcParams params(const Shape& s, int64_t B, Activation act, bool bias, bool residual,
                         const Buffers& b) {
  Conv2dNchwcParams p;
  p.input = b.input.data();
  p.weight = b.weight.data();
  p.bias = bias ? b.bias.data() : nullptr;
  p.residual = residual ? b.residual.data() : nullptr;
  p.batch = s.n;
  p.in_h = s.h;
  p.in_w = s.w;
  p.kernel_h = s.kh;
  p.kernel_w = s.kw;
  p.stride_h = s.sh;
  p.stride_w = s.sw;
  p.pad_h = s.pt;
  p.pad_w = s.pl;
  p.dilation_h = s.dh;
  p.dilation_w = s.dw;
  p.out_h = out_size(s.h, s.kh, s.sh, s.pt, s.pb, s.dh);
  p.out_w = out_size(s.w, s.kw, s.sw, s.pl, s.pr, s.dw);
  p.in_channels = s.c;
  p.out_channels = s.k;
  p.block = B;
  p.input_blocked = s.blocked;
  p.activation = act;
  p.output_blocks = p.out_blocks();
  return p;
}

const Shape kShapes[] = {
    {1, 3, 17, 19, 13, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false},
    {2, 13, 7, 10, 20, 3, 3, 2, 2, 1, 1, 2, 2, 1, 1, true},
    {1, 24, 8, 8, 40, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, true},
    {1, 40, 9, 7, 8, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, true},
    {3, 8, 12, 5, 72, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, true},
    {1, 20, 11, 13, 17, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, true},
    {1, 64, 7, 7, 96, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true},
    {1, 9, 6, 7, 11, 2, 4, 1, 1, 0, 1, 1, 2, 1, 1, true},
    {1, 8, 3, 300, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true},
    {2, 17, 5, 4, 5, 3, 2, 2, 1, 0, 0, 1, 1, 1, 2, true},
    {1, 32, 2, 2, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true},
    // Full register tiles (the ISAs' assembly): 4 output blocks x 3 / 6 interior pixels.
    {1, 40, 9, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true},
    {2, 48, 6, 7, 80, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, true},
    // Rows split into near-equal tiles whose border pixels miss some taps: 13 = 5 + 4 + 4
    // (AVX-512) or 3 + 3 + 3 + 2 + 2 (AVX2); a 7x7 kernel with padding 3 on a 5-wide row,
    // where one tile holds both borders and every pixel skips a different set of taps;
    // stride 2 with the left border inside a wide tile.
    {1, 32, 5, 13, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true},
    {1, 16, 4, 5, 64, 7, 7, 1, 1, 3, 3, 3, 3, 1, 1, true},
    {1, 24, 6, 29, 40, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true},
};

// The scalar kernel's output (ref) and its error scale: the same convolution of the
// operands' absolute values, without an activation (|act(z)| <= |z| for every one tested).
void reference_and_scale(const Shape& s, int64_t B, bool bias, bool residual, const Buffers& b,
                         Conv2dNchwcParams p, std::vector<float>& ref,
                         std::vector<float>& scale) {
  kcpu::set_active_cpu_isa(CpuIsa::scalar);
  p.output = ref.data();
  kcpu::conv2d_nchwc(p);
  Buffers abs_b = b;
  for (auto* v : {&abs_b.input, &abs_b.weight, &abs_b.bias, &abs_b.residual}) {
    for (float& x : *v) x = std::fabs(x);
  }
  Conv2dNchwcParams pa = params(s, B, Activation::none, bias, residual, abs_b);
  pa.output = scale.data();
  kcpu::conv2d_nchwc(pa);
}

// `out` holds the output as blocks [1, 1 + kb) of a (kb + 2)-block concat buffer, NaN
// elsewhere: nothing written outside the slice, padded channels exactly zero, every real
// output within 1.5e-5 of its scale from the reference.
void expect_output_slice(const std::vector<float>& out, const std::vector<float>& ref,
                         const std::vector<float>& scale, const Shape& s, int64_t B, int64_t kb,
                         int64_t plane, int case_index) {
  for (int64_t n = 0; n < s.n; ++n) {
    for (int64_t i = 0; i < (kb + 2) * plane; ++i) {
      const float got = out[n * (kb + 2) * plane + i];
      const int64_t blk = i / plane - 1;
      if (blk < 0 || blk >= kb) {
        ASSERT_TRUE(std::isnan(got)) << "write outside the output slice, case " << case_index;
        continue;
      }
      const int64_t j = n * kb * plane + blk * plane + i % plane;
      if (blk * B + i % B >= s.k) {
        ASSERT_EQ(got, 0.0f) << "padded channel not zero, case " << case_index;
        continue;
      }
      ASSERT_LE(std::fabs(got - ref[j]), 1.5e-5 * scale[j] + 1e-30)
          << "case " << case_index << " element " << j << ": " << got << " vs " << ref[j];
    }
  }
}

class Conv2dNchwcIsaTest : public ::testing::TestWithParam<std::tuple<CpuIsa, int64_t>> {};

TEST_P(Conv2dNchwcIsaTest, MatchesReference) {
  const auto [isa, B] = GetParam();
  if (!cpu_supports(isa)) GTEST_SKIP() << "this CPU lacks " << kcpu::cpu_isa_name(isa);
  pt::ActiveIsaGuard guard;
  const Activation acts[] = {Activation::none, Activation::relu, Activation::relu6,
                             Activation::hardswish};
  int case_index = 0;
  for (const Shape& s : kShapes) {
    for (int variant = 0; variant < 4; ++variant, ++case_index) {
      const Activation act = acts[(case_index + variant) % 4];
      const bool bias = variant != 1, residual = variant >= 2;
      const Buffers b = make_operands(s, B, 100 + case_index);
      Conv2dNchwcParams p = params(s, B, act, bias, residual, b);
      const int64_t kb = p.out_blocks(), plane = p.out_h * p.out_w * B;
      // The output is blocks [1, 1 + kb) of a (kb + 2)-block concat buffer, NaN elsewhere.
      std::vector<float> ref(s.n * kb * plane), scale(ref.size());
      std::vector<float> out(s.n * (kb + 2) * plane, pt::kNaN);
      reference_and_scale(s, B, bias, residual, b, p, ref, scale);
      kcpu::set_active_cpu_isa(isa);
      p.output = out.data() + plane;
      p.output_blocks = kb + 2;
      p.exec.parallel_for = variant % 2 ? pt::std_thread_for(2) : pt::reverse_uneven_chunks;
      p.exec.max_threads = 2;
      kcpu::conv2d_nchwc(p);
      ASSERT_NO_FATAL_FAILURE(expect_output_slice(out, ref, scale, s, B, kb, plane, case_index));
    }
  }
}

// Winograd F(4x4, 3x3): U = G g G^T of the direct kernel's packed weight, in double.
std::vector<float> winograd_weight(const Shape& s, int64_t B, const std::vector<float>& direct) {
  static constexpr double G[6][3] = {{0.25, 0, 0},
                                     {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                     {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                     {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                     {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                     {0, 0, 1}};
  const int64_t kb = (s.k + B - 1) / B, cb = (s.c + B - 1) / B;
  std::vector<float> u(36 * kb * cb * B * B);
  for (int64_t k = 0; k < kb; ++k) {
    for (int64_t g = 0; g < cb; ++g) {
      for (int64_t i = 0; i < B; ++i) {
        for (int64_t o = 0; o < B; ++o) {
          // direct: [kb][g][r][s][i][o]
          auto w = [&](int r, int c) {
            return static_cast<double>(direct[((((k * cb + g) * 3 + r) * 3 + c) * B + i) * B + o]);
          };
          for (int xi = 0; xi < 6; ++xi) {
            for (int nu = 0; nu < 6; ++nu) {
              double v = 0;
              for (int r = 0; r < 3; ++r) {
                for (int c = 0; c < 3; ++c) v += G[xi][r] * w(r, c) * G[nu][c];
              }
              u[((((xi * 6 + nu) * kb + k) * cb + g) * B + i) * B + o] = static_cast<float>(v);
            }
          }
        }
      }
    }
  }
  return u;
}

class Conv2dNchwcWinogradTest
    : public ::testing::TestWithParam<std::tuple<CpuIsa, int64_t, const char*>> {};

// The Winograd kernel of every ISA against the direct reference, under a 512 KiB and a
// 2 MiB L2 (different tile blocks) and threads that split blocks or output groups.
// Bound: 1e-5 of the absolute operands' convolution (Winograd's WINOGRAD_RTOL).
TEST_P(Conv2dNchwcWinogradTest, MatchesDirectReference) {
  const auto [isa, B, caches] = GetParam();
  if (!cpu_supports(isa)) GTEST_SKIP() << "this CPU lacks " << kcpu::cpu_isa_name(isa);
  pt::ActiveIsaGuard guard;
  const Shape shapes[] = {
      {1, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true},
      {2, 19, 13, 11, 37, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true},
      {3, 33, 4, 5, 17, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1, true},
      {1, 40, 9, 7, 72, 3, 3, 1, 1, 0, 2, 1, 0, 1, 1, true},
      {1, 96, 30, 30, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true},
      {1, 8, 1, 30, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true},
  };
  const Activation acts[] = {Activation::none, Activation::relu, Activation::relu6,
                             Activation::hardswish};
  kcpu::set_cpu_caches_for_testing(caches);
  int case_index = 0;
  for (const Shape& s : shapes) {
    for (int variant = 0; variant < 4; ++variant, ++case_index) {
      const Activation act = acts[(case_index + variant) % 4];
      const bool bias = variant != 1, residual = variant >= 2;
      const Buffers b = make_operands(s, B, 300 + case_index);
      Conv2dNchwcParams p = params(s, B, act, bias, residual, b);
      const int64_t kb = p.out_blocks(), plane = p.out_h * p.out_w * B;
      std::vector<float> ref(s.n * kb * plane), scale(ref.size());
      reference_and_scale(s, B, bias, residual, b, p, ref, scale);
      kcpu::set_active_cpu_isa(isa);
      const std::vector<float> u = winograd_weight(s, B, b.weight);
      std::vector<float> out(s.n * (kb + 2) * plane, pt::kNaN);
      p.weight = u.data();
      p.output = out.data() + plane;
      p.output_blocks = kb + 2;
      p.exec.parallel_for = variant % 2 ? pt::std_thread_for(2) : pt::reverse_uneven_chunks;
      p.exec.max_threads = 2;
      kcpu::conv2d_nchwc_winograd(p);
      ASSERT_NO_FATAL_FAILURE(expect_output_slice(out, ref, scale, s, B, kb, plane, case_index));
    }
  }
  kcpu::set_cpu_caches_for_testing("");
}

INSTANTIATE_TEST_SUITE_P(
    Variants, Conv2dNchwcWinogradTest,
    ::testing::Combine(::testing::Values(CpuIsa::scalar, CpuIsa::avx2, CpuIsa::avx512),
                       ::testing::Values<int64_t>(8, 16),
                       ::testing::Values("l1d=32K,l2=512K", "l1d=48K,l2=2M")));

INSTANTIATE_TEST_SUITE_P(Variants, Conv2dNchwcIsaTest,
                         ::testing::Combine(::testing::Values(CpuIsa::avx2, CpuIsa::avx512),
                                            ::testing::Values<int64_t>(8, 16)));

}  // namespace
