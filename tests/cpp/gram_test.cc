// Each SIMD Gram variant against gram_ref (double accumulation, the oracle), on shapes
// that hit every tail: C = 1, 3, 17, 129 (not multiples of any tile), L odd, below one
// vector, and 0; batches of 1-3; strided views; scale != 1.
//
// Memory the kernel must not read (row and batch padding, a guard after the last row) and
// output it must overwrite is filled with NaN, so a stray read or a missed store turns into
// a NaN that fails the error check. Guards around the output catch stray writes.
#include "gram/gram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "common/cpu_caches.h"
#include "common/cpu_isa.h"
#include "test_util.h"

namespace {

using pybench::kernels::GramParams;
using pybench::kernels::ParallelBody;
using pybench::kernels::ParallelFor;
using pybench::kernels::cpu::CpuIsa;
using pybench::kernels::cpu::cpu_isa_name;
using pybench::kernels::cpu::cpu_supports;
namespace kcpu = pybench::kernels::cpu;
namespace pt = pybench::testing;

constexpr double kTolerance = 1e-5;  // relative, float32 accumulation vs double
constexpr int64_t kGuard = 32;       // NaN floats before and after buffers

using GramFn = void (*)(const GramParams&);

GramFn variant_for(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::avx512: return kcpu::gram_avx512;
    case CpuIsa::avx2: return kcpu::gram_avx2;
    case CpuIsa::scalar: return kcpu::gram_ref;
  }
  return nullptr;
}

struct GramCase {
  int64_t batch, channels, length;
  int64_t row_pad = 0;    // row_stride = length + row_pad
  int64_t batch_pad = 0;  // batch_stride = channels * row_stride + batch_pad
  float scale = 1.0f;
  uint64_t seed = 1;

  int64_t row_stride() const { return length + row_pad; }
  int64_t batch_stride() const { return channels * row_stride() + batch_pad; }
};

// gtest prints parameters through PrintTo (found by ADL); without these it dumps bytes.
void PrintTo(const GramCase& c, std::ostream* os) {
  *os << "{batch " << c.batch << ", C " << c.channels << ", L " << c.length << ", row_stride "
      << c.row_stride() << ", batch_stride " << c.batch_stride() << ", scale " << c.scale
      << ", seed " << c.seed << "}";
}

std::string case_name(const GramCase& c) {
  std::string s = "b" + std::to_string(c.batch) + "_c" + std::to_string(c.channels) + "_l" +
                  std::to_string(c.length);
  if (c.row_pad || c.batch_pad) {
    s += "_rs" + std::to_string(c.row_stride()) + "_bs" + std::to_string(c.batch_stride());
  }
  if (c.scale != 1.0f) s += "_scaled";
  return s + "_seed" + std::to_string(c.seed);
}

// Features in a NaN-poisoned buffer: only [b][c][0, length) holds data.
struct Features {
  std::vector<float> storage;
  const float* data() const { return storage.data() + kGuard; }

  explicit Features(const GramCase& c)
      : storage(static_cast<size_t>(c.batch * c.batch_stride() + 2 * kGuard), pt::kNaN) {
    std::mt19937_64 seeds(c.seed);
    for (int64_t b = 0; b < c.batch; ++b) {
      for (int64_t i = 0; i < c.channels; ++i) {
        float* row = storage.data() + kGuard + b * c.batch_stride() + i * c.row_stride();
        pt::fill_normal(row, static_cast<size_t>(c.length), seeds());
      }
    }
  }
};

// The Gram output between NaN guards, itself NaN until the kernel writes it.
struct Output {
  std::vector<float> storage;
  size_t size;
  float* data() { return storage.data() + kGuard; }
  const float* data() const { return storage.data() + kGuard; }

  explicit Output(const GramCase& c)
      : storage(static_cast<size_t>(c.batch * c.channels * c.channels + 2 * kGuard), pt::kNaN),
        size(static_cast<size_t>(c.batch * c.channels * c.channels)) {}

  bool guards_intact() const {
    for (int64_t k = 0; k < kGuard; ++k) {
      if (!std::isnan(storage[k]) || !std::isnan(storage[kGuard + size + k])) return false;
    }
    return true;
  }
};

GramParams make_params(const GramCase& c, const Features& f, Output& out) {
  GramParams p;
  p.features = f.data();
  p.gram = out.data();
  p.batch = c.batch;
  p.channels = c.channels;
  p.length = c.length;
  p.batch_stride = c.batch_stride();
  p.row_stride = c.row_stride();
  p.scale = c.scale;
  return p;
}

// Runs `fn` on case `c` and checks it against gram_ref.
void check_against_ref(GramFn fn, const GramCase& c, const ParallelFor& parallel_for = {}) {
  const Features features(c);
  Output expected(c), actual(c);
  GramParams ref_params = make_params(c, features, expected);
  kcpu::gram_ref(ref_params);
  GramParams params = make_params(c, features, actual);
  params.exec.parallel_for = parallel_for;
  // Three threads: batches of 1 and 2 split each image's column groups, 3 a thread each.
  params.exec.max_threads = parallel_for ? 3 : 1;
  fn(params);

  ASSERT_TRUE(actual.guards_intact()) << "the kernel wrote outside the Gram matrix";
  const int64_t C = c.channels;
  for (int64_t b = 0; b < c.batch; ++b) {
    SCOPED_TRACE("batch item " + std::to_string(b));
    const float* g = actual.data() + b * C * C;
    const float* r = expected.data() + b * C * C;

    if (c.length == 0) {
      for (int64_t k = 0; k < C * C; ++k) {
        ASSERT_EQ(r[k], 0.0f) << "gram_ref, entry " << k;
        ASSERT_EQ(g[k], 0.0f) << "L = 0 must give zeros; entry " << k;
      }
      continue;
    }

    // Norm-wise: the whole matrix.
    const double err = pt::relative_frobenius_error(g, r, static_cast<size_t>(C * C));
    EXPECT_LE(err, kTolerance) << "relative Frobenius error (NaN: unwritten entry or a read "
                                  "of padding)";

    // Entry-wise, scaled by the Cauchy-Schwarz bound |G_ij| <= sqrt(G_ii G_jj), so a
    // single wrong off-diagonal entry is not diluted by the large diagonal.
    int reported = 0;
    for (int64_t i = 0; i < C; ++i) {
      for (int64_t j = 0; j < C; ++j) {
        const double bound = std::sqrt(std::fabs(static_cast<double>(r[i * C + i])) *
                                       std::fabs(static_cast<double>(r[j * C + j])));
        const double diff =
            std::fabs(static_cast<double>(g[i * C + j]) - static_cast<double>(r[i * C + j]));
        if (!(diff <= kTolerance * bound) && reported++ < 5) {
          ADD_FAILURE() << "G[" << i << "][" << j << "] = " << g[i * C + j] << ", ref "
                        << r[i * C + j] << " (|diff| " << diff << " > " << kTolerance
                        << " * sqrt(|G_ii G_jj|) = " << kTolerance * bound << ")";
        }
      }
    }

    // Exactly symmetric: the lower triangle is a copy, bit for bit.
    for (int64_t i = 0; i < C; ++i) {
      for (int64_t j = i + 1; j < C; ++j) {
        ASSERT_EQ(std::memcmp(&g[i * C + j], &g[j * C + i], sizeof(float)), 0)
            << "G[" << i << "][" << j << "] = " << g[i * C + j] << " but G[" << j << "]["
            << i << "] = " << g[j * C + i];
      }
    }
  }
}

std::vector<GramCase> gram_cases() {
  std::vector<GramCase> cases = {
      // Tails in C and L, contiguous.
      {1, 1, 1},
      {1, 1, 16},
      {1, 3, 17},
      {2, 17, 33},
      {3, 3, 15},
      {1, 5, 1},
      {2, 16, 16},
      {1, 64, 256},
      {1, 129, 1031},
      {2, 31, 513},
      // Large enough to thread (small products run serially): split along L, and (L too
      // short to split) by column groups.
      {1, 130, 3001, 3, 5},
      {2, 70, 2500},
      {1, 200, 150, 0, 0, 0.5f},
      // L = 0: zeros.
      {1, 1, 0},
      {3, 17, 0},
      {1, 129, 0},
      // Strided views: row_stride > length, batch_stride > C * row_stride.
      {1, 3, 17, 1, 0},
      {2, 17, 33, 3, 7},
      {3, 129, 257, 16, 5},
      {2, 1, 1, 15, 64},
      {2, 8, 0, 4, 9},
      // scale != 1.
      {1, 17, 100, 0, 0, 1.0f / (17 * 100)},
      {2, 129, 77, 5, 3, 0.37f},
      {3, 4, 19, 0, 0, -0.5f},
  };
  // Seeded random shapes.
  std::mt19937_64 rng(20240611);
  auto uniform = [&rng](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  for (int k = 0; k < 12; ++k) {
    GramCase c{uniform(1, 3), uniform(1, 140), uniform(0, 5) == 0 ? uniform(0, 15)
                                                                  : uniform(16, 2100)};
    if (uniform(0, 1)) {
      c.row_pad = uniform(1, 20);
      c.batch_pad = uniform(0, 40);
    }
    switch (uniform(0, 2)) {
      case 0: break;
      case 1: c.scale = 1.0f / static_cast<float>(std::max<int64_t>(1, c.channels * c.length)); break;
      default: c.scale = std::uniform_real_distribution<float>(0.25f, 2.0f)(rng);
    }
    c.seed = 100 + k;
    cases.push_back(c);
  }
  for (size_t k = 0; k < cases.size(); ++k) {
    if (cases[k].seed == 1) cases[k].seed = k + 1;
  }
  return cases;
}

class GramVariantTest : public ::testing::TestWithParam<std::tuple<CpuIsa, GramCase>> {
 protected:
  void SetUp() override {
    const CpuIsa isa = std::get<0>(GetParam());
    if (!cpu_supports(isa)) GTEST_SKIP() << "this CPU lacks " << cpu_isa_name(isa);
  }
};

TEST_P(GramVariantTest, MatchesRef) {
  const auto& [isa, c] = GetParam();
  check_against_ref(variant_for(isa), c);
}

// An injected parallel_for that hands out uneven chunks (respecting `grain`) in reverse
// order: the result must not depend on how the work is split.
TEST_P(GramVariantTest, MatchesRefWithChunkedParallelFor) {
  const auto& [isa, c] = GetParam();
  check_against_ref(variant_for(isa), c, pt::reverse_uneven_chunks);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, GramVariantTest,
    ::testing::Combine(::testing::Values(CpuIsa::avx2, CpuIsa::avx512),
                       ::testing::ValuesIn(gram_cases())),
    [](const ::testing::TestParamInfo<GramVariantTest::ParamType>& info) {
      return std::string(cpu_isa_name(std::get<0>(info.param))) + "_" +
             case_name(std::get<1>(info.param));
    });

// The dispatcher runs exactly the variant set_active_cpu_isa() selected: bit-identical
// output to calling that variant directly (the variants round differently, so a wrong
// dispatch shows up as differing bits on a shape with long sums).
TEST(GramDispatch, FollowsActiveCpuIsa) {
  pt::ActiveIsaGuard guard;
  const GramCase c{2, 37, 1001, 3, 5, 0.5f, 7};
  const Features features(c);
  for (CpuIsa isa : {CpuIsa::scalar, CpuIsa::avx2, CpuIsa::avx512}) {
    if (!cpu_supports(isa)) continue;
    SCOPED_TRACE(cpu_isa_name(isa));
    kcpu::set_active_cpu_isa(isa);
    ASSERT_EQ(kcpu::active_cpu_isa(), isa);
    Output direct(c), dispatched(c);
    variant_for(isa)(make_params(c, features, direct));
    kcpu::gram(make_params(c, features, dispatched));
    EXPECT_EQ(std::memcmp(direct.data(), dispatched.data(), direct.size * sizeof(float)), 0)
        << "gram() did not run gram_" << (isa == CpuIsa::scalar ? "ref" : cpu_isa_name(isa));
  }
}

// The backward, dF = scale (dG + dG^T) F, of each SIMD variant against gram_backward_ref
// (double sums): tails in C (rows of a register tile) and L (vectors, panels, slices),
// padded strides, a non-symmetric dG, under a 512 KiB and a 2 MiB L2 (different panels),
// threads that split panels or row tiles. Elementwise bound: 1e-5 of scale sum |S||F|.
TEST(GramBackward, VariantsMatchRef) {
  pt::ActiveIsaGuard guard;
  const GramCase cases[] = {{1, 1, 1},           {1, 7, 5, 0, 0, 0.5f, 2},
                            {3, 17, 1001, 3, 5}, {2, 64, 196, 0, 0, 1.0f / 12544, 3},
                            {1, 130, 49, 1},     {1, 33, 3000, 0, 0, 1.0f, 4}};
  for (const char* caches : {"l1d=32K,l2=512K", "l1d=48K,l2=2M"}) {
    kcpu::set_cpu_caches_for_testing(caches);
    for (const GramCase& c : cases) {
      SCOPED_TRACE(case_name(c) + std::string(" ") + caches);
      const Features features(c);
      std::vector<float> grad(c.batch * c.channels * c.channels);
      pt::fill_normal(grad.data(), grad.size(), c.seed + 100);
      pybench::kernels::GramBackwardParams p;
      p.grad = grad.data();
      p.features = features.data();
      p.batch = c.batch;
      p.channels = c.channels;
      p.length = c.length;
      p.batch_stride = c.batch_stride();
      p.row_stride = c.row_stride();
      p.scale = c.scale;
      const size_t n = c.batch * c.channels * c.length;
      std::vector<float> ref(n), bound(n);
      p.grad_features = ref.data();
      kcpu::gram_backward_ref(p);
      // The bound: the reference on |dG| and |F|.
      std::vector<float> abs_grad(grad), abs_f(features.storage);
      for (float& v : abs_grad) v = std::fabs(v);
      for (float& v : abs_f) v = std::fabs(v);  // the NaN padding stays NaN
      pybench::kernels::GramBackwardParams pa = p;
      pa.grad = abs_grad.data();
      pa.features = abs_f.data() + kGuard;
      pa.grad_features = bound.data();
      kcpu::gram_backward_ref(pa);
      for (CpuIsa isa : {CpuIsa::avx2, CpuIsa::avx512}) {
        if (!cpu_supports(isa)) continue;
        SCOPED_TRACE(cpu_isa_name(isa));
        for (int threads : {1, 2}) {
          std::vector<float> out(n, pt::kNaN);
          p.grad_features = out.data();
          p.exec.parallel_for = threads == 2 ? pt::std_thread_for(2) : pt::reverse_uneven_chunks;
          p.exec.max_threads = threads;
          (isa == CpuIsa::avx2 ? kcpu::gram_backward_avx2 : kcpu::gram_backward_avx512)(p);
          for (size_t i = 0; i < n; ++i) {
            ASSERT_LE(std::fabs(out[i] - ref[i]), 1e-5 * bound[i] + 1e-30)
                << "element " << i << ": " << out[i] << " vs " << ref[i];
          }
        }
      }
    }
  }
  kcpu::set_cpu_caches_for_testing("");
}

TEST(GramFlops, IsTheSsyrkCount) {
  EXPECT_EQ(pybench::kernels::gram_flops(1, 64, 160000), 64.0 * 65.0 * 160000.0);
  EXPECT_EQ(pybench::kernels::gram_flops(4, 3, 7), 4.0 * 3.0 * 4.0 * 7.0);
  EXPECT_EQ(pybench::kernels::gram_flops(2, 0, 7), 0.0);
}

}  // namespace
