#pragma once
// Shared helpers for the kernel tests: seeded random fills, NaN poisoning of memory a
// kernel must not read (or must overwrite), error norms, injected parallel-fors (an
// adversarial serial one and one on real threads), an RAII guard for the process-wide
// active CPU ISA, and gtest's printer for ISA parameters.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <ostream>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "common/cpu_isa.h"
#include "common/parallel.h"

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

// An injected parallel_for (kernels::ParallelFor) that hands out uneven chunks of
// [begin, end), each at least `grain` long, in reverse order, serially: a kernel's result
// must not depend on how its work is split or in which order the pieces run.
inline void reverse_uneven_chunks(int64_t begin, int64_t end, int64_t grain,
                                  const kernels::ParallelBody& body) {
  std::vector<std::pair<int64_t, int64_t>> chunks;
  int64_t size = std::max<int64_t>(grain, 1);
  for (int64_t b = begin; b < end; size = size % 3 + std::max<int64_t>(grain, 1)) {
    chunks.emplace_back(b, std::min(end, b + size));
    b = chunks.back().second;
  }
  for (auto it = chunks.rbegin(); it != chunks.rend(); ++it) body(it->first, it->second);
}

// An injected parallel_for that runs each chunk on its own std::thread, like
// at::parallel_for: at most `threads` chunks, none smaller than `grain`. The threads
// start together (a latch), so on small work they still overlap and a data race
// between chunks (shared scratch, overlapping output ranges) has a chance to show.
// `bodies`, when given, counts the chunks run.
inline kernels::ParallelFor std_thread_for(int64_t threads, std::atomic<int>* bodies = nullptr) {
  return [threads, bodies](int64_t begin, int64_t end, int64_t grain,
                           const kernels::ParallelBody& body) {
    const int64_t n = end - begin;
    const int64_t chunks = std::clamp<int64_t>(n / std::max<int64_t>(grain, 1), 1, threads);
    std::atomic<int64_t> arrived{0};
    std::vector<std::thread> pool;
    for (int64_t i = 0; i < chunks; ++i) {
      const int64_t b = begin + n * i / chunks, e = begin + n * (i + 1) / chunks;
      pool.emplace_back([&body, &arrived, chunks, b, e, bodies] {
        if (bodies) ++*bodies;
        ++arrived;
        while (arrived.load() < chunks) std::this_thread::yield();
        body(b, e);
      });
    }
    for (auto& t : pool) t.join();
  };
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

namespace pybench::kernels::cpu {
// gtest prints an ISA test parameter through PrintTo (found by ADL); without it, bytes.
inline void PrintTo(CpuIsa isa, std::ostream* os) { *os << cpu_isa_name(isa); }
}  // namespace pybench::kernels::cpu
