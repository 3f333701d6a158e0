#pragma once
// What the emulator tests of the CUDA depthwise and fused separable kernels share
// (depthwise_conv2d_simt_test.cc, separable_conv2d_simt_test.cc): the named and random
// shapes with tails (planes narrower / wider than the 8 / 16 / 32-wide tiles, positions not
// a multiple of the 32-position tile, output channels not a multiple of the 64-channel
// tile, depthwise channels not a multiple of the 64-channel chunk), 1x1 .. 5x5 and 3x1
// kernels, strides 1-3, dilation 2, channel multipliers, biases or none, every activation
// pair, a clamped grid; their inputs and the float64 depthwise reference.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "simt/simt.h"
#include "simt_test_util.h"

namespace pybench::kernels::cuda {
PYBENCH_SIMT_DYNAMIC_SHARED(float, dw_smem);
}  // namespace pybench::kernels::cuda

#include "conv2d/conv2d.h"
#include "depthwise_conv2d/depthwise_conv2d_cuda.cuh"

namespace pybench::kernels::cuda::dw_simt {

namespace simt = pybench::simt;

struct Shape {
  int64_t n, c, h, w, m, kh, kw, s = 1, p = 0, d = 1;
  int64_t k = 8;  // pointwise output channels (fused only)
  bool bias = true;
  Activation act = Activation::relu, pw_act = Activation::relu;
  int64_t grid_y_cap = 0;  // > 0: clamp grid y (the block-stride loops)
};

inline std::string describe(const Shape& s) {
  auto v = [](int64_t x) { return std::to_string(x); };
  return "n" + v(s.n) + " c" + v(s.c) + " " + v(s.h) + "x" + v(s.w) + " m" + v(s.m) + " k" +
         v(s.kh) + "x" + v(s.kw) + " s" + v(s.s) + " p" + v(s.p) + " d" + v(s.d) + " K" +
         v(s.k) + (s.bias ? "" : " nobias") + " act" + v(static_cast<int>(s.act)) + "/" +
         v(static_cast<int>(s.pw_act));
}

inline DepthwiseConv2dParams params_for(const Shape& s) {
  DepthwiseConv2dParams p;
  p.batch = s.n;
  p.channels = s.c;
  p.multiplier = s.m;
  p.in_h = s.h;
  p.in_w = s.w;
  p.kernel_h = s.kh;
  p.kernel_w = s.kw;
  p.stride_h = p.stride_w = s.s;
  p.pad_h = p.pad_w = s.p;
  p.dilation_h = p.dilation_w = s.d;
  p.out_h = conv2d_out_size(s.h, s.kh, s.s, s.p, s.p, s.d);
  p.out_w = conv2d_out_size(s.w, s.kw, s.s, s.p, s.p, s.d);
  return p;
}

inline double act64(double v, Activation a) {
  if (a == Activation::none) return v;
  v = v < 0 ? 0 : v;
  return a == Activation::relu6 && v > 6 ? 6 : v;
}

// Depthwise output in double, activation applied.
inline std::vector<double> depthwise_ref(const DepthwiseConv2dParams& p, const std::vector<float>& x,
                                  const std::vector<float>& w, const std::vector<float>& b,
                                  bool bias, Activation act) {
  const int64_t k_total = p.out_channels();
  std::vector<double> out(static_cast<size_t>(p.batch * k_total * p.out_h * p.out_w));
  size_t i = 0;
  for (int64_t n = 0; n < p.batch; ++n)
    for (int64_t k = 0; k < k_total; ++k)
      for (int64_t oy = 0; oy < p.out_h; ++oy)
        for (int64_t ox = 0; ox < p.out_w; ++ox) {
          double acc = bias ? b[k] : 0.0;
          for (int64_t r = 0; r < p.kernel_h; ++r)
            for (int64_t s = 0; s < p.kernel_w; ++s) {
              const int64_t iy = oy * p.stride_h - p.pad_h + r * p.dilation_h;
              const int64_t ix = ox * p.stride_w - p.pad_w + s * p.dilation_w;
              if (iy < 0 || iy >= p.in_h || ix < 0 || ix >= p.in_w) continue;
              acc += static_cast<double>(w[(k * p.kernel_h + r) * p.kernel_w + s]) *
                     x[((n * p.channels + k / p.multiplier) * p.in_h + iy) * p.in_w + ix];
            }
          out[i++] = act64(acc, act);
        }
  return out;
}

inline std::vector<Shape> shapes() {
  std::vector<Shape> v = {
      {1, 8, 14, 14, 1, 3, 3, 1, 1},        // 16-wide tiles
      {2, 5, 7, 7, 1, 3, 3, 1, 1},          // 8-wide tiles
      {1, 3, 37, 41, 1, 3, 3, 2, 1},        // 32-wide tiles, stride 2, tails
      {1, 4, 19, 33, 2, 5, 5, 1, 2},        // multiplier 2, 5x5
      {2, 3, 17, 15, 3, 3, 3, 1, 2, 2},     // multiplier 3, dilation 2
      {1, 6, 23, 9, 1, 3, 1, 3, 1},         // 3x1, stride 3
      {3, 2, 5, 70, 1, 1, 1},               // 1x1, 3 tiles per row
      {1, 70, 9, 9, 1, 3, 3, 1, 1, 1, 70},  // > one 64-channel chunk, > one 64-K tile
  };
  v[1].bias = false;
  v[1].act = Activation::relu6;
  v[1].pw_act = Activation::none;
  v[3].act = Activation::none;
  v[3].pw_act = Activation::relu6;
  v[4].k = 5;
  v[7].grid_y_cap = 3;
  std::mt19937_64 rng(77);
  auto u = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  while (v.size() < 20) {
    Shape s{u(1, 2), u(1, 9), u(1, 24), u(1, 40), u(1, 2), u(1, 5), u(1, 5), u(1, 2), u(0, 2), u(1, 2)};
    s.k = u(1, 70);
    s.bias = u(0, 1) == 1;
    s.act = static_cast<Activation>(u(0, 2));
    s.pw_act = static_cast<Activation>(u(0, 2));
    const DepthwiseConv2dParams p = params_for(s);
    if (s.d * (s.kh - 1) + 1 > s.h + 2 * s.p || s.d * (s.kw - 1) + 1 > s.w + 2 * s.p) continue;
    if (p.out_h <= 0 || p.out_w <= 0) continue;
    v.push_back(s);
  }
  return v;
}

struct Data {
  std::vector<float> x, w, b, pw, pb;
};

inline Data data_for(const Shape& s) {
  const uint64_t seed = static_cast<uint64_t>(s.c * 131 + s.h * 17 + s.w + s.k * 7);
  return {simt::test::random_vector(static_cast<size_t>(s.n * s.c * s.h * s.w), seed),
          simt::test::random_vector(static_cast<size_t>(s.c * s.m * s.kh * s.kw), seed + 1),
          simt::test::random_vector(static_cast<size_t>(s.c * s.m), seed + 2),
          simt::test::random_vector(static_cast<size_t>(s.k * s.c * s.m), seed + 3),
          simt::test::random_vector(static_cast<size_t>(s.k), seed + 4)};
}

}  // namespace pybench::kernels::cuda::dw_simt
