// Each SIMD conv2d variant against conv2d_ref (double accumulation, the oracle), on small
// shapes that hit every path of the kernels: 1x1 (read in place) and KxK (phase planes),
// strides 1-3 and asymmetric ones, dilation, asymmetric padding (padding="same" with an
// even kernel: the bottom / right padding only shows in out_h / out_w), groups from 1 to
// depthwise with channel multipliers, bias null and not, channel and position counts
// around the vector widths and register-tile heights, and row chunks of the per-thread
// slab; and the fused epilogue (a residual, every activation) on all of them, the depthwise
// cases through the depthwise kernels' epilogue.
//
// Accuracy: relative Frobenius error <= 1e-5 over the whole output, and element-wise
// |out - ref| <= 1e-5 * (|x| * |w| + |b|) -- the absolute convolution, computed by
// conv2d_ref on the absolute operands, is the scale of a float32 dot product's rounding
// error, so one wrong element (a missed border tap, an unwritten tail lane) is not
// diluted by the many right ones and an element whose sum cancels is not held to an
// impossible bound. With an epilogue, the residual joins the scale (|x| * |w| + |b| +
// |residual|) and the activation's own rounding, relative to its value, the bound.
//
// Memory the kernels must not touch is NaN: guards around every operand (a stray read
// that reaches an output turns it NaN) and around the output (a stray write breaks a
// guard); the output itself is NaN until written.
#include "common/image_stacking.h"
#include "conv2d/conv2d.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "common/cpu_isa.h"
#include "test_util.h"

namespace {

using pybench::kernels::Activation;
using pybench::kernels::Conv2dAlgorithm;
using pybench::kernels::Conv2dParams;
using pybench::kernels::conv2d_flops;
using pybench::kernels::conv2d_out_size;
using pybench::kernels::ParallelBody;
using pybench::kernels::ParallelFor;
using pybench::kernels::cpu::CpuIsa;
using pybench::kernels::cpu::cpu_isa_name;
using pybench::kernels::cpu::cpu_supports;
namespace kcpu = pybench::kernels::cpu;
namespace pt = pybench::testing;

constexpr double kTolerance = 1e-5;
constexpr int64_t kGuard = 64;  // NaN floats before and after every buffer

using Conv2dFn = void (*)(const Conv2dParams&);

Conv2dFn variant_for(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::avx512: return kcpu::conv2d_avx512;
    case CpuIsa::avx2: return kcpu::conv2d_avx2;
    case CpuIsa::scalar: return kcpu::conv2d_ref;
  }
  return nullptr;
}

struct Conv2dCase {
  int64_t n, c, h, w, k, kh, kw;
  int64_t sh = 1, sw = 1;
  int64_t pt = 0, pb = 0, pl = 0, pr = 0;  // top, bottom, left, right
  int64_t dh = 1, dw = 1;
  int64_t groups = 1;
  bool bias = true;
  uint64_t seed = 0;
  bool residual = false;
  Activation act = Activation::none;
  Conv2dAlgorithm algorithm = Conv2dAlgorithm::automatic;

  int64_t out_h() const { return conv2d_out_size(h, kh, sh, pt, pb, dh); }
  int64_t out_w() const { return conv2d_out_size(w, kw, sw, pl, pr, dw); }
  size_t input_size() const { return static_cast<size_t>(n * c * h * w); }
  size_t weight_size() const { return static_cast<size_t>(k * (c / groups) * kh * kw); }
  size_t output_size() const { return static_cast<size_t>(n * k * out_h() * out_w()); }
  double flops() const { return 2.0 * static_cast<double>(output_size() * weight_size() / k); }
  // What the ATen adapter guarantees before it calls a kernel.
  bool valid() const {
    return n > 0 && c > 0 && k > 0 && groups > 0 && c % groups == 0 && k % groups == 0 &&
           out_h() > 0 && out_w() > 0 && dh * (kh - 1) + 1 <= h + pt + pb &&
           dw * (kw - 1) + 1 <= w + pl + pr;
  }
};

std::string case_name(const Conv2dCase& c) {
  auto s = [](int64_t v) { return std::to_string(v); };
  std::string name = "n" + s(c.n) + "_c" + s(c.c) + "_" + s(c.h) + "x" + s(c.w) + "_k" + s(c.k) +
                     "_" + s(c.kh) + "x" + s(c.kw) + "_s" + s(c.sh) + "x" + s(c.sw) + "_p" +
                     s(c.pt) + "_" + s(c.pb) + "_" + s(c.pl) + "_" + s(c.pr) + "_d" + s(c.dh) +
                     "x" + s(c.dw) + "_g" + s(c.groups);
  if (!c.bias) name += "_nobias";
  if (c.residual) name += "_residual";
  if (c.act != Activation::none) name += "_act" + s(static_cast<int64_t>(c.act));
  return name + "_seed" + s(static_cast<int64_t>(c.seed));
}

void PrintTo(const Conv2dCase& c, std::ostream* os) { *os << case_name(c); }

// n floats between NaN guards.
struct Buffer {
  std::vector<float> storage;
  size_t size;
  explicit Buffer(size_t n) : storage(n + 2 * kGuard, pt::kNaN), size(n) {}
  float* data() { return storage.data() + kGuard; }
  const float* data() const { return storage.data() + kGuard; }
  bool guards_intact() const {
    for (int64_t i = 0; i < kGuard; ++i) {
      if (!std::isnan(storage[i]) || !std::isnan(storage[kGuard + size + i])) return false;
    }
    return true;
  }
  Buffer abs() const {
    Buffer out(size);
    for (size_t i = 0; i < size; ++i) out.data()[i] = std::fabs(data()[i]);
    return out;
  }
};

struct Operands {
  Buffer input, weight, bias, residual;
  explicit Operands(const Conv2dCase& c)
      : input(c.input_size()), weight(c.weight_size()), bias(c.bias ? c.k : 0),
        residual(c.residual ? c.output_size() : 0) {
    std::mt19937_64 seeds(c.seed * 7919 + 17);
    pt::fill_normal(input.data(), input.size, seeds());
    pt::fill_normal(weight.data(), weight.size, seeds());
    pt::fill_normal(bias.data(), bias.size, seeds());
    pt::fill_normal(residual.data(), residual.size, seeds());
    // Wider than the sums, so relu6's 6 and hardswish's -3 and 3 are crossed.
    for (size_t i = 0; i < residual.size; ++i) residual.data()[i] *= 4.0f;
  }
  Operands(Buffer i, Buffer w, Buffer b, Buffer r)
      : input(std::move(i)), weight(std::move(w)), bias(std::move(b)), residual(std::move(r)) {}
  Operands abs() const {
    return Operands(input.abs(), weight.abs(), bias.abs(), residual.abs());
  }
};

Conv2dParams make_params(const Conv2dCase& c, const Operands& ops, Buffer& out) {
  Conv2dParams p;
  p.input = ops.input.data();
  p.weight = ops.weight.data();
  p.bias = c.bias ? ops.bias.data() : nullptr;
  p.residual = c.residual ? ops.residual.data() : nullptr;
  p.activation = c.act;
  p.algorithm = c.algorithm;
  p.output = out.data();
  p.batch = c.n;
  p.in_channels = c.c;
  p.in_h = c.h;
  p.in_w = c.w;
  p.out_channels = c.k;
  p.kernel_h = c.kh;
  p.kernel_w = c.kw;
  p.out_h = c.out_h();
  p.out_w = c.out_w();
  p.stride_h = c.sh;
  p.stride_w = c.sw;
  p.pad_h = c.pt;
  p.pad_w = c.pl;
  p.dilation_h = c.dh;
  p.dilation_w = c.dw;
  p.groups = c.groups;
  return p;
}

// Runs fn on c (threaded as given) and returns the output after checking that nothing
// outside it was written and that the operands are untouched.
Buffer run(Conv2dFn fn, const Conv2dCase& c, const Operands& ops,
           const ParallelFor& parallel_for = {}, int64_t max_threads = 1,
           bool stack_images = true) {
  const Operands before = ops.abs();  // any copy would do; abs() is one
  Buffer out(c.output_size());
  Conv2dParams p = make_params(c, ops, out);
  p.exec = {parallel_for, max_threads};
  p.stack_images = stack_images;
  fn(p);
  EXPECT_TRUE(out.guards_intact()) << "the kernel wrote outside the output";
  EXPECT_TRUE(ops.input.guards_intact() && ops.weight.guards_intact() &&
              ops.bias.guards_intact() && ops.residual.guards_intact())
      << "the kernel wrote around an operand";
  const Operands after = ops.abs();
  EXPECT_EQ(std::memcmp(before.input.data(), after.input.data(), ops.input.size * 4), 0)
      << "the kernel modified its input";
  EXPECT_EQ(std::memcmp(before.residual.data(), after.residual.data(), ops.residual.size * 4), 0)
      << "the kernel modified the residual";
  return out;
}

void expect_matches_ref(const Conv2dCase& c, const Buffer& actual, const Buffer& expected,
                        const Buffer& scale) {
  const size_t n = actual.size;
  const double err = pt::relative_frobenius_error(actual.data(), expected.data(), n);
  EXPECT_LE(err, kTolerance) << "relative Frobenius error (NaN: an unwritten element or a "
                                "read of memory outside an operand)";
  const int64_t oh = c.out_h(), ow = c.out_w();
  int reported = 0;
  for (size_t i = 0; i < n; ++i) {
    const double a = actual.data()[i], e = expected.data()[i];
    // The activation rounds once more, relative to its value (sigmoid(0) = 0.5 exactly).
    const double s = scale.data()[i] + (c.act != Activation::none ? std::fabs(e) : 0.0);
    const double diff = std::fabs(a - e);
    // s == 0: the window lies wholly in the padding and there is no bias: exactly 0.
    if (!(s > 0 ? diff <= kTolerance * s : diff == 0.0) && reported++ < 5) {
      const int64_t x = static_cast<int64_t>(i) % ow, y = static_cast<int64_t>(i) / ow % oh;
      const int64_t k = static_cast<int64_t>(i) / (ow * oh) % c.k;
      const int64_t b = static_cast<int64_t>(i) / (ow * oh * c.k);
      ADD_FAILURE() << "out[" << b << "][" << k << "][" << y << "][" << x << "] = " << a
                    << ", ref " << e << ", |diff| " << diff << " > " << kTolerance
                    << " * (|x| * |w| + |b| + |residual| (+ |ref|)) = " << kTolerance * s;
    }
  }
}

// Checks fn against conv2d_ref on c; returns fn's output for further comparisons.
Buffer check_against_ref(Conv2dFn fn, const Conv2dCase& c, const ParallelFor& parallel_for = {},
                         int64_t max_threads = 1) {
  const Operands ops(c);
  const Operands abs_ops = ops.abs();
  const Buffer expected = run(kcpu::conv2d_ref, c, ops);
  Conv2dCase linear = c;  // the scale is the sum's: the activations' slopes are at most 1.5
  linear.act = Activation::none;
  const Buffer scale = run(kcpu::conv2d_ref, linear, abs_ops);
  Buffer actual = run(fn, c, ops, parallel_for, max_threads);
  expect_matches_ref(c, actual, expected, scale);
  return actual;
}

Conv2dCase make_case(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k, int64_t kh,
                     int64_t kw) {
  Conv2dCase cc{n, c, h, w, k, kh, kw};
  return cc;
}

// Builder-style modifiers keep the case table readable.
Conv2dCase stride(Conv2dCase c, int64_t sh, int64_t sw) { c.sh = sh; c.sw = sw; return c; }
Conv2dCase pad(Conv2dCase c, int64_t t, int64_t b, int64_t l, int64_t r) {
  c.pt = t; c.pb = b; c.pl = l; c.pr = r; return c;
}
Conv2dCase pad(Conv2dCase c, int64_t p) { return pad(c, p, p, p, p); }
Conv2dCase dilate(Conv2dCase c, int64_t dh, int64_t dw) { c.dh = dh; c.dw = dw; return c; }
Conv2dCase group(Conv2dCase c, int64_t g) { c.groups = g; return c; }
Conv2dCase no_bias(Conv2dCase c) { c.bias = false; return c; }

std::vector<Conv2dCase> conv2d_cases() {
  std::vector<Conv2dCase> cases = {
      // 1x1: in place (stride 1, no padding), strided, padded
      make_case(2, 17, 9, 11, 33, 1, 1),
      no_bias(make_case(1, 64, 7, 9, 65, 1, 1)),
      make_case(1, 16, 1, 1, 13, 1, 1),
      stride(make_case(1, 32, 15, 15, 16, 1, 1), 2, 2),
      pad(make_case(3, 5, 6, 7, 7, 1, 1), 1),
      // KxK
      pad(make_case(1, 16, 13, 11, 16, 3, 3), 1),
      pad(make_case(2, 3, 12, 12, 17, 5, 5), 2),
      pad(stride(make_case(1, 3, 23, 23, 31, 7, 7), 2, 2), 3),
      pad(stride(make_case(1, 3, 39, 39, 16, 11, 11), 4, 4), 2),
      stride(make_case(1, 3, 11, 11, 8, 11, 11), 4, 4),  // input exactly the kernel
      pad(make_case(1, 16, 9, 17, 17, 1, 7), 0, 0, 3, 3),
      pad(make_case(2, 16, 17, 9, 17, 7, 1), 3, 3, 0, 0),
      // strides, incl. asymmetric and trailing rows / columns the floor drops
      stride(make_case(1, 5, 16, 17, 6, 3, 3), 3, 3),
      pad(stride(make_case(1, 6, 11, 20, 9, 3, 3), 1, 2), 1),
      pad(stride(make_case(2, 6, 20, 11, 9, 3, 3), 2, 1), 1),
      pad(stride(make_case(1, 7, 19, 17, 5, 5, 3), 3, 2), 2, 2, 1, 1),
      stride(make_case(1, 4, 8, 9, 5, 3, 3), 2, 2),
      // asymmetric padding, as padding="same" with even kernels gives it
      pad(make_case(1, 5, 8, 9, 7, 2, 2), 0, 1, 0, 1),
      pad(make_case(1, 5, 9, 8, 7, 4, 4), 1, 2, 1, 2),
      pad(dilate(make_case(1, 6, 12, 11, 6, 2, 2), 3, 3), 1, 2, 1, 2),
      pad(make_case(2, 4, 10, 10, 6, 3, 3), 2, 0, 0, 2),  // more on top / right
      pad(make_case(1, 3, 3, 3, 5, 5, 5), 2, 2, 2, 2),     // kernel larger than the input
      pad(make_case(1, 3, 1, 13, 5, 3, 3), 1, 1, 1, 1),    // one input row
      pad(make_case(1, 3, 13, 1, 5, 3, 3), 1, 1, 1, 1),    // one input column
      pad(make_case(1, 4, 5, 5, 3, 3, 3), 3, 3, 3, 3),     // outputs wholly in the padding
      no_bias(pad(make_case(1, 4, 5, 5, 3, 3, 3), 3, 3, 3, 3)),
      // dilation
      pad(dilate(make_case(1, 8, 14, 15, 8, 3, 3), 2, 2), 2),
      dilate(make_case(2, 5, 15, 13, 6, 3, 3), 3, 3),
      pad(dilate(make_case(1, 5, 12, 16, 7, 3, 3), 1, 3), 1, 1, 3, 3),
      pad(stride(dilate(make_case(1, 6, 17, 17, 7, 3, 3), 2, 2), 2, 2), 1),
      pad(stride(dilate(make_case(1, 3, 25, 21, 4, 5, 5), 3, 3), 2, 2), 3),
      stride(dilate(make_case(1, 4, 20, 20, 5, 3, 3), 2, 2), 3, 3),
      dilate(make_case(1, 4, 7, 5, 6, 3, 3), 3, 2),  // input exactly the dilated kernel
      // groups
      pad(group(make_case(2, 8, 10, 10, 12, 3, 3), 2), 1),
      pad(group(make_case(1, 9, 10, 11, 6, 3, 3), 3), 1),
      stride(group(make_case(1, 15, 9, 9, 21, 3, 3), 3), 2, 2),
      pad(group(make_case(1, 8, 8, 8, 4, 3, 3), 4), 1),
      pad(group(make_case(1, 32, 14, 14, 32, 3, 3), 32), 1),             // depthwise
      pad(stride(group(make_case(2, 17, 15, 15, 17, 3, 3), 17), 2, 2), 1),
      pad(group(make_case(1, 17, 9, 10, 34, 3, 3), 17), 1),              // multiplier 2
      pad(dilate(group(make_case(1, 5, 9, 10, 15, 3, 3), 5), 2, 2), 2),  // multiplier 3
      group(make_case(1, 6, 5, 5, 6, 1, 1), 6),                           // depthwise 1x1
      // several row chunks of the per-thread slab (conv2d_slab_bytes: 384 to 768 KiB)
      pad(make_case(1, 256, 30, 30, 8, 3, 3), 1),
      pad(stride(make_case(1, 128, 61, 61, 6, 3, 3), 2, 2), 1),
      pad(dilate(group(make_case(2, 128, 24, 40, 10, 3, 3), 2), 2, 2), 2),
      no_bias(make_case(1, 256, 33, 40, 7, 1, 1)),
      // small images stacked in one item's planes (conv2d_direct.h, plan_stacking)
      stride(make_case(5, 40, 13, 13, 33, 1, 1), 2, 2),
      pad(make_case(8, 64, 5, 5, 70, 3, 3), 1),
      stride(make_case(3, 20, 13, 13, 9, 1, 1), 2, 2),
      pad(make_case(4, 24, 5, 5, 13, 3, 3), 1),
      pad(stride(make_case(5, 16, 6, 6, 10, 3, 3), 2, 2), 1),
      pad(make_case(3, 8, 3, 4, 7, 3, 3), 2, 2, 0, 0),  // only rows padded
      stride(group(make_case(4, 16, 9, 9, 12, 1, 1), 2), 2, 2),
  };
  // Channel counts below, at and above the vector widths (8, 16) and tile heights (4, 6).
  for (int64_t c : {1, 3, 5, 15, 16, 17, 31, 32, 33, 63, 65}) {
    cases.push_back(pad(make_case(1, c, 7, 9, 5, 3, 3), 1));
  }
  for (int64_t k : {1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 15, 16, 17, 23, 25, 31, 33, 65}) {
    cases.push_back(pad(make_case(1, 3, 7, 9, k, 3, 3), 1));
  }
  // Output positions around 8 / 16 lanes and 24 / 64-position tiles; 1x1 has no garbage
  // columns, 1x3 has two per row.
  for (int64_t w : {7, 8, 9, 15, 16, 17, 23, 24, 25, 47, 48, 49, 63, 64, 65, 97}) {
    cases.push_back(make_case(1, 3, 1, w, 7, 1, 1));
    cases.push_back(make_case(1, 3, 2, w + 2, 7, 1, 3));
  }

  // Seeded random configurations over the whole space, a few MFLOP each.
  std::mt19937_64 rng(20260611);
  auto uniform = [&rng](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const int64_t kernels[][2] = {{1, 1}, {2, 2}, {3, 3}, {5, 5}, {7, 7},
                                {1, 7}, {7, 1}, {1, 3}, {3, 1}, {2, 3}};
  const int64_t channels[] = {1, 3, 5, 15, 16, 17, 31, 32, 33};
  for (int added = 0; added < 80;) {
    Conv2dCase c{uniform(1, 3), 0, 0, 0, 0, 0, 0};
    switch (uniform(0, 4)) {
      case 0: case 1:
        c.c = channels[uniform(0, 8)];
        c.k = channels[uniform(0, 8)];
        break;
      case 2:
        c.groups = uniform(2, 3);
        c.c = c.groups * uniform(1, 11);
        c.k = c.groups * uniform(1, 9);
        break;
      default:
        c.c = c.groups = uniform(2, 33);
        c.k = c.c * uniform(1, 3);
    }
    const auto& kernel = kernels[uniform(0, 9)];
    c.kh = kernel[0];
    c.kw = kernel[1];
    c.sh = uniform(0, 1) ? 1 : uniform(1, 3);
    c.sw = uniform(0, 1) ? c.sh : uniform(1, 3);
    c.dh = uniform(0, 2) ? 1 : uniform(1, 3);
    c.dw = uniform(0, 2) ? c.dh : uniform(1, 3);
    c.pt = uniform(0, 3);
    c.pb = uniform(0, 2) ? c.pt : uniform(0, 3);
    c.pl = uniform(0, 3);
    c.pr = uniform(0, 2) ? c.pl : uniform(0, 3);
    c.h = uniform(0, 3) ? uniform(1, 40) : uniform(1, 4);
    c.w = uniform(0, 3) ? uniform(1, 40) : uniform(1, 4);
    c.bias = uniform(0, 3) != 0;
    if (!c.valid() || c.flops() > 4e6) continue;
    cases.push_back(c);
    ++added;
  }
  for (size_t i = 0; i < cases.size(); ++i) cases[i].seed = i + 1;
  return cases;
}

const std::vector<Conv2dCase>& all_cases() {
  static const std::vector<Conv2dCase> cases = conv2d_cases();
  return cases;
}

using pt::std_thread_for;

class Conv2dVariantTest : public ::testing::TestWithParam<std::tuple<CpuIsa, Conv2dCase>> {
 protected:
  void SetUp() override {
    const CpuIsa isa = std::get<0>(GetParam());
    if (!cpu_supports(isa)) GTEST_SKIP() << "this CPU lacks " << cpu_isa_name(isa);
  }
};

TEST_P(Conv2dVariantTest, MatchesRef) {
  const auto& [isa, c] = GetParam();
  check_against_ref(variant_for(isa), c);
}

// Threads split the work (max_threads > 1 also makes the kernels split output channels
// when there are fewer items than threads); each output element is still one thread's
// sum, so the result is bit-identical to the serial run.
TEST_P(Conv2dVariantTest, ThreadedEqualsSerial) {
  const auto& [isa, c] = GetParam();
  const Operands ops(c);
  const Buffer serial = run(variant_for(isa), c, ops);
  for (int64_t threads : {2, 3, 4}) {
    SCOPED_TRACE(std::to_string(threads) + " threads");
    const Buffer threaded = run(variant_for(isa), c, ops, std_thread_for(threads), threads);
    EXPECT_EQ(std::memcmp(serial.data(), threaded.data(), serial.size * sizeof(float)), 0)
        << "the threaded result differs from the serial one";
  }
}

// The epilogue on every case: an activation and (every other time round the five) a
// residual, cycled by the case's seed, so each combination meets every path -- direct
// stores, row tiles, the staging copy, the depthwise kernels -- many times.
constexpr Activation kActivations[] = {Activation::none, Activation::relu, Activation::relu6,
                                       Activation::hardswish, Activation::sigmoid};

Conv2dCase with_epilogue(Conv2dCase c) {
  c.act = kActivations[c.seed % 5];
  c.residual = c.seed / 5 % 2 == 0;
  return c;
}

TEST_P(Conv2dVariantTest, MatchesRefWithEpilogue) {
  const auto& [isa, c] = GetParam();
  check_against_ref(variant_for(isa), with_epilogue(c));
}

// Stacking small images in one work item (conv2d_direct.h) moves outputs between tiles
// but never reorders a sum: bitwise the result of one image per item, epilogue included.
TEST_P(Conv2dVariantTest, StackedEqualsOneImagePerItem) {
  const auto& [isa, plain] = GetParam();
  const Conv2dCase c = with_epilogue(plain);
  const Operands ops(c);
  for (int64_t threads : {1, 2}) {
    SCOPED_TRACE(std::to_string(threads) + " threads");
    const ParallelFor pf = threads > 1 ? std_thread_for(threads) : ParallelFor{};
    const Buffer stacked = run(variant_for(isa), c, ops, pf, threads);
    const Buffer alone = run(variant_for(isa), c, ops, pf, threads, false);
    EXPECT_EQ(std::memcmp(stacked.data(), alone.data(), stacked.size * sizeof(float)), 0)
        << "stacking images changed the result";
  }
}

// Every ungrouped case forced through the blocked kernel (conv2d_via_nchwc.h), with the
// epilogue's activation (a residual keeps a layer direct, so none here), serial and
// threaded: each output element stays one thread's sum there too.
TEST_P(Conv2dVariantTest, ThroughNchwcMatchesRef) {
  const auto& [isa, plain] = GetParam();
  if (plain.groups != 1) GTEST_SKIP() << "grouped layers always run direct";
  Conv2dCase c = with_epilogue(plain);
  c.residual = false;
  c.algorithm = Conv2dAlgorithm::nchwc;
  const Buffer serial = check_against_ref(variant_for(isa), c);
  const Operands ops(c);
  const Buffer threaded = run(variant_for(isa), c, ops, std_thread_for(3), 3);
  EXPECT_EQ(std::memcmp(serial.data(), threaded.data(), serial.size * sizeof(float)), 0)
      << "the threaded result differs from the serial one";
}

TEST_P(Conv2dVariantTest, MatchesRefWithUnevenReverseChunks) {
  const auto& [isa, c] = GetParam();
  check_against_ref(variant_for(isa), c, pt::reverse_uneven_chunks, 3);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, Conv2dVariantTest,
    ::testing::Combine(::testing::Values(CpuIsa::avx2, CpuIsa::avx512),
                       ::testing::ValuesIn(all_cases())),
    [](const ::testing::TestParamInfo<Conv2dVariantTest::ParamType>& info) {
      return std::string(cpu_isa_name(std::get<0>(info.param))) + "_" +
             case_name(std::get<1>(info.param));
    });

// The oracle itself, threaded: conv2d_ref splits output planes across threads.
TEST(Conv2dRef, ThreadedEqualsSerial) {
  for (const Conv2dCase& c : {pad(make_case(3, 5, 9, 9, 7, 3, 3), 1),
                              pad(group(make_case(2, 8, 6, 7, 12, 3, 3), 4), 1)}) {
    SCOPED_TRACE(case_name(c));
    const Operands ops(c);
    const Buffer serial = run(kcpu::conv2d_ref, c, ops);
    const Buffer threaded = run(kcpu::conv2d_ref, c, ops, std_thread_for(3), 3);
    EXPECT_EQ(std::memcmp(serial.data(), threaded.data(), serial.size * sizeof(float)), 0);
  }
}

// The threaded tests above prove nothing if the kernels never call parallel_for with
// more than one chunk; this checks they do on work that can be split.
TEST(Conv2dThreads, WorkIsSplit) {
  for (CpuIsa isa : {CpuIsa::scalar, CpuIsa::avx2, CpuIsa::avx512}) {
    if (!cpu_supports(isa)) continue;
    SCOPED_TRACE(cpu_isa_name(isa));
    for (const Conv2dCase& c : {pad(make_case(4, 8, 12, 12, 8, 3, 3), 1),   // batch items
                                pad(make_case(1, 16, 10, 10, 64, 3, 3), 1)}) {  // one item
      SCOPED_TRACE(case_name(c));
      std::atomic<int> bodies{0};
      check_against_ref(variant_for(isa), c, std_thread_for(4, &bodies), 4);
      EXPECT_GT(bodies.load(), 1) << "the work was not split across threads";
    }
  }
}

// The kernels size their work items to the thread count: many (image, row chunk) items,
// or weights smaller than the planes, get more, uneven row chunks so that the count
// divides among the threads (17 images on 2 threads become 34 chunks of 4 or 5 rows);
// otherwise output channels are split into uneven chunks. Each must leave every output
// element one thread's sum.
TEST(Conv2dThreads, ItemCountsBalancedToThreads) {
  for (CpuIsa isa : {CpuIsa::avx2, CpuIsa::avx512}) {
    if (!cpu_supports(isa)) continue;
    SCOPED_TRACE(cpu_isa_name(isa));
    for (const Conv2dCase& c : {pad(make_case(17, 3, 9, 11, 13, 3, 3), 1),       // many items
                                pad(stride(make_case(1, 3, 29, 27, 8, 7, 7), 2, 2), 3),  // stem
                                pad(make_case(1, 5, 7, 7, 61, 3, 3), 1)}) {     // weights win
      SCOPED_TRACE(case_name(c));
      const Operands ops(c);
      const Buffer serial = run(variant_for(isa), c, ops);
      for (int64_t threads : {2, 3, 5}) {
        SCOPED_TRACE(std::to_string(threads) + " threads");
        check_against_ref(variant_for(isa), c, std_thread_for(threads), threads);
        const Buffer threaded = run(variant_for(isa), c, ops, std_thread_for(threads), threads);
        EXPECT_EQ(std::memcmp(serial.data(), threaded.data(), serial.size * sizeof(float)), 0);
      }
    }
  }
}

// Races are timing-dependent: one threaded run per case (above) catches a kernel that
// shares scratch or output between chunks only now and then. Here every chunk does
// enough work to overlap the others, and the run is repeated.
TEST(Conv2dThreads, RepeatedRunsEqualSerial) {
  for (CpuIsa isa : {CpuIsa::avx2, CpuIsa::avx512}) {
    if (!cpu_supports(isa)) continue;
    SCOPED_TRACE(cpu_isa_name(isa));
    for (const Conv2dCase& c : {pad(make_case(4, 32, 20, 20, 16, 3, 3), 1),
                                pad(stride(make_case(3, 16, 31, 29, 12, 5, 5), 2, 2), 2),
                                pad(make_case(1, 16, 24, 24, 96, 3, 3), 1)}) {
      SCOPED_TRACE(case_name(c));
      const Operands ops(c);
      const Buffer serial = run(variant_for(isa), c, ops);
      for (int repeat = 0; repeat < 20; ++repeat) {
        const Buffer threaded = run(variant_for(isa), c, ops, std_thread_for(4), 4);
        ASSERT_EQ(std::memcmp(serial.data(), threaded.data(), serial.size * sizeof(float)), 0)
            << "run " << repeat << " differs from the serial result";
      }
    }
  }
}

// The dispatcher runs exactly the variant set_active_cpu_isa() selected: bit-identical
// output to calling that variant directly. conv2d_ref (double sums) and the SIMD
// variants (float FMA chains) round differently, so sending the scalar level to a SIMD
// kernel or back shows as differing bits; avx2 and avx512 share one accumulation order
// (conv2d_direct.h) and round alike, so between those two this only checks that each
// dispatch lands on a correct kernel.
TEST(Conv2dDispatch, FollowsActiveCpuIsa) {
  pt::ActiveIsaGuard guard;
  const Conv2dCase c = pad(group(make_case(2, 96, 9, 11, 18, 3, 3), 2), 1);
  const Operands ops(c);
  const Buffer ref = run(kcpu::conv2d_ref, c, ops);
  for (CpuIsa isa : {CpuIsa::scalar, CpuIsa::avx2, CpuIsa::avx512}) {
    if (!cpu_supports(isa)) continue;
    SCOPED_TRACE(cpu_isa_name(isa));
    kcpu::set_active_cpu_isa(isa);
    ASSERT_EQ(kcpu::active_cpu_isa(), isa);
    const Buffer direct = run(variant_for(isa), c, ops);
    const Buffer dispatched = run(kcpu::conv2d, c, ops);
    EXPECT_EQ(std::memcmp(direct.data(), dispatched.data(), direct.size * sizeof(float)), 0)
        << "conv2d() did not run conv2d_" << (isa == CpuIsa::scalar ? "ref" : cpu_isa_name(isa));
    if (isa != CpuIsa::scalar) {
      EXPECT_NE(std::memcmp(ref.data(), direct.data(), ref.size * sizeof(float)), 0)
          << "conv2d_ref and conv2d_" << cpu_isa_name(isa)
          << " agree bit for bit on this case, so it cannot tell them apart; use longer sums";
    }
  }
}

// The stacking rules the conv2d and separable kernels share (common/image_stacking.h).
TEST(ImageStacking, TileSweepSlotsFloorShortTilesAtEightChains) {
  using pybench::kernels::tile_sweep_slots;
  EXPECT_EQ(tile_sweep_slots(24, 8, 4, 3), 12);  // one full AVX2 tile
  EXPECT_EQ(tile_sweep_slots(49, 8, 4, 3), 32);  // 2 full tiles + a lone vector at 8
  EXPECT_EQ(tile_sweep_slots(64, 16, 6, 4), 24);  // one full AVX-512 tile
  EXPECT_EQ(tile_sweep_slots(66, 16, 6, 4), 24 + 8);  // + a lone vector of 6, floored
  EXPECT_EQ(tile_sweep_slots(40, 8, 4, 3), 12 + 8);  // + a 2-vector tile of 8
}

TEST(ImageStacking, ImagesPerBlockFillEvenRoundsOfThreads) {
  using pybench::kernels::images_per_block;
  EXPECT_EQ(images_per_block(8, 100, 2), 4);  // a thread's share
  EXPECT_EQ(images_per_block(8, 3, 2), 2);    // 3 fit: 4 blocks of 2, not 3 + 3 + 2
  EXPECT_EQ(images_per_block(7, 100, 2), 4);  // blocks of 4 and 3
  EXPECT_EQ(images_per_block(8, 1, 2), 1);    // nothing fits two
  EXPECT_EQ(images_per_block(1, 100, 2), 1);
  EXPECT_EQ(images_per_block(8, 100, 0), 8);  // serial: one block
  using pybench::kernels::stacking_saves;
  EXPECT_TRUE(stacking_saves(32, 4 * 32 * 9 / 10, 4));
  EXPECT_FALSE(stacking_saves(32, 4 * 32 * 9 / 10 + 1, 4));
}

TEST(Conv2dSizes, OutSizeIsPyTorchs) {
  EXPECT_EQ(conv2d_out_size(56, 3, 1, 1, 1, 1), 56);
  EXPECT_EQ(conv2d_out_size(224, 7, 2, 3, 3, 1), 112);
  EXPECT_EQ(conv2d_out_size(227, 11, 4, 0, 0, 1), 55);
  EXPECT_EQ(conv2d_out_size(8, 2, 1, 0, 1, 1), 8);  // "same", even kernel
  EXPECT_EQ(conv2d_out_size(12, 3, 1, 2, 2, 2), 12);
  EXPECT_EQ(conv2d_out_size(8, 3, 2, 0, 0, 1), 3);  // the last input row is never read
  EXPECT_EQ(conv2d_out_size(5, 5, 3, 0, 0, 1), 1);
}

TEST(Conv2dFlops, IsTheDirectCount) {
  Conv2dParams p;
  p.batch = 1;
  p.in_channels = 64;
  p.out_channels = 64;
  p.out_h = p.out_w = 56;
  p.kernel_h = p.kernel_w = 3;
  EXPECT_EQ(conv2d_flops(p), 2.0 * 64 * 56 * 56 * 64 * 9);
  p.batch = 8;
  p.groups = 64;  // depthwise: one input channel per output channel
  EXPECT_EQ(conv2d_flops(p), 2.0 * 8 * 64 * 56 * 56 * 9);
}

}  // namespace
