#pragma once
// Helpers of the emulator tests: seeded inputs, float64 comparisons, the seeds and the
// random shapes every kernel runs under.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "simt/simt.h"

namespace pybench::simt::test {

// Scheduling seeds every kernel runs under.
inline const std::vector<uint64_t>& seeds() {
  static const std::vector<uint64_t> s = {1, 2, 3};
  return s;
}

inline Config config_for(uint64_t seed) {
  Config c;
  c.seed = seed;
  return c;
}

inline std::vector<float> random_vector(size_t n, uint64_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Every entry finite and within atol + rtol * |expected|; reports the first few misses.
inline ::testing::AssertionResult all_close(const std::vector<float>& actual,
                                            const std::vector<double>& expected, double rtol,
                                            double atol) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure() << "size " << actual.size() << " != " << expected.size();
  }
  size_t bad = 0;
  std::string first;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double a = actual[i], e = expected[i];
    if (std::isfinite(a) && std::fabs(a - e) <= atol + rtol * std::fabs(e)) continue;
    if (bad++ < 5) first += "\n  [" + std::to_string(i) + "] " + std::to_string(a) + " vs " + std::to_string(e);
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << actual.size() << " entries differ:" << first;
}

inline bool all_close_quiet(const std::vector<float>& actual, const std::vector<double>& expected,
                            double rtol, double atol) {
  return static_cast<bool>(all_close(actual, expected, rtol, atol));
}

}  // namespace pybench::simt::test
