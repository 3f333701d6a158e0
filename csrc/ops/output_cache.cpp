// The output cache of the blocked-layout ops (output_cache.h says why), and its control
// ops: output_cache_info, empty_output_cache, set_output_cache, empty_output.
//
// Policy:
//  - Only blocks of at least kMinBytes go through the cache: below that glibc serves
//    freed chunks from its heap without new page faults, and a tensor that small is cheap
//    to fault in anyway.
//  - Sizes are rounded up to kGrain so that the same layer shape at the same batch maps to
//    one size; a request takes the smallest free block of at least its size and at most
//    1/8 larger (best fit, so a 100 MB request never pins a 1 GB block).
//  - At most `limit` bytes sit unused in the cache (PYBENCH_OUTPUT_CACHE_MB, default
//    1024; 0 turns the cache off); a freed block that would exceed it goes back to the
//    system at once. Blocks in use are not counted: the cache never holds more memory
//    than the peak of the tensors it handed out plus `limit`.
//  - Poison (set_output_cache(..., poison=True), or PYBENCH_OUTPUT_CACHE_POISON=1): every
//    output handed out, cached or not, is first filled with NaN, so a kernel that leaves
//    any element of its output unwritten (a padded channel lane, a border) fails its
//    tests instead of returning a stale value from a previous call. The tests run so.
// The cache is a leaked singleton: tensors freed during interpreter shutdown still find it.
#include "output_cache.h"

#include <ATen/EmptyTensor.h>
#include <ATen/ops/empty.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <torch/library.h>

#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace pybench::ops {
namespace {

constexpr size_t kMinBytes = size_t{256} << 10;
constexpr size_t kGrain = size_t{64} << 10;

size_t env_limit_bytes() {
  const char* mb = std::getenv("PYBENCH_OUTPUT_CACHE_MB");
  if (mb == nullptr || *mb == '\0') return size_t{1024} << 20;
  char* end = nullptr;
  const long long v = std::strtoll(mb, &end, 10);
  TORCH_CHECK_VALUE(end != mb && *end == '\0' && v >= 0,
                    "PYBENCH_OUTPUT_CACHE_MB: expected a whole number of MiB (0 turns the "
                    "output cache off), got '", mb, "'");
  return static_cast<size_t>(v) << 20;
}

bool env_poison() {
  const char* p = std::getenv("PYBENCH_OUTPUT_CACHE_POISON");
  return p != nullptr && std::string(p) == "1";
}

struct Block {
  void* ptr;
  size_t bytes;
};

class OutputCache final : public c10::Allocator {
 public:
  OutputCache() : limit_(env_limit_bytes()), poison_(env_poison()) {}

  c10::DataPtr allocate(size_t nbytes) override {
    if (nbytes < kMinBytes) {
      void* p = c10::alloc_cpu(nbytes);
      if (poison()) fill_nan(p, nbytes);
      return {p, p, &c10::free_cpu, c10::Device(c10::DeviceType::CPU)};
    }
    const size_t bytes = (nbytes + kGrain - 1) / kGrain * kGrain;
    Block* b = take(bytes);
    if (b == nullptr) b = new Block{c10::alloc_cpu(bytes), bytes};
    if (poison()) fill_nan(b->ptr, b->bytes);
    return {b->ptr, b, &OutputCache::release, c10::Device(c10::DeviceType::CPU)};
  }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }

  std::vector<int64_t> info() {
    std::lock_guard<std::mutex> lock(mu_);
    return {static_cast<int64_t>(cached_bytes_), static_cast<int64_t>(free_.size()),
            hits_, misses_, static_cast<int64_t>(limit_), poison_ ? 1 : 0};
  }

  void empty() {
    std::multimap<size_t, Block*> drop;
    {
      std::lock_guard<std::mutex> lock(mu_);
      drop.swap(free_);
      cached_bytes_ = 0;
    }
    for (auto& kv : drop) destroy(kv.second);
  }

  void configure(int64_t limit_bytes, bool poison) {
    TORCH_CHECK_VALUE(limit_bytes >= 0,
                      "pybench.set_output_cache: limit_bytes must be >= 0, got ", limit_bytes);
    {
      std::lock_guard<std::mutex> lock(mu_);
      limit_ = static_cast<size_t>(limit_bytes);
      poison_ = poison;
    }
    // A lower limit takes effect now, not at the next free.
    trim();
  }

 private:
  static void fill_nan(void* p, size_t bytes) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    float* f = static_cast<float*>(p);
    for (size_t i = 0, n = bytes / sizeof(float); i < n; ++i) f[i] = nan;
  }

  static void destroy(Block* b) {
    c10::free_cpu(b->ptr);
    delete b;
  }

  static void release(void* ctx);

  bool poison() {
    std::lock_guard<std::mutex> lock(mu_);
    return poison_;
  }

  Block* take(size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.lower_bound(bytes);
    if (it == free_.end() || it->first > bytes + bytes / 8) {
      ++misses_;
      return nullptr;
    }
    // The most recently freed of the blocks of that size: its lines are the likeliest
    // still in cache, where the oldest would make every store of the output miss.
    it = std::prev(free_.upper_bound(it->first));
    Block* b = it->second;
    free_.erase(it);
    cached_bytes_ -= b->bytes;
    ++hits_;
    return b;
  }

  void give_back(Block* b) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cached_bytes_ + b->bytes <= limit_) {
        free_.emplace(b->bytes, b);
        cached_bytes_ += b->bytes;
        return;
      }
    }
    destroy(b);
  }

  void trim() {
    std::vector<Block*> drop;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // Largest first: they are the ones whose page faults a smaller limit gives up anyway.
      while (cached_bytes_ > limit_ && !free_.empty()) {
        auto last = std::prev(free_.end());
        cached_bytes_ -= last->first;
        drop.push_back(last->second);
        free_.erase(last);
      }
    }
    for (Block* b : drop) destroy(b);
  }

  std::mutex mu_;
  std::multimap<size_t, Block*> free_;
  size_t cached_bytes_ = 0;
  size_t limit_;
  bool poison_;
  int64_t hits_ = 0;
  int64_t misses_ = 0;
};

OutputCache& cache() {
  static OutputCache* c = new OutputCache();
  return *c;
}

void OutputCache::release(void* ctx) { cache().give_back(static_cast<Block*>(ctx)); }

std::vector<int64_t> output_cache_info() { return cache().info(); }

void empty_output_cache() { cache().empty(); }

void set_output_cache(int64_t limit_bytes, bool poison) {
  cache().configure(limit_bytes, poison);
}

at::Tensor empty_output_op(at::IntArrayRef size) {
  for (int64_t s : size) {
    TORCH_CHECK_VALUE(s >= 0, "pybench.empty_output: negative size ", s, " in ", size);
  }
  return empty_output(size, at::TensorOptions().dtype(at::kFloat));
}

}  // namespace

at::Tensor empty_output(at::IntArrayRef sizes, const at::TensorOptions& options) {
  if (!options.device().is_cpu() || options.dtype() != at::kFloat) {
    return at::empty(sizes, options);
  }
  return at::detail::empty_generic(sizes, &cache(),
                                   c10::DispatchKeySet(c10::DispatchKey::CPU), at::kFloat,
                                   std::nullopt);
}

TORCH_LIBRARY_FRAGMENT(pybench, m) {
  m.def("output_cache_info() -> int[]", &output_cache_info);
  m.def("empty_output_cache() -> ()", &empty_output_cache);
  m.def("set_output_cache(int limit_bytes, bool poison) -> ()", &set_output_cache);
  m.def("empty_output(int[] size) -> Tensor", &empty_output_op);
}

}  // namespace pybench::ops
