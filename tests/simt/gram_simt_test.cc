// The CUDA Gram kernels (csrc/kernels/gram/gram_cuda.cuh) under the SIMT emulator: random
// shapes with tails (C not a multiple of the 64 tile, L not a multiple of the 16 chunk),
// padded strides, misaligned bases (scalar loads), both the single-pass and the split-K
// path, every scheduling seed, against a float64 reference.
//
// The launch sequence is launch_gram's (gram_cuda.cu) step for step, with the same
// gram_launch_geometry and make_gram_kernel_args: zero fill and finalize pass when split.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "simt/simt.h"
#include "simt_test_util.h"

#include "gram/gram_cuda.cuh"

namespace pybench::kernels::cuda {
namespace {

namespace simt = pybench::simt;

struct GramShape {
  int64_t batch, channels, length;
  int64_t row_pad = 0;    // row_stride = length + row_pad
  int64_t batch_pad = 0;  // batch_stride = channels * row_stride + batch_pad
  int64_t base_offset = 0;  // floats between the allocation and features (1: misaligned)
  float scale = 1.0f;
  int sm_count = kGramDefaultSmCount;  // drives the split-K decision
};

std::string describe(const GramShape& s) {
  return "batch " + std::to_string(s.batch) + " C " + std::to_string(s.channels) + " L " +
         std::to_string(s.length) + " row_pad " + std::to_string(s.row_pad) + " batch_pad " +
         std::to_string(s.batch_pad) + " offset " + std::to_string(s.base_offset) + " sm " +
         std::to_string(s.sm_count);
}

// launch_gram, with the emulator instead of the CUDA runtime.
void emulate_launch_gram(const GramParams& p, int sm_count, uint64_t seed,
                         GramLaunchGeometry* geometry_out = nullptr) {
  if (p.batch <= 0 || p.channels <= 0) return;
  const GramLaunchGeometry g = gram_launch_geometry(p, sm_count);
  if (geometry_out) *geometry_out = g;
  if (g.empty()) return;
  const GramKernelArgs args = make_gram_kernel_args(p, g);
  if (g.split()) {
    std::memset(p.gram, 0, sizeof(float) * p.batch * p.channels * p.channels);
  }
  const simt::Config config = simt::test::config_for(seed);
  simt::launch(config, dim3(g.grid_x, g.grid_y, g.grid_z), dim3(g.threads),
               static_cast<size_t>(g.dynamic_smem_bytes), gram_kernel, args);
  if (g.split()) {
    simt::launch(config, dim3(g.finalize_grid_x, 1, g.finalize_grid_z),
                 dim3(g.finalize_threads_x, g.finalize_threads_y), 0, gram_finalize_kernel, args);
  }
}

// Which paths of the kernel a run took.
struct GramPaths {
  bool split = false;         // split-K: atomics + gram_finalize_kernel
  bool vector_loads = false;  // float4 global loads
};

// Runs one shape under one seed and checks every entry against float64.
GramPaths check_gram(const GramShape& s, uint64_t seed) {
  SCOPED_TRACE(describe(s) + ", seed " + std::to_string(seed));
  const int64_t row_stride = s.length + s.row_pad;
  const int64_t batch_stride = s.channels * row_stride + s.batch_pad;
  const int64_t feature_floats = s.base_offset + (s.batch - 1) * batch_stride +
                                 (s.channels - 1) * row_stride + s.length;
  std::vector<float> host = simt::test::random_vector(static_cast<size_t>(feature_floats),
                                                      1000 + s.channels * 7 + s.length);
  simt::DeviceArray<float> features(host);
  simt::DeviceArray<float> gram(static_cast<size_t>(s.batch * s.channels * s.channels));

  GramParams p;
  p.features = features.data() + s.base_offset;
  p.gram = gram.data();
  p.batch = s.batch;
  p.channels = s.channels;
  p.length = s.length;
  p.batch_stride = batch_stride;
  p.row_stride = row_stride;
  p.scale = s.scale;
  GramLaunchGeometry g;
  emulate_launch_gram(p, s.sm_count, seed, &g);
  GramPaths paths;
  paths.split = g.split();
  paths.vector_loads = make_gram_kernel_args(p, g).vector_loads != 0;

  const float* f = host.data() + s.base_offset;
  const int64_t C = s.channels, L = s.length;
  int bad = 0;
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t i = 0; i < C; ++i) {
      for (int64_t j = 0; j < C; ++j) {
        const float* fi = f + b * batch_stride + i * row_stride;
        const float* fj = f + b * batch_stride + j * row_stride;
        double dot = 0.0, mag = 0.0;
        for (int64_t l = 0; l < L; ++l) {
          dot += static_cast<double>(fi[l]) * fj[l];
          mag += std::fabs(static_cast<double>(fi[l]) * fj[l]);
        }
        const double want = dot * s.scale;
        // Any float summation order of L products: |error| <= ~L u sum|products|, + the scale.
        const double tol = (L + 8) * std::ldexp(1.0, -24) * mag * std::fabs(s.scale) + 1e-30;
        const float got = gram[(b * C + i) * C + j];
        const float mirror = gram[(b * C + j) * C + i];
        if (!(std::fabs(got - want) <= tol) || std::memcmp(&got, &mirror, sizeof got) != 0) {
          if (bad++ < 5) {
            ADD_FAILURE() << "G[" << b << "][" << i << "][" << j << "] = " << got << " (mirror "
                          << mirror << "), want " << want << " +- " << tol;
          }
        }
      }
    }
  }
  EXPECT_EQ(bad, 0) << "wrong entries";
  return paths;
}

// >= 10 random shapes with tails, plus the edges, each under every scheduling seed.
std::vector<GramShape> shapes() {
  std::vector<GramShape> v = {
      {1, 64, 64},                            // one full tile, whole chunks
      {1, 1, 1},                              // smallest
      {2, 65, 17, 3, 5, 1, 0.25f},            // tile + 1, chunk + 1, padded, misaligned
      {1, 130, 600, 0, 0, 0, 1.0f, 132},      // 3 x 3 tiles, split-K at the default SM count
      {2, 70, 1001, 1, 2, 1, 0.5f, 132},      // split-K with tails everywhere, misaligned
      {3, 20, 0},                             // L = 0: zeros
  };
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> batch(1, 3), channels(1, 140), length(1, 700), pad(0, 5);
  std::uniform_int_distribution<int> coin(0, 1);
  const int sms[] = {1, 8, 132};
  for (int k = 0; v.size() < 15; ++k) {
    GramShape s;
    s.batch = batch(rng);
    s.channels = channels(rng);
    s.length = length(rng);
    if (coin(rng)) {  // rows 16-byte aligned: float4 loads, L tails still there
      s.row_pad = (4 - s.length % 4) % 4 + 4 * coin(rng);
      s.batch_pad = 4 * coin(rng);
    } else {
      if (coin(rng)) s.row_pad = pad(rng);
      if (coin(rng)) s.batch_pad = pad(rng);
      s.base_offset = coin(rng);
    }
    s.scale = coin(rng) ? 1.0f : 1.0f / static_cast<float>(s.channels * s.length);
    s.sm_count = sms[k % 3];
    v.push_back(s);
  }
  return v;
}

TEST(GramSimt, MatchesFloat64OnRandomShapesUnderEverySeed) {
  int runs = 0, split = 0, vector = 0;
  for (const GramShape& s : shapes()) {
    for (uint64_t seed : simt::test::seeds()) {
      const GramPaths paths = check_gram(s, seed);
      ++runs;
      split += paths.split;
      vector += paths.vector_loads;
    }
  }
  EXPECT_GT(split, 0) << "no shape took the split-K path";
  EXPECT_LT(split, runs) << "no shape took the single-pass path";
  EXPECT_GT(vector, 0) << "no shape used float4 loads";
  EXPECT_LT(vector, runs) << "no shape used scalar loads";
  RecordProperty("runs", runs);
  RecordProperty("split_runs", split);
  RecordProperty("vector_load_runs", vector);
}

// The kernels loop over tiles, splits and maps beyond the grid (gram_launch_geometry clamps
// grid x to 2^31 - 1 and y, z to 65535). Clamped grids are too big to emulate, so this runs
// the same arguments on a 1 x 1 x 1 grid: every block-stride loop then takes many turns.
TEST(GramSimt, BlockStrideLoopsCoverAGridSmallerThanTheWork) {
  for (int sm_count : {132, 1}) {
    const int64_t B = 2, C = 70, L = 520;
    std::vector<float> host = simt::test::random_vector(static_cast<size_t>(B * C * L), 77);
    simt::DeviceArray<float> features(host), full(B * C * C), small(B * C * C);
    GramParams p;
    p.features = features.data();
    p.batch = B;
    p.channels = C;
    p.length = L;
    p.batch_stride = C * L;
    p.row_stride = L;
    p.gram = full.data();
    emulate_launch_gram(p, sm_count, 1);

    const GramLaunchGeometry g = gram_launch_geometry(p, sm_count);
    p.gram = small.data();
    const GramKernelArgs args = make_gram_kernel_args(p, g);
    if (g.split()) std::memset(small.data(), 0, sizeof(float) * B * C * C);
    simt::launch(simt::test::config_for(2), dim3(1, 1, 1), dim3(g.threads), 0, gram_kernel, args);
    if (g.split()) {
      simt::launch(simt::test::config_for(2), dim3(1, 1, 1),
                   dim3(g.finalize_threads_x, g.finalize_threads_y), 0, gram_finalize_kernel, args);
    }
    const std::vector<float> a = full.to_vector(), b = small.to_vector();
    const std::vector<double> ref(a.begin(), a.end());
    EXPECT_TRUE(simt::test::all_close(b, ref, 1e-5, 1e-5)) << "sm_count " << sm_count << (g.split() ? " (split)" : "");
  }
}

}  // namespace
}  // namespace pybench::kernels::cuda
