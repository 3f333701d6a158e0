// The emulator's example kernels (csrc/testing/simt/examples) on random shapes with tails,
// under every scheduling seed, against float64 references.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "simt/simt.h"
#include "simt_test_util.h"

namespace pybench::simt::examples {
PYBENCH_SIMT_DYNAMIC_SHARED(float, stencil_smem);
}  // namespace pybench::simt::examples

#include "simt/examples/row_sum.cuh"
#include "simt/examples/stencil1d.cuh"
#include "simt/examples/transpose.cuh"

namespace pybench::simt {
namespace {

using test::all_close;
using test::config_for;
using test::random_vector;

constexpr int kShapes = 12;

TEST(SimtExamples, TransposeOnRandomShapes) {
  std::mt19937 rng(2024);
  std::uniform_int_distribution<int> dim(1, 100);
  for (int s = 0; s < kShapes; ++s) {
    const int rows = s == 0 ? 64 : dim(rng), cols = s == 0 ? 32 : dim(rng);
    const std::vector<float> in = random_vector(static_cast<size_t>(rows) * cols, s);
    std::vector<double> ref(in.size());
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < cols; ++c) ref[static_cast<size_t>(c) * rows + r] = in[static_cast<size_t>(r) * cols + c];
    }
    DeviceArray<float> din(in);
    for (uint64_t seed : test::seeds()) {
      DeviceArray<float> dout(in.size());
      const dim3 grid((cols + examples::kTransposeTile - 1) / examples::kTransposeTile,
                      (rows + examples::kTransposeTile - 1) / examples::kTransposeTile);
      launch(config_for(seed), grid, dim3(examples::kTransposeTile, examples::kTransposeRows), 0,
             examples::transpose_kernel, din.data(), dout.data(), rows, cols);
      EXPECT_TRUE(all_close(dout.to_vector(), ref, 0.0, 0.0))
          << rows << " x " << cols << ", seed " << seed;
    }
  }
}

TEST(SimtExamples, StencilOnRandomShapes) {
  constexpr int R = 3;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> len(1, 1000);
  const int blocks[] = {32, 64, 96, 128};
  const std::vector<float> w = random_vector(2 * R + 1, 99);
  DeviceArray<float> dw(w);
  for (int s = 0; s < kShapes; ++s) {
    const int n = s == 0 ? 1 : len(rng);
    const int block = blocks[s % 4];
    const std::vector<float> in = random_vector(n, 100 + s);
    std::vector<double> ref(n, 0.0);
    for (int i = 0; i < n; ++i) {
      for (int k = 0; k <= 2 * R; ++k) {
        const int g = i + k - R;
        if (g >= 0 && g < n) ref[i] += static_cast<double>(w[k]) * in[g];
      }
    }
    DeviceArray<float> din(in);
    for (uint64_t seed : test::seeds()) {
      DeviceArray<float> dout(n);
      launch(config_for(seed), dim3((n + block - 1) / block), dim3(block),
             examples::stencil1d_shared_bytes(block, R), examples::stencil1d_kernel<R>, din.data(),
             dw.data(), dout.data(), n);
      EXPECT_TRUE(all_close(dout.to_vector(), ref, 1e-5, 1e-6)) << "n " << n << ", seed " << seed;
    }
  }
}

TEST(SimtExamples, RowSumOnRandomShapes) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> rows_d(1, 6), cols_d(1, 3000);
  const int blocks[] = {32, 64, 256, 1024};
  for (int s = 0; s < kShapes; ++s) {
    const int rows = rows_d(rng), cols = cols_d(rng), block = blocks[s % 4];
    const std::vector<float> in = random_vector(static_cast<size_t>(rows) * cols, 300 + s);
    std::vector<double> ref(rows, 0.0);
    double mag = 0.0;
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < cols; ++c) ref[r] += in[static_cast<size_t>(r) * cols + c];
    }
    for (float x : in) mag = std::max(mag, static_cast<double>(std::fabs(x)));
    DeviceArray<float> din(in);
    for (uint64_t seed : test::seeds()) {
      DeviceArray<float> dout(rows);
      launch(config_for(seed), dim3(rows), dim3(block), 0, examples::row_sum_kernel, din.data(),
             dout.data(), cols);
      EXPECT_TRUE(all_close(dout.to_vector(), ref, 0.0, 1e-6 * cols * mag))
          << rows << " x " << cols << ", block " << block << ", seed " << seed;
    }
  }
}

}  // namespace
}  // namespace pybench::simt
