// Each SIMD variant of the packed linear layer against linear_ref (double accumulation):
// batches around the tile rows (AVX-512 8, AVX2 2), out_features around the 48-column
// panel, in_features 1 / 5 / 300, every activation, bias on and off, serially and with two
// injected parallel-fors, and K cut into several chunks by a small L1d (the test hook of
// cpu_caches.h). The weight is packed here from an (N, K) matrix as linear.h describes,
// and linear_ref itself is checked against a product of the unpacked matrix, so a wrong
// pack or a wrong reading of it shows.
//
// Memory around the input, the packed weight, the bias and the output is NaN (a stray read
// turns an output NaN, a stray write breaks a guard); the output starts NaN, so an element
// left unwritten fails too. Accuracy: element-wise |out - ref| <= 1e-5 * scale, scale = the
// reference on the absolute operands times the activation's largest slope (1.5), plus
// |ref| for hardswish and sigmoid (computed on the rounded sum).
#include "linear/linear.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "common/cpu_caches.h"
#include "common/cpu_isa.h"
#include "depthwise_test_util.h"

namespace pybench::kernels {
// gtest prints an Activation test parameter through PrintTo (found by ADL); without it, bytes.
inline void PrintTo(Activation a, std::ostream* os) { *os << static_cast<int>(a); }
}  // namespace pybench::kernels

namespace {

using pybench::kernels::Activation;
using pybench::kernels::kLinearPanel;
using pybench::kernels::LinearParams;
using pybench::kernels::ParallelFor;
using pybench::kernels::cpu::CpuIsa;
namespace kcpu = pybench::kernels::cpu;
namespace kern = pybench::kernels;
namespace pt = pybench::testing;

using LinearFn = void (*)(const LinearParams&);

LinearFn variant_for(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::avx512: return kcpu::linear_avx512;
    case CpuIsa::avx2: return kcpu::linear_avx2;
    case CpuIsa::scalar: return kcpu::linear_ref;
  }
  return nullptr;
}

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::none: return "none";
    case Activation::relu: return "relu";
    case Activation::relu6: return "relu6";
    case Activation::hardswish: return "hardswish";
    case Activation::sigmoid: return "sigmoid";
  }
  return "?";
}

struct Shape {
  int64_t m, n, k;
  std::string name() const {
    return "M" + std::to_string(m) + "_N" + std::to_string(n) + "_K" + std::to_string(k);
  }
};

// (Np, K, 48) with element [p][k][j] = w[(p * 48 + j) * K + k], zero past row N.
pt::GuardedBuffer pack(const pt::GuardedBuffer& w, int64_t n, int64_t k) {
  const int64_t panels = (n + kLinearPanel - 1) / kLinearPanel;
  pt::GuardedBuffer out(static_cast<size_t>(panels * k * kLinearPanel));
  for (int64_t p = 0; p < panels; ++p) {
    for (int64_t kk = 0; kk < k; ++kk) {
      for (int64_t j = 0; j < kLinearPanel; ++j) {
        const int64_t row = p * kLinearPanel + j;
        out.data()[(p * k + kk) * kLinearPanel + j] = row < n ? w.data()[row * k + kk] : 0.0f;
      }
    }
  }
  return out;
}

// Operands of one case: x (M, K), the (N, K) weight with its pack, the bias; randn, with
// the weight scaled by 3 / sqrt(K) so that the sums spread over every activation's bends
// (relu6's 6, hardswish's -3 and 3) instead of saturating them.
struct Operands {
  pt::GuardedBuffer x, w, packed, bias;
  Operands(const Shape& s, uint64_t seed)
      : x(pt::GuardedBuffer(static_cast<size_t>(s.m * s.k)).filled(seed)),
        w(pt::GuardedBuffer(static_cast<size_t>(s.n * s.k)).filled(seed + 1)),
        packed(1),
        bias(pt::GuardedBuffer(static_cast<size_t>(s.n)).filled(seed + 2)) {
    const float gain = 3.0f / std::sqrt(static_cast<float>(s.k));
    for (size_t i = 0; i < w.size; ++i) w.data()[i] *= gain;
    packed = pack(w, s.n, s.k);
  }
  Operands abs() const {
    Operands a = *this;
    a.x = x.abs();
    a.w = w.abs();
    a.packed = packed.abs();
    a.bias = bias.abs();
    return a;
  }
};

pt::GuardedBuffer run(LinearFn fn, const Shape& s, const Operands& o, Activation act,
                      bool with_bias, const ParallelFor& pf = {}, int64_t threads = 1) {
  LinearParams p;
  p.batch = s.m;
  p.in_features = s.k;
  p.out_features = s.n;
  p.input = o.x.data();
  p.weight = o.packed.data();
  p.bias = with_bias ? o.bias.data() : nullptr;
  p.activation = act;
  p.exec = {pf, threads};
  pt::GuardedBuffer out(static_cast<size_t>(s.m * s.n));
  p.output = out.data();
  fn(p);
  EXPECT_TRUE(out.guards_intact()) << "the kernel wrote outside the output";
  return out;
}

double slope_of(Activation a) { return a == Activation::hardswish ? 1.5 : 1.0; }

// |got - ref| <= tol * scale element-wise, scale as the file comment says.
void expect_close(const pt::GuardedBuffer& got, const pt::GuardedBuffer& ref,
                  const pt::GuardedBuffer& abs_sum, Activation act, double tol) {
  const bool computed = act == Activation::hardswish || act == Activation::sigmoid;
  int reported = 0;
  for (size_t i = 0; i < got.size; ++i) {
    const double g = got.data()[i], r = ref.data()[i];
    const double scale = slope_of(act) * abs_sum.data()[i] + (computed ? std::fabs(r) : 0.0);
    if (!(std::fabs(g - r) <= tol * scale + 1e-30) && reported++ < 5) {
      ADD_FAILURE() << "element " << i << ": " << g << " vs ref " << r
                    << " (scale " << scale << ")";
    }
  }
}

const int64_t kMs[] = {1, 2, 3, 8, 9, 19};
const int64_t kNs[] = {1, 47, 49, 130};
const int64_t kKs[] = {1, 5, 300};
const Activation kActivations[] = {Activation::none, Activation::relu, Activation::relu6,
                                   Activation::hardswish, Activation::sigmoid};

std::vector<Shape> shapes() {
  std::vector<Shape> out;
  for (int64_t m : kMs) {
    for (int64_t n : kNs) {
      for (int64_t k : kKs) out.push_back({m, n, k});
    }
  }
  return out;
}

// Restores the process's cache description on scope exit.
struct CacheOverride {
  explicit CacheOverride(const std::string& spec) { kcpu::set_cpu_caches_for_testing(spec); }
  ~CacheOverride() { kcpu::set_cpu_caches_for_testing(""); }
  CacheOverride(const CacheOverride&) = delete;
  CacheOverride& operator=(const CacheOverride&) = delete;
};

class LinearIsaTest : public ::testing::TestWithParam<std::tuple<CpuIsa, Activation>> {};

TEST_P(LinearIsaTest, MatchesRef) {
  const auto [isa, act] = GetParam();
  if (!kcpu::cpu_supports(isa)) GTEST_SKIP() << "this CPU lacks " << kcpu::cpu_isa_name(isa);
  uint64_t seed = 1000 * static_cast<uint64_t>(act);
  for (const Shape& s : shapes()) {
    for (bool with_bias : {true, false}) {
      SCOPED_TRACE(s.name() + (with_bias ? "" : "_nobias"));
      const Operands o(s, seed += 3);
      const pt::GuardedBuffer ref = run(kcpu::linear_ref, s, o, act, with_bias);
      const pt::GuardedBuffer abs_sum =
          run(kcpu::linear_ref, s, o.abs(), Activation::none, with_bias);
      const pt::GuardedBuffer serial = run(variant_for(isa), s, o, act, with_bias);
      expect_close(serial, ref, abs_sum, act, 1e-5);
      // Each output is one chain of FMAs in k order, whoever computes its panel.
      const pt::GuardedBuffer uneven =
          run(variant_for(isa), s, o, act, with_bias, pt::reverse_uneven_chunks, 3);
      const pt::GuardedBuffer threaded =
          run(variant_for(isa), s, o, act, with_bias, pt::std_thread_for(3), 3);
      EXPECT_EQ(std::memcmp(uneven.data(), serial.data(), serial.size * 4), 0)
          << "uneven chunks changed the result";
      EXPECT_EQ(std::memcmp(threaded.data(), serial.data(), serial.size * 4), 0)
          << "threads changed the result";
      EXPECT_TRUE(o.x.guards_intact() && o.packed.guards_intact() && o.bias.guards_intact());
    }
  }
}

// K cut into chunks by the L1d (linear_k_chunk: l1d / 384 floats, at least 16): 6 KiB
// gives 16 (300 = 18 x 16 + 12), 32 KiB gives 85 (300 = 3 x 85 + 45, 1000 = 11 x 85 + 65).
// Carrying the partial sums through the scratch between chunks stores and reloads floats,
// so the result is the unchunked one bit for bit; and it still matches the reference.
TEST_P(LinearIsaTest, KChunksMatchUnchunked) {
  const auto [isa, act] = GetParam();
  if (!kcpu::cpu_supports(isa)) GTEST_SKIP() << "this CPU lacks " << kcpu::cpu_isa_name(isa);
  const Shape cases[] = {{1, 49, 300}, {9, 130, 300}, {19, 47, 1000}, {3, 1, 200}};
  uint64_t seed = 7000 + 100 * static_cast<uint64_t>(act);
  for (const Shape& s : cases) {
    SCOPED_TRACE(s.name());
    const Operands o(s, seed += 3);
    const pt::GuardedBuffer ref = run(kcpu::linear_ref, s, o, act, true);
    const pt::GuardedBuffer abs_sum =
        run(kcpu::linear_ref, s, o.abs(), Activation::none, true);
    pt::GuardedBuffer whole(1);
    {
      CacheOverride big("l1d=64M");  // one chunk
      ASSERT_GE(kern::linear_k_chunk(kcpu::cpu_caches(), s.k), s.k);
      whole = run(variant_for(isa), s, o, act, true);
    }
    for (const char* spec : {"l1d=6K", "l1d=32K"}) {
      SCOPED_TRACE(spec);
      CacheOverride small(spec);
      const int64_t kc = kern::linear_k_chunk(kcpu::cpu_caches(), s.k);
      ASSERT_EQ(kc, std::string(spec) == "l1d=6K" ? 16 : 85);
      const pt::GuardedBuffer chunked =
          run(variant_for(isa), s, o, act, true, pt::std_thread_for(2), 2);
      expect_close(chunked, ref, abs_sum, act, 1e-5);
      EXPECT_EQ(std::memcmp(chunked.data(), whole.data(), whole.size * 4), 0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Variants, LinearIsaTest,
    ::testing::Combine(::testing::Values(CpuIsa::avx512, CpuIsa::avx2),
                       ::testing::ValuesIn(kActivations)),
    [](const auto& info) {
      return std::string(kcpu::cpu_isa_name(std::get<0>(info.param))) + "_" +
             activation_name(std::get<1>(info.param));
    });

// linear_ref against y = act(x W^T + b) on the UNPACKED (N, K) weight, in double: checks
// the pack of this file and the reference's reading of it together, so the variants'
// oracle is not only self-consistent.
TEST(LinearRef, MatchesUnpackedProduct) {
  uint64_t seed = 500;
  for (Activation act : kActivations) {
    for (const Shape& s : shapes()) {
      SCOPED_TRACE(s.name() + "_" + activation_name(act));
      const Operands o(s, seed += 3);
      const pt::GuardedBuffer ref = run(kcpu::linear_ref, s, o, act, true);
      for (int64_t m = 0; m < s.m; ++m) {
        for (int64_t n = 0; n < s.n; ++n) {
          double acc = o.bias.data()[n], mag = std::fabs(o.bias.data()[n]);
          for (int64_t k = 0; k < s.k; ++k) {
            const double term =
                static_cast<double>(o.x.data()[m * s.k + k]) * o.w.data()[n * s.k + k];
            acc += term;
            mag += std::fabs(term);
          }
          const double want = kern::activate_ref(acc, act);
          const double got = ref.data()[m * s.n + n];
          // The reference rounds once, to float, after the activation.
          ASSERT_LE(std::fabs(got - want), 1e-6 * (1.5 * mag + std::fabs(want)) + 1e-30)
              << "row " << m << " column " << n << ": " << got << " vs " << want;
        }
      }
    }
  }
}

// NaN in the input stays NaN through relu (PyTorch's rule: max(x, 0) keeps NaN), in its
// row only; an infinity makes its row's outputs +-inf before the activation.
TEST(LinearNaN, PropagatesThroughRelu) {
  for (CpuIsa isa : {CpuIsa::avx512, CpuIsa::avx2, CpuIsa::scalar}) {
    if (!kcpu::cpu_supports(isa)) continue;
    SCOPED_TRACE(kcpu::cpu_isa_name(isa));
    const Shape s{9, 50, 7};
    Operands o(s, 42);
    o.x.data()[2 * s.k + 3] = pt::kNaN;  // row 2
    o.x.data()[5 * s.k + 0] = INFINITY;  // row 5
    const pt::GuardedBuffer out = run(variant_for(isa), s, o, Activation::relu, true);
    for (int64_t m = 0; m < s.m; ++m) {
      for (int64_t n = 0; n < s.n; ++n) {
        const float v = out.data()[m * s.n + n];
        if (m == 2) {
          EXPECT_TRUE(std::isnan(v)) << "row 2 column " << n;
        } else if (m == 5) {
          const float w = o.w.data()[n * s.k + 0];
          EXPECT_EQ(v, w > 0 ? INFINITY : 0.0f) << "row 5 column " << n;
        } else {
          EXPECT_TRUE(std::isfinite(v) && v >= 0.0f) << "row " << m << " column " << n;
        }
      }
    }
  }
}

TEST(LinearDispatch, FollowsTheActiveIsa) {
  pt::ActiveIsaGuard guard;
  const Shape s{11, 100, 33};
  const Operands o(s, 9);
  for (CpuIsa isa : {CpuIsa::avx512, CpuIsa::avx2, CpuIsa::scalar}) {
    if (!kcpu::cpu_supports(isa)) continue;
    kcpu::set_active_cpu_isa(isa);
    const pt::GuardedBuffer via_dispatch = run(kcpu::linear, s, o, Activation::relu6, true);
    const pt::GuardedBuffer direct = run(variant_for(isa), s, o, Activation::relu6, true);
    EXPECT_EQ(std::memcmp(via_dispatch.data(), direct.data(), direct.size * 4), 0)
        << kcpu::cpu_isa_name(isa);
  }
}

TEST(LinearKChunk, HalfTheL1dInPanelRows) {
  kcpu::CpuCaches c;
  c.l1d = 48 * 1024;
  EXPECT_EQ(kern::linear_k_chunk(c, 9216), 48 * 1024 / 2 / (4 * kLinearPanel));
  EXPECT_EQ(kern::linear_k_chunk(c, 100), 100);  // never past K
  c.l1d = 4 * 1024;
  EXPECT_EQ(kern::linear_k_chunk(c, 9216), 16);  // at least 16
  EXPECT_EQ(kern::linear_k_chunk(c, 5), 16);     // (16 > K: one chunk)
}

}  // namespace
