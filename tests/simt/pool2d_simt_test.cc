// The CUDA pooling kernel (csrc/kernels/pool2d/pool2d_cuda.cuh) under the SIMT emulator:
// max (NaN and infinities planted), average (count_include_pad both ways,
// divisor_override) and adaptive average pooling, on random shapes with tails (planes,
// rows and columns not multiples of the block or a warp) and random geometry (kernel,
// stride, every padding PyTorch allows, dilation, ceil_mode), both index widths, every
// scheduling seed, against a float64 reference written here from PyTorch's definitions
// (not from pool2d.h's windows, which the kernel itself uses).
//
// The launch sequence is launch_pool2d's (pool2d_cuda.cu): the same pool2d_launch_geometry
// and make_pool2d_kernel_args, one launch of the kernel the geometry picks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "simt/simt.h"
#include "simt_test_util.h"

#include "pool2d/pool2d_cuda.cuh"

namespace pybench::kernels::cuda {
namespace {

namespace simt = pybench::simt;

// launch_pool2d, with the emulator instead of the CUDA runtime. `force64` runs the 64-bit
// index kernel where the geometry would pick the 32-bit one.
void emulate_launch_pool2d(const Pool2dParams& p, uint64_t seed, bool force64 = false) {
  const Pool2dLaunchGeometry g = pool2d_launch_geometry(p);
  if (g.empty()) return;
  const Pool2dKernelArgs args = make_pool2d_kernel_args(p);
  const simt::Config config = simt::test::config_for(seed);
  if (g.index32 && !force64) {
    simt::launch(config, dim3(g.grid_x), dim3(g.threads), static_cast<size_t>(g.dynamic_smem_bytes),
                 pool2d_kernel<int32_t>, args);
  } else {
    simt::launch(config, dim3(g.grid_x), dim3(g.threads), static_cast<size_t>(g.dynamic_smem_bytes),
                 pool2d_kernel<int64_t>, args);
  }
}

// One axis of the reference: the input indices output o reads (inside the input), and
// its divisor extents, straight from PyTorch's loops (pooling kernels of ATen's CPU
// backend): start = o*s - p, taps start + t*d for t < k inside [0, in); avg extent
// min(start + k, in + p) - start; adaptive [floor(o*in/out), ceil((o+1)*in/out)).
struct AxisRef {
  std::vector<int64_t> taps;
  int64_t padded_extent = 0;
};

AxisRef axis_ref(int64_t o, int64_t in, int64_t out, int64_t k, int64_t s, int64_t pad,
                 int64_t d, bool adaptive) {
  AxisRef a;
  if (adaptive) {
    const int64_t start = static_cast<int64_t>(std::floor(static_cast<double>(o * in) / out));
    const int64_t end = static_cast<int64_t>(std::ceil(static_cast<double>((o + 1) * in) / out));
    for (int64_t i = start; i < end; ++i) a.taps.push_back(i);
    a.padded_extent = end - start;
    return a;
  }
  const int64_t start = o * s - pad;
  for (int64_t t = 0; t < k; ++t) {
    const int64_t i = start + t * d;
    if (i >= 0 && i < in) a.taps.push_back(i);
  }
  a.padded_extent = std::min(start + k, in + pad) - start;
  return a;
}

std::vector<double> reference(const Pool2dParams& p, const std::vector<float>& x,
                              std::vector<double>* scale) {
  std::vector<double> out(static_cast<size_t>(p.planes * p.out_h * p.out_w));
  scale->assign(out.size(), 0.0);
  for (int64_t plane = 0; plane < p.planes; ++plane) {
    const float* in = x.data() + plane * p.in_h * p.in_w;
    for (int64_t oy = 0; oy < p.out_h; ++oy) {
      const AxisRef r = axis_ref(oy, p.in_h, p.out_h, p.kernel_h, p.stride_h, p.pad_h,
                                 p.dilation_h, p.adaptive);
      for (int64_t ox = 0; ox < p.out_w; ++ox) {
        const AxisRef c = axis_ref(ox, p.in_w, p.out_w, p.kernel_w, p.stride_w, p.pad_w,
                                   p.dilation_w, p.adaptive);
        const size_t o = static_cast<size_t>((plane * p.out_h + oy) * p.out_w + ox);
        if (p.mode == PoolMode::max) {
          double m = -std::numeric_limits<double>::infinity();
          for (int64_t iy : r.taps) {
            for (int64_t ix : c.taps) {
              const double v = in[iy * p.in_w + ix];
              if (std::isnan(v) || v > m) m = std::isnan(m) ? m : v;
            }
          }
          out[o] = m;
          continue;
        }
        double sum = 0.0, mag = 0.0;
        for (int64_t iy : r.taps) {
          for (int64_t ix : c.taps) {
            sum += in[iy * p.in_w + ix];
            mag += std::fabs(in[iy * p.in_w + ix]);
          }
        }
        const double divisor =
            p.divisor_override != 0 ? static_cast<double>(p.divisor_override)
            : p.count_include_pad
                ? static_cast<double>(r.padded_extent * c.padded_extent)
                : static_cast<double>(r.taps.size() * c.taps.size());
        out[o] = sum / divisor;
        (*scale)[o] = mag / std::fabs(divisor);
      }
    }
  }
  return out;
}

void check_pool2d(const Pool2dParams& shape, uint64_t seed, bool force64 = false) {
  SCOPED_TRACE(pool2d_description(shape) + ", seed " + std::to_string(seed) +
               (force64 ? ", int64" : ""));
  const size_t n = static_cast<size_t>(shape.planes * shape.in_h * shape.in_w);
  std::vector<float> host = simt::test::random_vector(n, 500 + n);
  if (shape.mode == PoolMode::max) {
    host[n / 3] = std::numeric_limits<float>::quiet_NaN();
    host[std::min(n - 1, n / 3 + 1)] = 1e30f;
    host[n / 2] = std::numeric_limits<float>::infinity();
    host[n / 5] = -std::numeric_limits<float>::infinity();
  }
  simt::DeviceArray<float> input(host);
  simt::DeviceArray<float> output(static_cast<size_t>(shape.planes * shape.out_h * shape.out_w));
  Pool2dParams p = shape;
  p.input = input.data();
  p.output = output.data();
  emulate_launch_pool2d(p, seed, force64);

  std::vector<double> scale;
  const std::vector<double> want = reference(p, host, &scale);
  const std::vector<float> got = output.to_vector();
  ASSERT_EQ(got.size(), want.size());
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const bool ok = shape.mode == PoolMode::max
                        ? (std::isnan(want[i]) ? std::isnan(got[i])
                                               : static_cast<double>(got[i]) == want[i])
                        : std::fabs(got[i] - want[i]) <= 1e-5 * scale[i] + 1e-30;
    if (!ok && bad++ < 5) ADD_FAILURE() << "out[" << i << "] = " << got[i] << ", want " << want[i];
  }
  EXPECT_EQ(bad, 0) << "wrong elements";
}

// The models' poolings first, then random geometry on random shapes with tails.
std::vector<Pool2dParams> shapes() {
  std::vector<Pool2dParams> v = {
      pool2d_params(PoolMode::max, 3, 27, 27, 3, 3, 2, 2, 0, 0, 1, 1, false),  // AlexNet's
      pool2d_params(PoolMode::max, 2, 28, 28, 2, 2, 2, 2, 0, 0, 1, 1, false),  // VGG's
      pool2d_params(PoolMode::max, 2, 28, 28, 3, 3, 2, 2, 0, 0, 1, 1, true),   // GoogLeNet's
      pool2d_params(PoolMode::max, 2, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, true),   // GoogLeNet's branch
      pool2d_params(PoolMode::max, 2, 29, 31, 3, 3, 2, 2, 1, 1, 1, 1, false),  // ResNet's, odd
      // Dilated windows holding no input: -inf, as PyTorch's.
      pool2d_params(PoolMode::max, 2, 1, 3, 2, 2, 1, 1, 1, 1, 2, 2, false),
      adaptive_avg_pool2d_params(5, 7, 7, 1, 1),  // global average
      adaptive_avg_pool2d_params(2, 13, 9, 4, 5),
      adaptive_avg_pool2d_params(3, 5, 6, 7, 11),  // growing
  };
  Pool2dParams div = pool2d_params(PoolMode::avg, 3, 9, 11, 3, 3, 2, 2, 1, 1, 1, 1, true);
  div.divisor_override = -5;
  v.push_back(div);
  std::mt19937 rng(1414);
  std::uniform_int_distribution<int> planes(1, 5), size(1, 40), kernel(1, 5), stride(1, 3),
      dilation(1, 2), coin(0, 1);
  while (v.size() < 24) {
    const PoolMode mode = coin(rng) ? PoolMode::max : PoolMode::avg;
    const int64_t kh = kernel(rng), kw = kernel(rng);
    const int64_t dh = mode == PoolMode::max ? dilation(rng) : 1;
    const int64_t dw = mode == PoolMode::max ? dilation(rng) : 1;
    // PyTorch's bound: half the kernel (the tighter of its two with dilation).
    const int64_t ph = std::uniform_int_distribution<int64_t>(0, kh / 2)(rng);
    const int64_t pw = std::uniform_int_distribution<int64_t>(0, kw / 2)(rng);
    Pool2dParams p = pool2d_params(mode, planes(rng), size(rng), size(rng), kh, kw, stride(rng),
                          stride(rng), ph, pw, dh, dw, coin(rng) != 0);
    if (p.out_h < 1 || p.out_w < 1) continue;
    p.count_include_pad = coin(rng) != 0;
    v.push_back(p);
  }
  return v;
}

TEST(Pool2dSimt, MatchesFloat64OnRandomShapesUnderEverySeed) {
  int runs = 0, max = 0;
  for (const Pool2dParams& s : shapes()) {
    for (uint64_t seed : simt::test::seeds()) {
      check_pool2d(s, seed);
      ++runs;
      max += s.mode == PoolMode::max;
    }
  }
  EXPECT_GT(max, 0);
  EXPECT_LT(max, runs);
  RecordProperty("runs", runs);
}

TEST(Pool2dSimt, SixtyFourBitIndexKernelMatchesToo) {
  for (const Pool2dParams& s :
       {pool2d_params(PoolMode::max, 2, 17, 23, 3, 3, 2, 2, 1, 1, 2, 1, true),
        pool2d_params(PoolMode::avg, 3, 15, 19, 3, 2, 2, 1, 1, 1, 1, 1, true),
        adaptive_avg_pool2d_params(2, 11, 13, 4, 6)}) {
    check_pool2d(s, 1, true);
  }
}

// The grid is clamped (kPoolBlocksPerSm blocks an SM); with more outputs than threads the
// grid-stride loop takes several turns and must give bit for bit the full grid's result.
TEST(Pool2dSimt, GridStrideLoopCoversAGridSmallerThanTheWork) {
  Pool2dParams p = pool2d_params(PoolMode::avg, 6, 30, 33, 3, 3, 1, 1, 1, 1, 1, 1, false);
  const size_t n = static_cast<size_t>(p.planes * p.in_h * p.in_w);
  const size_t m = static_cast<size_t>(p.planes * p.out_h * p.out_w);
  simt::DeviceArray<float> input(simt::test::random_vector(n, 77)), full(m), small(m);
  p.input = input.data();
  p.output = full.data();
  emulate_launch_pool2d(p, 1);
  // One SM: grid_x = kPoolBlocksPerSm, fewer threads than outputs.
  const Pool2dLaunchGeometry g = pool2d_launch_geometry(p, 1);
  ASSERT_EQ(g.grid_x, kPoolBlocksPerSm);
  ASSERT_LT(int64_t{g.grid_x} * g.threads, g.outputs);
  p.output = small.data();
  simt::launch(simt::test::config_for(2), dim3(g.grid_x), dim3(g.threads), 0,
               pool2d_kernel<int32_t>, make_pool2d_kernel_args(p));
  const std::vector<float> a = full.to_vector(), b = small.to_vector();
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

TEST(Pool2dSimt, GeometryPicksTheIndexWidthAndClampsTheGrid) {
  Pool2dParams p = pool2d_params(PoolMode::max, 64, 112, 112, 3, 3, 2, 2, 1, 1, 1, 1, false);
  Pool2dLaunchGeometry g = pool2d_launch_geometry(p, 132);
  EXPECT_EQ(g.outputs, 64 * 56 * 56);
  EXPECT_EQ(g.grid_x, 64 * 56 * 56 / kPoolThreads);  // under the clamp: 784 blocks
  EXPECT_TRUE(g.index32);
  EXPECT_FALSE(g.empty());
  p.planes = 8 * 64;  // batch 8: clamped to 8 blocks an SM
  g = pool2d_launch_geometry(p, 132);
  EXPECT_EQ(g.grid_x, 132 * kPoolBlocksPerSm);
  p.planes = 1 << 16;  // 2^16 planes of 112 x 112: 8.2e8 inputs still fit
  EXPECT_TRUE(pool2d_launch_geometry(p, 132).index32);
  p.planes = 1 << 18;  // 3.3e9 inputs do not
  EXPECT_FALSE(pool2d_launch_geometry(p, 132).index32);
  p.planes = 3;
  p.out_w = 0;
  EXPECT_TRUE(pool2d_launch_geometry(p).empty());
  // A small output: one block per 256 outputs, no more.
  Pool2dParams small = adaptive_avg_pool2d_params(1, 7, 7, 1, 1);
  g = pool2d_launch_geometry(small, 132);
  EXPECT_EQ(g.grid_x, 1);
  EXPECT_EQ(g.threads, kPoolThreads);
}

}  // namespace
}  // namespace pybench::kernels::cuda
