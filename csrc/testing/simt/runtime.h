#pragma once
// The SIMT emulator's host API: launch a kernel over a grid, and device arrays whose
// out-of-bounds accesses are caught.
//
// Execution model (runtime.cc): blocks run one after another, in an order shuffled by the
// seed; the threads of a block are fibers (ucontext) on the calling host thread, switched
// only at barriers, warp primitives and atomics, the next one drawn at random from those
// ready to run. Code between two such points runs without interruption, so a missing
// __syncthreads() or a read of shared memory another thread has not written yet changes
// the result for most seeds. Shared memory is 0xFF bytes (float NaN) at every block
// start. Misuse is reported as pybench::simt::Error from launch(): a barrier some threads
// of the block never reach (exited, or waiting at another __syncthreads), warp primitives
// whose lanes disagree or never arrive, an invalid launch configuration.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "simt/cuda_compat.h"

namespace pybench::simt {

// An error the emulator found: launch configuration, barrier divergence, warp
// primitive misuse, deadlock, a write past a buffer (non-sanitizer builds).
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The most dynamic shared memory a launch may ask for: 227 KiB, sm_90's opt-in limit.
inline constexpr size_t kMaxDynamicSharedBytes = 227 * 1024;

struct Config {
  uint64_t seed = 0;                 // block order and thread interleaving
  size_t stack_bytes = 256 * 1024;   // fiber stack per thread (plus a guard page)
  bool shuffle_blocks = true;        // run blocks in a seeded random order
  bool yield_at_atomics = true;      // atomics are scheduling points too
  size_t max_dynamic_shared_bytes = kMaxDynamicSharedBytes;
};

// Counters of the last launch, for tests of the emulator itself.
struct LaunchStats {
  uint64_t blocks = 0;
  uint64_t threads = 0;            // fibers run, over all blocks
  uint64_t switches = 0;           // scheduler -> fiber switches
  uint64_t barriers = 0;           // released __syncthreads*, over all blocks
  uint64_t warp_collectives = 0;   // completed warp primitives (one per warp and call)
};
const LaunchStats& last_launch_stats();

namespace detail {
using KernelThunk = void (*)(const void* data);
// Runs the grid; thunk(data) is one thread's call of the kernel. Throws Error.
void run_grid(const Config& config, dim3 grid, dim3 block, size_t shared_bytes,
              KernelThunk thunk, const void* data);

// Host memory standing in for device memory: the bytes in [data, data + bytes). In
// sanitizer builds an exact-size heap block (ASan catches any access past it); otherwise
// it sits between 0xFF guard zones that launch() checks after every kernel.
class GuardedAllocation {
 public:
  GuardedAllocation() = default;
  explicit GuardedAllocation(size_t bytes);
  ~GuardedAllocation();
  GuardedAllocation(GuardedAllocation&& other) noexcept;
  GuardedAllocation& operator=(GuardedAllocation&& other) noexcept;
  GuardedAllocation(const GuardedAllocation&) = delete;
  GuardedAllocation& operator=(const GuardedAllocation&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  void release();
  unsigned char* block_ = nullptr;
  void* data_ = nullptr;
  size_t bytes_ = 0;
};
}  // namespace detail

// Runs kernel<<<grid, block, shared_bytes>>>(args...) under the emulator and returns when
// the grid is done. Arguments are converted to the kernel's parameter types and copied,
// as a CUDA launch does.
template <class... Params, class... Args>
void launch(const Config& config, dim3 grid, dim3 block, size_t shared_bytes,
            void (*kernel)(Params...), Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "kernel argument count mismatch");
  using Tuple = std::tuple<std::remove_cv_t<std::remove_reference_t<Params>>...>;
  struct Data {
    void (*kernel)(Params...);
    Tuple args;
  };
  const Data data{kernel, Tuple(std::forward<Args>(args)...)};
  detail::run_grid(
      config, grid, block, shared_bytes,
      [](const void* p) {
        const Data& d = *static_cast<const Data*>(p);
        std::apply(d.kernel, d.args);
      },
      &data);
}

// The same with Config{default_seed()}.
void set_default_seed(uint64_t seed);
uint64_t default_seed();
template <class... Params, class... Args>
void launch(dim3 grid, dim3 block, size_t shared_bytes, void (*kernel)(Params...),
            Args&&... args) {
  Config config;
  config.seed = default_seed();
  launch(config, grid, block, shared_bytes, kernel, std::forward<Args>(args)...);
}

// A device array of n T, filled with 0xFF bytes (NaN for floating point) unless given
// values, so an element a kernel should have written but did not shows.
template <class T>
class DeviceArray {
  static_assert(std::is_trivially_copyable_v<T>, "device arrays hold trivially copyable types");

 public:
  explicit DeviceArray(size_t n) : alloc_(n * sizeof(T)), size_(n) {
    if (n) std::memset(alloc_.data(), 0xFF, n * sizeof(T));
  }
  explicit DeviceArray(const std::vector<T>& values) : DeviceArray(values.size()) {
    if (size_) std::memcpy(alloc_.data(), values.data(), size_ * sizeof(T));
  }
  T* data() { return static_cast<T*>(alloc_.data()); }
  const T* data() const { return static_cast<const T*>(alloc_.data()); }
  size_t size() const { return size_; }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  std::vector<T> to_vector() const { return std::vector<T>(data(), data() + size_); }

 private:
  detail::GuardedAllocation alloc_;
  size_t size_;
};

}  // namespace pybench::simt
