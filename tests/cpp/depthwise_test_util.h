#pragma once
// Shared by depthwise_conv2d_test.cc and separable_conv2d_test.cc: the depthwise case
// description, NaN-guarded buffers, and the element-wise comparison against the float64
// oracle (|out - ref| <= tol * scale, scale = the same op on absolute operands).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "conv2d/conv2d.h"
#include "depthwise_conv2d/depthwise_conv2d.h"
#include "test_util.h"

namespace pybench::testing {

inline constexpr int64_t kDwGuard = 64;

// n floats between NaN guards; the data itself starts NaN (unwritten output stays NaN).
struct GuardedBuffer {
  std::vector<float> storage;
  size_t size;
  explicit GuardedBuffer(size_t n) : storage(n + 2 * kDwGuard, kNaN), size(n) {}
  float* data() { return storage.data() + kDwGuard; }
  const float* data() const { return storage.data() + kDwGuard; }
  bool guards_intact() const {
    for (int64_t i = 0; i < kDwGuard; ++i) {
      if (!std::isnan(storage[i]) || !std::isnan(storage[kDwGuard + size + i])) return false;
    }
    return true;
  }
  GuardedBuffer filled(uint64_t seed) const {
    GuardedBuffer b(size);
    fill_normal(b.data(), size, seed);
    return b;
  }
  GuardedBuffer abs() const {
    GuardedBuffer b(size);
    for (size_t i = 0; i < size; ++i) b.data()[i] = std::fabs(data()[i]);
    return b;
  }
};

struct DwCase {
  int64_t n, c, h, w, m, kh, kw;
  int64_t sh = 1, sw = 1, pt = 0, pb = 0, pl = 0, pr = 0, dh = 1, dw = 1;
  bool bias = true;
  int64_t out_h() const { return kernels::conv2d_out_size(h, kh, sh, pt, pb, dh); }
  int64_t out_w() const { return kernels::conv2d_out_size(w, kw, sw, pl, pr, dw); }
  std::string name() const {
    auto s = [](int64_t v) { return std::to_string(v); };
    return "n" + s(n) + "_c" + s(c) + "_" + s(h) + "x" + s(w) + "_m" + s(m) + "_k" + s(kh) +
           "x" + s(kw) + "_s" + s(sh) + "x" + s(sw) + "_p" + s(pt) + "_" + s(pb) + "_" + s(pl) +
           "_" + s(pr) + "_d" + s(dh) + "x" + s(dw) + (bias ? "" : "_nobias");
  }
  kernels::DepthwiseConv2dParams params() const {
    kernels::DepthwiseConv2dParams p;
    p.batch = n;
    p.channels = c;
    p.multiplier = m;
    p.in_h = h;
    p.in_w = w;
    p.kernel_h = kh;
    p.kernel_w = kw;
    p.out_h = out_h();
    p.out_w = out_w();
    p.stride_h = sh;
    p.stride_w = sw;
    p.pad_h = pt;
    p.pad_w = pl;
    p.dilation_h = dh;
    p.dilation_w = dw;
    return p;
  }
};

inline DwCase dw_case(int64_t n, int64_t c, int64_t h, int64_t w, int64_t m, int64_t k,
                      int64_t s = 1, int64_t p = 0, int64_t d = 1) {
  DwCase cc{n, c, h, w, m, k, k};
  cc.sh = cc.sw = s;
  cc.pt = cc.pb = cc.pl = cc.pr = p;
  cc.dh = cc.dw = d;
  return cc;
}

// The depthwise shapes both tests sweep: fast paths (3x3 / 5x5, stride 1 / 2) with row
// block leftovers, the generic path, widths around 8 / 16 lanes, multipliers, odd C, and
// planes narrow enough for the blocked path (depthwise_conv2d_via_nchwc.h).
inline std::vector<DwCase> dw_cases() {
  std::vector<DwCase> cases = {
      dw_case(1, 32, 14, 14, 1, 3, 1, 1),  dw_case(2, 17, 13, 11, 1, 3, 1, 1),
      dw_case(1, 16, 15, 15, 1, 3, 2, 1),  dw_case(3, 9, 16, 12, 1, 3, 2, 1),
      dw_case(1, 7, 12, 19, 1, 5, 1, 2),   dw_case(2, 5, 17, 14, 1, 5, 2, 2),
      dw_case(1, 17, 9, 10, 2, 3, 1, 1),   dw_case(1, 5, 9, 10, 3, 3, 1, 2, 2),
      dw_case(1, 3, 13, 13, 2, 5, 2, 2),   dw_case(2, 6, 14, 15, 1, 3, 1, 2, 2),
      dw_case(1, 6, 17, 17, 1, 3, 2, 1, 2), dw_case(1, 9, 10, 7, 1, 3),
      dw_case(1, 4, 15, 13, 1, 7, 1, 3),   dw_case(2, 5, 7, 9, 1, 1),
      dw_case(1, 5, 16, 17, 1, 3, 3, 1),   dw_case(3, 1, 9, 9, 1, 3, 1, 1),
      dw_case(1, 4, 1, 37, 1, 3, 1, 1),    dw_case(1, 4, 21, 1, 1, 3, 1, 1),
      dw_case(2, 7, 1, 1, 1, 3, 1, 1),     dw_case(1, 3, 200, 40, 1, 3, 1, 1),
      dw_case(1, 3, 301, 41, 1, 3, 2, 1),  dw_case(1, 64, 7, 7, 1, 3, 1, 1),
      dw_case(1, 40, 28, 28, 1, 5, 2, 2),
      // Channel tails of the 8- and 16-lane blocks on the small-plane blocked path.
      dw_case(3, 37, 13, 11, 1, 3, 1, 1),  dw_case(1, 24, 14, 15, 1, 3, 2, 1),
      dw_case(1, 24, 14, 15, 1, 3, 2, 2, 2), dw_case(2, 40, 7, 7, 1, 5, 1, 2),
      dw_case(2, 40, 14, 14, 1, 5, 2, 2),  dw_case(2, 24, 28, 28, 1, 5, 1, 2),
  };
  DwCase asym = dw_case(1, 5, 12, 16, 1, 3);  // mixed stride / dilation, asymmetric padding
  asym.sh = 1; asym.sw = 2; asym.dh = 2; asym.dw = 1; asym.pt = 2; asym.pb = 0; asym.pl = 1; asym.pr = 2;
  cases.push_back(asym);
  DwCase rect = dw_case(1, 5, 8, 9, 1, 1);  // 1x5
  rect.kw = 5; rect.pl = rect.pr = 2;
  cases.push_back(rect);
  DwCase nb = dw_case(1, 16, 8, 8, 1, 3, 1, 1);
  nb.bias = false;
  cases.push_back(nb);
  for (int64_t w : {5, 7, 8, 9, 15, 16, 17, 23, 24, 25, 33, 47, 48, 49}) {
    cases.push_back(dw_case(1, 2, 6, w, 1, 3, 1, 1));
    cases.push_back(dw_case(1, 2, 7, 2 * w + 1, 1, 3, 2, 1));
  }
  for (int64_t h : {1, 2, 3, 4, 5, 6, 7, 9}) cases.push_back(dw_case(1, 2, h, 19, 1, 3, 1, 1));
  return cases;
}

// |actual - expected| <= tol * scale element-wise (scale 0: exactly equal), and the
// relative Frobenius error <= tol.
inline void expect_close_scaled(const float* actual, const float* expected, const float* scale,
                                size_t n, double tol) {
  EXPECT_LE(relative_frobenius_error(actual, expected, n), tol)
      << "relative Frobenius error (NaN: an unwritten element or a stray read)";
  int reported = 0;
  for (size_t i = 0; i < n; ++i) {
    const double diff = std::fabs(static_cast<double>(actual[i]) - expected[i]);
    const bool ok = scale[i] > 0 ? diff <= tol * scale[i] : diff == 0.0;
    if (!ok && reported++ < 5) {
      ADD_FAILURE() << "element " << i << ": " << actual[i] << " vs ref " << expected[i]
                    << " (scale " << scale[i] << ")";
    }
  }
}

}  // namespace pybench::testing
