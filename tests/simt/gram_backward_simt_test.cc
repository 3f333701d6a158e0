// The CUDA Gram backward kernel (csrc/kernels/gram/gram_backward_cuda.cuh) under the SIMT
// emulator: random shapes with tails (C not a multiple of the 64-row tile or the 16-row
// chunk, L not a multiple of the 64-column tile), C = 1, L = 1, padded row and batch
// strides, misaligned bases, scale 1 and 1 / (C * L), every scheduling seed, against a
// float64 reference of scale * (dG + dG^T) F.
//
// dG is random, not symmetric, so a kernel that used dG or dG^T alone (or 2 dG) fails.
// The launch sequence is launch_gram_backward's (gram_backward_cuda.cu): the same
// gram_backward_launch_geometry and make_gram_backward_kernel_args, one launch.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "simt/simt.h"
#include "simt_test_util.h"

#include "gram/gram_backward_cuda.cuh"

namespace pybench::kernels::cuda {
namespace {

namespace simt = pybench::simt;

struct GramBackwardShape {
  int64_t batch, channels, length;
  int64_t row_pad = 0;      // row_stride = length + row_pad
  int64_t batch_pad = 0;    // batch_stride = channels * row_stride + batch_pad
  int64_t base_offset = 0;  // floats between the allocation and features
  bool normalize = false;   // scale = 1 / (C * L), else 1
};

std::string describe(const GramBackwardShape& s) {
  return "batch " + std::to_string(s.batch) + " C " + std::to_string(s.channels) + " L " +
         std::to_string(s.length) + " row_pad " + std::to_string(s.row_pad) + " batch_pad " +
         std::to_string(s.batch_pad) + " offset " + std::to_string(s.base_offset) +
         (s.normalize ? " normalized" : "");
}

// launch_gram_backward, with the emulator instead of the CUDA runtime.
void emulate_launch_gram_backward(const GramBackwardParams& p, uint64_t seed) {
  const GramBackwardLaunchGeometry g = gram_backward_launch_geometry(p);
  if (g.empty()) return;
  const GramBackwardKernelArgs args = make_gram_backward_kernel_args(p, g);
  simt::launch(simt::test::config_for(seed), dim3(g.grid_x, g.grid_y, g.grid_z),
               dim3(g.threads), static_cast<size_t>(g.dynamic_smem_bytes),
               gram_backward_kernel, args);
}

// Host inputs of one shape: dG dense (batch, C, C), features with the shape's strides.
struct GramBackwardInputs {
  int64_t row_stride = 0, batch_stride = 0;
  std::vector<float> grad, features;
};

GramBackwardInputs make_inputs(const GramBackwardShape& s) {
  GramBackwardInputs in;
  in.row_stride = s.length + s.row_pad;
  in.batch_stride = s.channels * in.row_stride + s.batch_pad;
  const int64_t feature_floats = s.base_offset + (s.batch - 1) * in.batch_stride +
                                 (s.channels - 1) * in.row_stride + s.length;
  in.grad = simt::test::random_vector(static_cast<size_t>(s.batch * s.channels * s.channels),
                                      2000 + s.channels * 13 + s.length);
  in.features = simt::test::random_vector(static_cast<size_t>(feature_floats),
                                          3000 + s.channels * 7 + s.length);
  return in;
}

GramBackwardParams make_params(const GramBackwardShape& s, const GramBackwardInputs& in,
                               const float* grad, const float* features, float* out) {
  GramBackwardParams p;
  p.grad = grad;
  p.features = features + s.base_offset;
  p.grad_features = out;
  p.batch = s.batch;
  p.channels = s.channels;
  p.length = s.length;
  p.batch_stride = in.batch_stride;
  p.row_stride = in.row_stride;
  // As make_gram_params: the reciprocal in double, rounded once.
  p.scale = s.normalize ? static_cast<float>(1.0 / (static_cast<double>(s.channels) *
                                                    static_cast<double>(s.length)))
                        : 1.0f;
  return p;
}

// Runs one shape under one seed and checks every element of dF against float64.
void check_gram_backward(const GramBackwardShape& s, uint64_t seed) {
  SCOPED_TRACE(describe(s) + ", seed " + std::to_string(seed));
  const GramBackwardInputs in = make_inputs(s);
  const int64_t C = s.channels, L = s.length;
  simt::DeviceArray<float> grad(in.grad), features(in.features);
  simt::DeviceArray<float> out(static_cast<size_t>(s.batch * C * L));  // starts NaN
  const GramBackwardParams p = make_params(s, in, grad.data(), features.data(), out.data());
  emulate_launch_gram_backward(p, seed);

  const float* f = in.features.data() + s.base_offset;
  int bad = 0;
  std::vector<double> sym(static_cast<size_t>(C));
  for (int64_t b = 0; b < s.batch; ++b) {
    const float* dg = in.grad.data() + b * C * C;
    const float* fmap = f + b * in.batch_stride;
    for (int64_t i = 0; i < C; ++i) {
      for (int64_t j = 0; j < C; ++j) {
        sym[j] = static_cast<double>(dg[i * C + j]) + static_cast<double>(dg[j * C + i]);
      }
      for (int64_t l = 0; l < L; ++l) {
        double sum = 0.0, mag = 0.0;
        for (int64_t j = 0; j < C; ++j) {
          const double x = static_cast<double>(fmap[j * in.row_stride + l]);
          sum += sym[j] * x;
          mag += std::fabs(sym[j] * x);
        }
        const double scale = static_cast<double>(p.scale);
        const double want = scale * sum;
        // 1e-5 of the sum of absolute products: C float roundings of the sum and one of
        // each S element stay below it for the C <= 150 here.
        const double tol = 1e-5 * scale * mag + 1e-30;
        const float got = out[(b * C + i) * L + l];
        if (!(std::fabs(got - want) <= tol)) {
          if (bad++ < 5) {
            ADD_FAILURE() << "dF[" << b << "][" << i << "][" << l << "] = " << got << ", want "
                          << want << " +- " << tol;
          }
        }
      }
    }
  }
  EXPECT_EQ(bad, 0) << "wrong elements";
}

// Edges first, then random shapes with tails; each runs under every scheduling seed.
std::vector<GramBackwardShape> shapes() {
  std::vector<GramBackwardShape> v = {
      {1, 64, 64},                       // one full tile, whole chunks
      {1, 1, 1},                         // smallest
      {3, 1, 49, 0, 0, 0, true},         // C = 1: one chunk row, 7x7 maps
      {1, 3, 1, 2, 0, 1},                // L = 1, padded and misaligned
      {3, 65, 49, 3, 5, 1, true},        // tile + 1 rows, 49 columns, padded, misaligned
      {2, 130, 130, 1, 2, 0},            // 3 x 3 tiles, tails in both
      {1, 17, 200, 0, 3, 0, true},       // chunk + 1, 4 column tiles
  };
  std::mt19937 rng(4242);
  std::uniform_int_distribution<int> batch(1, 3), channels(1, 150), length(1, 260), pad(0, 5);
  std::uniform_int_distribution<int> coin(0, 1);
  while (v.size() < 17) {
    GramBackwardShape s{batch(rng), channels(rng), length(rng)};
    if (coin(rng)) s.row_pad = pad(rng);
    if (coin(rng)) s.batch_pad = pad(rng);
    s.base_offset = coin(rng);
    s.normalize = coin(rng) != 0;
    v.push_back(s);
  }
  return v;
}

TEST(GramBackwardSimt, MatchesFloat64OnRandomShapesUnderEverySeed) {
  int runs = 0, normalized = 0;
  for (const GramBackwardShape& s : shapes()) {
    for (uint64_t seed : simt::test::seeds()) {
      check_gram_backward(s, seed);
      ++runs;
      normalized += s.normalize;
    }
  }
  EXPECT_GT(normalized, 0) << "no shape ran with scale 1 / (C * L)";
  EXPECT_LT(normalized, runs) << "no shape ran with scale 1";
  RecordProperty("runs", runs);
}

// The kernel loops over column tiles, row tiles and maps beyond the grid (the geometry
// clamps x to 2^31 - 1 and y, z to 65535). Clamped grids are too big to emulate, so the
// same arguments run on a 1 x 1 x 1 grid: every block-stride loop then takes several turns
// and must give bit for bit the full grid's result (one summation order per element).
TEST(GramBackwardSimt, BlockStrideLoopsCoverAGridSmallerThanTheWork) {
  const GramBackwardShape s{3, 70, 150, 2, 3, 1, true};
  const GramBackwardInputs in = make_inputs(s);
  const size_t n = static_cast<size_t>(s.batch * s.channels * s.length);
  simt::DeviceArray<float> grad(in.grad), features(in.features), full(n), small(n);
  const GramBackwardParams p_full = make_params(s, in, grad.data(), features.data(), full.data());
  emulate_launch_gram_backward(p_full, 1);

  const GramBackwardParams p_small =
      make_params(s, in, grad.data(), features.data(), small.data());
  const GramBackwardLaunchGeometry g = gram_backward_launch_geometry(p_small);
  ASSERT_GT(g.grid_x * g.grid_y * g.grid_z, 1);
  simt::launch(simt::test::config_for(2), dim3(1, 1, 1), dim3(g.threads),
               static_cast<size_t>(g.dynamic_smem_bytes), gram_backward_kernel,
               make_gram_backward_kernel_args(p_small, g));
  const std::vector<float> a = full.to_vector(), b = small.to_vector();
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
  for (float x : b) ASSERT_TRUE(std::isfinite(x));
}

TEST(GramBackwardSimt, GeometryTilesAndClampsTheGrid) {
  GramBackwardParams p;
  p.batch = 2;
  p.channels = 65;
  p.length = 49;
  GramBackwardLaunchGeometry g = gram_backward_launch_geometry(p);
  EXPECT_EQ(g.row_tiles, 2);
  EXPECT_EQ(g.col_tiles, 1);
  EXPECT_EQ(g.grid_x, 1);
  EXPECT_EQ(g.grid_y, 2);
  EXPECT_EQ(g.grid_z, 2);
  EXPECT_EQ(g.threads, kGramBwdThreads);
  EXPECT_FALSE(g.empty());

  // Past the 65535 limit of grid y and z the kernel loops; x takes any tile count here.
  p.batch = 100000;
  p.channels = 65535 * int64_t{kGramBwdTileRows} + 1;
  p.length = 70000 * int64_t{kGramBwdTileCols};
  g = gram_backward_launch_geometry(p);
  EXPECT_EQ(g.row_tiles, 65536);
  EXPECT_EQ(g.grid_y, 65535);
  EXPECT_EQ(g.grid_z, 65535);
  EXPECT_EQ(g.grid_x, 70000);

  for (int zero = 0; zero < 3; ++zero) {
    GramBackwardParams q;
    q.batch = zero == 0 ? 0 : 2;
    q.channels = zero == 1 ? 0 : 5;
    q.length = zero == 2 ? 0 : 5;
    EXPECT_TRUE(gram_backward_launch_geometry(q).empty()) << "zero extent " << zero;
  }
}

}  // namespace
}  // namespace pybench::kernels::cuda
