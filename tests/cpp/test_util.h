#pragma once
// Shared helpers for the kernel tests: seeded random fills, NaN poisoning of memory a
// kernel must not read (or must overwrite), error norms, and an RAII guard for the
// process-wide active CPU ISA.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "common/cpu_isa.h"

namespace pybench::testing {

inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Standard normal values, deterministic for a given seed.
inline void fill_normal(float* data, size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (size_t i = 0; i < n; ++i) data[i] = normal(rng);
}

inline std::vector<float> nan_vector(size_t n) { return std::vector<float>(n, kNaN); }

// ||actual - expected||_F / ||expected||_F in double; 0 when both are zero, +inf when
// only `expected` is, NaN when `actual` holds a NaN (so EXPECT_LE(err, tol) fails).
inline double relative_frobenius_error(const float* actual, const float* expected, size_t n) {
  double diff = 0.0, ref = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(actual[i]) - static_cast<double>(expected[i]);
    diff += d * d;
    ref += static_cast<double>(expected[i]) * static_cast<double>(expected[i]);
  }
  if (ref == 0.0) return diff == 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
  return std::sqrt(diff / ref);
}

// Restores the active ISA on scope exit, so a test that walks the variants leaves the
// process as it found it.
class ActiveIsaGuard {
 public:
  ActiveIsaGuard() : saved_(kernels::cpu::active_cpu_isa()) {}
  ~ActiveIsaGuard() { kernels::cpu::set_active_cpu_isa(saved_); }
  ActiveIsaGuard(const ActiveIsaGuard&) = delete;
  ActiveIsaGuard& operator=(const ActiveIsaGuard&) = delete;

 private:
  kernels::cpu::CpuIsa saved_;
};

}  // namespace pybench::testing
