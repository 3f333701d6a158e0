// The SIMT emulator's engine: fibers and their seeded scheduler, block barriers and warp
// collectives with divergence checks, shared memory poisoning, guarded device memory.
//
// One launch at a time per process. The threads of a block are ucontext fibers on the
// calling host thread; the scheduler (this thread's own stack) resumes one ready fiber,
// drawn at random, until it reaches a scheduling point (barrier, warp primitive, atomic)
// or exits, and then draws the next. A barrier is released when every thread of the
// block waits at it; a warp collective completes when every live lane of its mask has
// arrived. When no fiber is ready and the block is not done, the waits are inconsistent:
// that is reported (barrier divergence, deadlock), never hung on.
#include "simt/runtime.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#if PYBENCH_SIMT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace {
// Bytes past the requested dynamic shared memory that must keep the guard pattern
// (checked after every block in builds without ASan; ASan builds poison them instead).
constexpr size_t kDynamicCanaryBytes = 1024;
constexpr size_t kDynamicStorageBytes =
    pybench::simt::kMaxDynamicSharedBytes + kDynamicCanaryBytes;
}  // namespace

// The memory behind every `extern __shared__` array: PYBENCH_SIMT_DYNAMIC_SHARED declares
// the kernel's name for it with this assembler name. Thread-local because the kernel's
// declaration is (`__shared__` is thread_local); one host thread runs a whole launch.
alignas(256) thread_local unsigned char pybench_simt_dynamic_shared_storage[kDynamicStorageBytes]
    __asm__("pybench_simt_dynamic_shared");

namespace pybench::simt {
namespace {

using detail::BarrierKind;
using detail::g_builtins;
using detail::WarpOp;

constexpr uint64_t kPoisonBits = ~uint64_t{0};  // what a read of an inactive lane returns
constexpr unsigned kWarp = 32;
constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr uint64_t kMaxBlocks = uint64_t{1} << 24;  // emulation time, not a CUDA limit

// Guard zones (past device arrays and dynamic shared memory, builds without ASan) hold this
// word at every 4-byte aligned address: a float NaN, so a stray read shows, and unlike the
// 0xFF poison of unwritten memory, so copying an unwritten value out of bounds shows too.
constexpr uint32_t kGuardWord = 0x7FA5A5A5u;
unsigned char guard_byte(const unsigned char* p) {
  return static_cast<unsigned char>(kGuardWord >> (8 * (reinterpret_cast<uintptr_t>(p) % 4)));
}
void fill_guard(unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) p[i] = guard_byte(p + i);
}
// Index of the first byte of [p, p + n) that lost the pattern, or n.
size_t guard_mismatch(const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != guard_byte(p + i)) return i;
  }
  return n;
}

// ---- Static __shared__ discovery ---------------------------------------------------------
// `__shared__ T x[N];` in a function is a block-scope thread_local: an STT_TLS symbol whose
// mangled name starts with _ZZ (a local entity) and whose st_value is its offset in the
// executable's TLS block. The probe below is such a variable with a known name, so
// (its address - its offset) is this thread's TLS block, and every other such symbol of
// the executable is a __shared__ variable to poison at block start.

[[gnu::noinline]] unsigned char* tls_probe() {
  thread_local unsigned char pybench_simt_tls_probe[16];
  return pybench_simt_tls_probe;
}

struct SharedVar {
  uintptr_t offset;
  size_t size;
  std::string name;
};

struct StaticShared {
  std::string error;  // empty when discovery worked
  uintptr_t probe_offset = 0;
  uintptr_t storage_offset = 0;  // of pybench_simt_dynamic_shared, to cross-check
  bool storage_found = false;
  std::vector<SharedVar> vars;
};

bool starts_with(const char* s, const char* prefix) {
  return std::strncmp(s, prefix, std::strlen(prefix)) == 0;
}

// Block-scope thread_locals that are not kernel shared memory.
bool excluded_local(const char* name) {
  static const char* const kPrefixes[] = {"_ZZNSt", "_ZZSt", "_ZZN9__gnu_cxx", "_ZZN7testing"};
  for (const char* p : kPrefixes) {
    if (starts_with(name, p)) return true;
  }
  return false;
}

StaticShared discover_static_shared() {
  StaticShared out;
  const int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    out.error = "cannot open /proc/self/exe";
    return out;
  }
  struct stat st {};
  void* map = MAP_FAILED;
  if (fstat(fd, &st) == 0 && st.st_size > 0) {
    map = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  }
  close(fd);
  if (map == MAP_FAILED) {
    out.error = "cannot map /proc/self/exe";
    return out;
  }
  const auto* base = static_cast<const unsigned char*>(map);
  const size_t file_size = static_cast<size_t>(st.st_size);
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base);
  uint64_t tls_memsz = 0;
  bool have_symtab = false;
  if (file_size < sizeof(Elf64_Ehdr) || std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
      eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_shentsize != sizeof(Elf64_Shdr) ||
      eh->e_shoff + uint64_t{eh->e_shnum} * sizeof(Elf64_Shdr) > file_size) {
    out.error = "the test executable is not a 64-bit ELF file";
  } else {
    const auto* ph = reinterpret_cast<const Elf64_Phdr*>(base + eh->e_phoff);
    for (unsigned i = 0; i < eh->e_phnum; ++i) {
      if (ph[i].p_type == PT_TLS) tls_memsz = ph[i].p_memsz;
    }
    const auto* sh = reinterpret_cast<const Elf64_Shdr*>(base + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum; ++i) {
      if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum) continue;
      have_symtab = true;
      const Elf64_Shdr& strtab = sh[sh[i].sh_link];
      const auto* syms = reinterpret_cast<const Elf64_Sym*>(base + sh[i].sh_offset);
      const size_t count = sh[i].sh_size / sizeof(Elf64_Sym);
      const char* names = reinterpret_cast<const char*>(base + strtab.sh_offset);
      for (size_t k = 0; k < count; ++k) {
        const Elf64_Sym& s = syms[k];
        if (ELF64_ST_TYPE(s.st_info) != STT_TLS || s.st_shndx == SHN_UNDEF || s.st_size == 0 ||
            s.st_name >= strtab.sh_size) {
          continue;
        }
        const char* name = names + s.st_name;
        if (std::strstr(name, "pybench_simt_tls_probe") != nullptr) {
          out.probe_offset = s.st_value;
        } else if (std::strcmp(name, "pybench_simt_dynamic_shared") == 0) {
          out.storage_offset = s.st_value;
          out.storage_found = true;
        } else if (starts_with(name, "_ZZ") && !excluded_local(name)) {
          if (s.st_value + s.st_size > tls_memsz) continue;  // not in the executable's block
          out.vars.push_back({s.st_value, s.st_size, name});
        }
      }
    }
    if (!have_symtab) out.error = "the test executable has no symbol table (stripped?)";
  }
  munmap(map, file_size);
  if (out.error.empty() && !out.storage_found) {
    out.error = "symbol pybench_simt_dynamic_shared not found in the symbol table";
  }
  std::sort(out.vars.begin(), out.vars.end(),
            [](const SharedVar& a, const SharedVar& b) { return a.offset < b.offset; });
  out.vars.erase(std::unique(out.vars.begin(), out.vars.end(),
                             [](const SharedVar& a, const SharedVar& b) {
                               return a.offset == b.offset;
                             }),
                 out.vars.end());
  if (const char* v = std::getenv("PYBENCH_SIMT_VERBOSE"); v != nullptr && *v && *v != '0') {
    std::fprintf(stderr, "pybench::simt: %zu static __shared__ variable(s)\n", out.vars.size());
    for (const SharedVar& var : out.vars) {
      std::fprintf(stderr, "  tls+%#zx %8zu bytes  %s\n", static_cast<size_t>(var.offset),
                   var.size, var.name.c_str());
    }
  }
  return out;
}

const StaticShared& static_shared() {
  static const StaticShared shared = discover_static_shared();
  return shared;
}

// ---- Fibers -------------------------------------------------------------------------------

enum class State : uint8_t { kRunnable, kBarrier, kWarp, kExited, kFailed };

struct Stack {
  unsigned char* map = nullptr;  // guard page, then the stack
  size_t map_bytes = 0;
  unsigned char* base = nullptr;  // lowest usable address
  size_t bytes = 0;
};

struct Fiber {
  ucontext_t ctx;
  Stack stack;
  bool stack_dirty = false;  // abandoned mid-kernel: its ASan shadow may be stale
  State state = State::kExited;
  uint3 tid{0, 0, 0};
  unsigned linear = 0, warp = 0, lane = 0;
  // The scheduling point it waits at.
  const char* file = "";
  int line = 0;
  BarrierKind barrier_kind = BarrierKind::kSync;
  int pred = 0;
  WarpOp op = WarpOp::kSyncwarp;
  unsigned mask = 0;
  uint64_t value = 0;
  int b = 0;
  int width = 32;
  // What the point returns.
  uint64_t result = 0;
  int result_pred = 0;
  void* asan_fake_stack = nullptr;
};

// A warp primitive some lanes of a warp wait in.
struct Collective {
  WarpOp op;
  unsigned mask;
  unsigned arrived;
  const char* file;
  int line;
};

struct Engine {
  std::atomic<bool> busy{false};
  Config config;
  LaunchStats stats;
  std::mt19937_64 rng;
  ucontext_t sched_ctx;
  const void* sched_stack_bottom = nullptr;
  size_t sched_stack_size = 0;
  size_t stack_bytes = 0;
  std::vector<std::unique_ptr<Fiber>> fibers;  // stable addresses: contexts point into them
  std::vector<unsigned> runnable;
  std::vector<std::vector<Collective>> pending;  // per warp
  unsigned nthreads = 0, nwarps = 0, exited = 0;
  std::string error;
  Fiber* current = nullptr;
  detail::KernelThunk thunk = nullptr;
  const void* thunk_data = nullptr;
};

Engine& engine() {
  static Engine e;
  return e;
}

const char* op_name(WarpOp op) {
  switch (op) {
    case WarpOp::kSyncwarp: return "__syncwarp";
    case WarpOp::kShflIdx: return "__shfl_sync";
    case WarpOp::kShflUp: return "__shfl_up_sync";
    case WarpOp::kShflDown: return "__shfl_down_sync";
    case WarpOp::kShflXor: return "__shfl_xor_sync";
    case WarpOp::kBallot: return "__ballot_sync";
    case WarpOp::kAll: return "__all_sync";
    case WarpOp::kAny: return "__any_sync";
    case WarpOp::kMatchAny: return "__match_any_sync";
    case WarpOp::kMatchAll: return "__match_all_sync";
    case WarpOp::kReduceAddU: return "__reduce_add_sync";
    case WarpOp::kReduceMinU:
    case WarpOp::kReduceMinS: return "__reduce_min_sync";
    case WarpOp::kReduceMaxU:
    case WarpOp::kReduceMaxS: return "__reduce_max_sync";
    case WarpOp::kReduceAnd: return "__reduce_and_sync";
    case WarpOp::kReduceOr: return "__reduce_or_sync";
    case WarpOp::kReduceXor: return "__reduce_xor_sync";
  }
  return "warp primitive";
}

const char* barrier_name(BarrierKind kind) {
  switch (kind) {
    case BarrierKind::kSync: return "__syncthreads()";
    case BarrierKind::kCount: return "__syncthreads_count()";
    case BarrierKind::kAnd: return "__syncthreads_and()";
    case BarrierKind::kOr: return "__syncthreads_or()";
  }
  return "barrier";
}

std::string thread_name(const Fiber& f) {
  std::ostringstream s;
  s << "thread (" << f.tid.x << "," << f.tid.y << "," << f.tid.z << ") [warp " << f.warp
    << " lane " << f.lane << "]";
  return s.str();
}

std::string where(const char* file, int line) {
  return std::string(file) + ":" + std::to_string(line);
}

std::string hex(unsigned v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

Stack make_stack(size_t bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  bytes = (bytes + page - 1) / page * page;
  void* p = mmap(nullptr, bytes + page, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) throw Error("pybench::simt: mmap of a fiber stack failed");
  // Guard page below the stack (stacks grow down): an overflow faults instead of
  // corrupting a neighbour.
  mprotect(p, page, PROT_NONE);
  Stack s;
  s.map = static_cast<unsigned char*>(p);
  s.map_bytes = bytes + page;
  s.base = s.map + page;
  s.bytes = bytes;
  return s;
}

void free_stack(Stack& s) {
  if (!s.map) return;
#if PYBENCH_SIMT_ASAN
  __asan_unpoison_memory_region(s.base, s.bytes);
#endif
  munmap(s.map, s.map_bytes);
  s = Stack{};
}

// Fiber side: back to the scheduler; returns when the scheduler resumes this fiber.
void suspend(Fiber& f) {
  Engine& e = engine();
#if PYBENCH_SIMT_ASAN
  __sanitizer_start_switch_fiber(&f.asan_fake_stack, e.sched_stack_bottom, e.sched_stack_size);
#endif
  swapcontext(&f.ctx, &e.sched_ctx);
#if PYBENCH_SIMT_ASAN
  __sanitizer_finish_switch_fiber(f.asan_fake_stack, &e.sched_stack_bottom, &e.sched_stack_size);
#endif
}

// Fiber side: leave for good (exited or failed).
[[noreturn]] void finish(Fiber& f) {
  Engine& e = engine();
#if PYBENCH_SIMT_ASAN
  __sanitizer_start_switch_fiber(nullptr, e.sched_stack_bottom, e.sched_stack_size);
#endif
  swapcontext(&f.ctx, &e.sched_ctx);
  std::abort();  // an exited fiber is never resumed
}

// Fiber side: stop the launch with engine().error, which the caller has set in a
// statement of its own (temporaries of this frame would never be destroyed: a failed
// fiber is abandoned, not unwound).
[[noreturn]] void fail(Fiber& f) {
  f.state = State::kFailed;
  finish(f);
}

void fiber_main() {
  Engine& e = engine();
#if PYBENCH_SIMT_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &e.sched_stack_bottom, &e.sched_stack_size);
#endif
  Fiber& f = *e.current;
  try {
    e.thunk(e.thunk_data);
  } catch (const std::exception& ex) {
    e.error = std::string("the kernel threw: ") + ex.what() + " in " + thread_name(f);
  } catch (...) {
    e.error = "the kernel threw a non-std exception in " + thread_name(f);
  }
  if (!e.error.empty()) fail(f);
  f.state = State::kExited;
  finish(f);
}

// Scheduler side: run f until its next scheduling point.
void resume(Engine& e, Fiber& f) {
  e.current = &f;
  g_builtins.thread_idx = f.tid;
  ++e.stats.switches;
#if PYBENCH_SIMT_ASAN
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(&fake_stack, f.stack.base, f.stack.bytes);
#endif
  swapcontext(&e.sched_ctx, &f.ctx);
#if PYBENCH_SIMT_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
  e.current = nullptr;
}

Fiber& current_fiber(const char* what) {
  Engine& e = engine();
  if (e.current == nullptr) {
    throw Error(std::string("pybench::simt: ") + what +
                " called outside a kernel run by pybench::simt::launch");
  }
  return *e.current;
}

// ---- Warp collectives ------------------------------------------------------------------------

unsigned live_mask(const Engine& e, unsigned warp) {
  unsigned m = 0;
  for (unsigned lane = 0; lane < kWarp; ++lane) {
    const unsigned t = warp * kWarp + lane;
    if (t < e.nthreads && e.fibers[t]->state != State::kExited) m |= 1u << lane;
  }
  return m;
}

// The source lane of a shuffle, as PTX shfl.sync defines it (c = ((32 - width) << 8) | clamp).
unsigned shuffle_source(WarpOp op, unsigned lane, int b, int width) {
  const int seg = (32 - width) & 0x1f;
  const int clamp = op == WarpOp::kShflUp ? 0 : 0x1f;
  const int l = static_cast<int>(lane);
  const int bval = b & 0x1f;
  const int max_lane = (l & seg) | (clamp & ~seg);
  const int min_lane = l & seg;
  int j = l;
  bool ok = false;
  switch (op) {
    case WarpOp::kShflUp: j = l - bval; ok = j >= max_lane; break;
    case WarpOp::kShflDown: j = l + bval; ok = j <= max_lane; break;
    case WarpOp::kShflXor: j = l ^ bval; ok = j <= max_lane; break;
    default: j = min_lane | (bval & ~seg); ok = j <= max_lane; break;
  }
  return static_cast<unsigned>(ok ? j : l);
}

void complete(Engine& e, unsigned warp, const Collective& c) {
  auto lane_fiber = [&](unsigned lane) -> Fiber& { return *e.fibers[warp * kWarp + lane]; };
  auto for_arrived = [&](auto&& fn) {
    for (unsigned lane = 0; lane < kWarp; ++lane) {
      if (c.arrived >> lane & 1u) fn(lane, lane_fiber(lane));
    }
  };
  uint64_t acc = 0;
  bool all = true, any = false;
  switch (c.op) {
    case WarpOp::kShflIdx:
    case WarpOp::kShflUp:
    case WarpOp::kShflDown:
    case WarpOp::kShflXor:
      for_arrived([&](unsigned lane, Fiber& f) {
        const unsigned src = shuffle_source(c.op, lane, f.b, f.width);
        f.result = (c.arrived >> src & 1u) ? lane_fiber(src).value : kPoisonBits;
      });
      break;
    case WarpOp::kBallot:
    case WarpOp::kAll:
    case WarpOp::kAny:
      for_arrived([&](unsigned lane, Fiber& f) {
        if (f.value) acc |= uint64_t{1} << lane;
        all = all && f.value != 0;
        any = any || f.value != 0;
      });
      for_arrived([&](unsigned, Fiber& f) {
        f.result = c.op == WarpOp::kBallot ? acc : (c.op == WarpOp::kAll ? all : any);
      });
      break;
    case WarpOp::kMatchAny:
    case WarpOp::kMatchAll: {
      for_arrived([&](unsigned, Fiber& f) {
        unsigned same = 0;
        for_arrived([&](unsigned other, Fiber& g) {
          if (g.value == f.value) same |= 1u << other;
        });
        f.result = same;
        all = all && same == c.arrived;
      });
      if (c.op == WarpOp::kMatchAll) {
        for_arrived([&](unsigned, Fiber& f) {
          f.result = all ? c.arrived : 0;
          f.result_pred = all ? 1 : 0;
        });
      }
      break;
    }
    case WarpOp::kReduceAddU:
    case WarpOp::kReduceMinU:
    case WarpOp::kReduceMaxU:
    case WarpOp::kReduceMinS:
    case WarpOp::kReduceMaxS:
    case WarpOp::kReduceAnd:
    case WarpOp::kReduceOr:
    case WarpOp::kReduceXor: {
      bool first = true;
      uint32_t r = 0;
      for_arrived([&](unsigned, Fiber& f) {
        const uint32_t v = static_cast<uint32_t>(f.value);
        if (first) {
          r = v;
          first = false;
          return;
        }
        switch (c.op) {
          case WarpOp::kReduceAddU: r += v; break;
          case WarpOp::kReduceMinU: r = std::min(r, v); break;
          case WarpOp::kReduceMaxU: r = std::max(r, v); break;
          case WarpOp::kReduceMinS:
            r = static_cast<uint32_t>(std::min(static_cast<int32_t>(r), static_cast<int32_t>(v)));
            break;
          case WarpOp::kReduceMaxS:
            r = static_cast<uint32_t>(std::max(static_cast<int32_t>(r), static_cast<int32_t>(v)));
            break;
          case WarpOp::kReduceAnd: r &= v; break;
          case WarpOp::kReduceOr: r |= v; break;
          default: r ^= v; break;
        }
      });
      for_arrived([&](unsigned, Fiber& f) { f.result = r; });
      break;
    }
    case WarpOp::kSyncwarp:
      break;
  }
  for_arrived([&](unsigned, Fiber& f) {
    f.state = State::kRunnable;
    e.runnable.push_back(f.linear);
  });
  ++e.stats.warp_collectives;
}

// Completes every collective of the warp whose live lanes have all arrived.
void try_complete(Engine& e, unsigned warp) {
  std::vector<Collective>& pend = e.pending[warp];
  if (pend.empty()) return;
  const unsigned live = live_mask(e, warp);
  for (size_t k = 0; k < pend.size();) {
    const unsigned required = pend[k].mask & live;
    if ((pend[k].arrived & required) == required) {
      const Collective c = pend[k];
      pend.erase(pend.begin() + static_cast<std::ptrdiff_t>(k));
      complete(e, warp, c);
    } else {
      ++k;
    }
  }
}

void arrive(Engine& e, Fiber& f) {
  std::vector<Collective>& pend = e.pending[f.warp];
  auto it = std::find_if(pend.begin(), pend.end(),
                         [&](const Collective& c) { return c.mask == f.mask; });
  if (it == pend.end()) {
    pend.push_back({f.op, f.mask, 0, f.file, f.line});
    it = pend.end() - 1;
  } else if (it->op != f.op) {
    e.error = "warp divergence: " + thread_name(f) + " called " + op_name(f.op) + " at " +
              where(f.file, f.line) + " while lanes " + hex(it->arrived) + " of its mask " +
              hex(f.mask) + " wait in " + op_name(it->op) + " at " + where(it->file, it->line);
    return;
  }
  it->arrived |= 1u << f.lane;
  try_complete(e, f.warp);
}

// ---- Block barrier and the stuck-block diagnosis ------------------------------------------

std::string describe_wait(const Fiber& f) {
  switch (f.state) {
    case State::kExited: return "has exited";
    case State::kBarrier:
      return std::string("waits at ") + barrier_name(f.barrier_kind) + " at " +
             where(f.file, f.line);
    case State::kWarp:
      return std::string("waits in ") + op_name(f.op) + " (mask " + hex(f.mask) + ") at " +
             where(f.file, f.line);
    default: return "is running";
  }
}

std::string describe_deadlock(const Engine& e) {
  std::ostringstream s;
  s << "deadlock: warp primitives whose lanes never arrive";
  int shown = 0;
  for (unsigned w = 0; w < e.nwarps && shown < 4; ++w) {
    const unsigned live = live_mask(e, w);
    for (const Collective& c : e.pending[w]) {
      if (shown++ >= 4) break;
      s << "\n  warp " << w << ": " << op_name(c.op) << " (mask " << hex(c.mask) << ") at "
        << where(c.file, c.line) << ", arrived " << hex(c.arrived);
      const unsigned missing = c.mask & live & ~c.arrived;
      for (unsigned lane = 0; lane < kWarp; ++lane) {
        if (missing >> lane & 1u) {
          const Fiber& f = *e.fibers[w * kWarp + lane];
          s << "; missing " << thread_name(f) << " " << describe_wait(f);
          break;
        }
      }
    }
  }
  return s.str();
}

// No fiber is ready: release the block barrier if every live thread waits at the same
// one, or record why the block is stuck. Returns false when the block is done or stuck.
bool release_barrier(Engine& e) {
  if (e.exited == e.nthreads) return false;
  for (unsigned w = 0; w < e.nwarps; ++w) {
    if (!e.pending[w].empty()) {
      e.error = describe_deadlock(e);
      return false;
    }
  }
  // Every thread has exited or waits at a barrier, and some wait.
  const Fiber* first = nullptr;
  const Fiber* exited = nullptr;
  for (unsigned t = 0; t < e.nthreads; ++t) {
    const Fiber& f = *e.fibers[t];
    if (f.state == State::kExited) {
      if (!exited) exited = &f;
    } else if (!first) {
      first = &f;
    } else if (f.line != first->line || f.barrier_kind != first->barrier_kind ||
               std::strcmp(f.file, first->file) != 0) {
      e.error = "barrier divergence: " + thread_name(*first) + " " + describe_wait(*first) +
                " but " + thread_name(f) + " " + describe_wait(f) +
                "; every thread of the block must reach the same barrier";
      return false;
    }
  }
  if (exited) {
    e.error = "barrier divergence: " + std::to_string(e.nthreads - e.exited) + " of " +
              std::to_string(e.nthreads) + " threads wait at " + barrier_name(first->barrier_kind) +
              " at " + where(first->file, first->line) + " but " + std::to_string(e.exited) +
              " have exited (e.g. " + thread_name(*exited) +
              "); every thread of the block must reach each barrier";
    return false;
  }
  int count = 0;
  for (unsigned t = 0; t < e.nthreads; ++t) count += e.fibers[t]->pred;
  int result = 0;
  switch (first->barrier_kind) {
    case BarrierKind::kSync: result = 0; break;
    case BarrierKind::kCount: result = count; break;
    case BarrierKind::kAnd: result = count == static_cast<int>(e.nthreads); break;
    case BarrierKind::kOr: result = count > 0; break;
  }
  for (unsigned t = 0; t < e.nthreads; ++t) {
    Fiber& f = *e.fibers[t];
    f.result = static_cast<uint64_t>(result);
    f.state = State::kRunnable;
    e.runnable.push_back(t);
  }
  ++e.stats.barriers;
  return true;
}

// ---- Blocks and grids ----------------------------------------------------------------------

void prepare_fibers(Engine& e, unsigned nthreads, size_t stack_bytes) {
  if (stack_bytes != e.stack_bytes) {
    for (auto& f : e.fibers) free_stack(f->stack);
    e.fibers.clear();
    e.stack_bytes = stack_bytes;
  }
  while (e.fibers.size() < nthreads) {
    auto f = std::make_unique<Fiber>();
    if (getcontext(&f->ctx) != 0) throw Error("pybench::simt: getcontext failed");
    f->stack = make_stack(stack_bytes);
    e.fibers.push_back(std::move(f));
  }
}

void run_block(Engine& e, dim3 block) {
  e.runnable.clear();
  for (auto& p : e.pending) p.clear();
  e.exited = 0;
  for (unsigned t = 0; t < e.nthreads; ++t) {
    Fiber& f = *e.fibers[t];
#if PYBENCH_SIMT_ASAN
    if (f.stack_dirty) __asan_unpoison_memory_region(f.stack.base, f.stack.bytes);
#endif
    f.stack_dirty = false;
    f.state = State::kRunnable;
    f.linear = t;
    f.warp = t / kWarp;
    f.lane = t % kWarp;
    f.tid = uint3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
    f.pred = 0;
    f.asan_fake_stack = nullptr;
    f.ctx.uc_stack.ss_sp = f.stack.base;
    f.ctx.uc_stack.ss_size = f.stack.bytes;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, &fiber_main, 0);
    // makecontext has put the stack into the registers; with uc_stack cleared, ASan's
    // swapcontext interceptor does not wipe the shadow (redzones) of a suspended fiber.
    f.ctx.uc_stack.ss_sp = nullptr;
    f.ctx.uc_stack.ss_size = 0;
    e.runnable.push_back(t);
  }
  e.stats.threads += e.nthreads;
  while (e.error.empty()) {
    if (e.runnable.empty()) {
      if (!release_barrier(e)) break;
      continue;
    }
    const size_t r = static_cast<size_t>(e.rng() % e.runnable.size());
    const unsigned t = e.runnable[r];
    e.runnable[r] = e.runnable.back();
    e.runnable.pop_back();
    Fiber& f = *e.fibers[t];
    resume(e, f);
    switch (f.state) {
      case State::kRunnable: e.runnable.push_back(t); break;
      case State::kBarrier: break;
      case State::kWarp: arrive(e, f); break;
      case State::kExited:
        ++e.exited;
        try_complete(e, f.warp);
        break;
      case State::kFailed: break;
    }
  }
  if (!e.error.empty()) {
    for (unsigned t = 0; t < e.nthreads; ++t) {
      if (e.fibers[t]->state != State::kExited) e.fibers[t]->stack_dirty = true;
    }
  }
}

void validate(const Config& config, dim3 grid, dim3 block, size_t shared_bytes) {
  std::ostringstream s;
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  if (block.x == 0 || block.y == 0 || block.z == 0 || block.x > 1024 || block.y > 1024 ||
      block.z > 64 || threads > kMaxThreadsPerBlock) {
    s << "invalid block (" << block.x << "," << block.y << "," << block.z
      << "): each dimension >= 1, x, y <= 1024, z <= 64, at most 1024 threads";
  } else if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u ||
             grid.y > 65535 || grid.z > 65535) {
    s << "invalid grid (" << grid.x << "," << grid.y << "," << grid.z
      << "): each dimension >= 1, x < 2^31, y, z <= 65535";
  } else if (uint64_t{grid.x} * grid.y * grid.z > kMaxBlocks) {
    s << "grid of " << uint64_t{grid.x} * grid.y * grid.z << " blocks is too large to emulate";
  } else if (shared_bytes > std::min(config.max_dynamic_shared_bytes, kMaxDynamicSharedBytes)) {
    s << "dynamic shared memory of " << shared_bytes << " bytes exceeds the limit of "
      << std::min(config.max_dynamic_shared_bytes, kMaxDynamicSharedBytes);
  } else if (config.stack_bytes < 16 * 1024) {
    s << "fiber stacks of " << config.stack_bytes << " bytes are too small";
  }
  if (!s.str().empty()) throw Error("pybench::simt: invalid launch configuration: " + s.str());
}

// Device arrays of builds without ASan, checked after every launch.
constexpr size_t kGuardBytes = 256;
std::mutex& guards_mutex() {
  static std::mutex m;
  return m;
}
std::map<unsigned char*, size_t>& guarded_blocks() {
  static std::map<unsigned char*, size_t> blocks;
  return blocks;
}

std::string check_device_guards() {
  std::lock_guard<std::mutex> lock(guards_mutex());
  for (auto& [block, bytes] : guarded_blocks()) {
    unsigned char* zones[2] = {block, block + kGuardBytes + bytes};
    for (int z = 0; z < 2; ++z) {
      const size_t i = guard_mismatch(zones[z], kGuardBytes);
      if (i == kGuardBytes) continue;
      const long offset = z == 0 ? -static_cast<long>(kGuardBytes - i)
                                 : static_cast<long>(bytes + i);
      fill_guard(zones[0], kGuardBytes);  // report it once
      fill_guard(zones[1], kGuardBytes);
      return "out-of-bounds write to global memory: byte " + std::to_string(offset) +
             " of a device array of " + std::to_string(bytes) + " bytes was written";
    }
  }
  return {};
}

uint64_t g_default_seed = 0;

}  // namespace

// ---- Public entry points ---------------------------------------------------------------------

const LaunchStats& last_launch_stats() { return engine().stats; }
void set_default_seed(uint64_t seed) { g_default_seed = seed; }
uint64_t default_seed() { return g_default_seed; }

namespace detail {

int block_barrier(BarrierKind kind, int pred, const char* file, int line) {
  Fiber& f = current_fiber(barrier_name(kind));
  f.state = State::kBarrier;
  f.barrier_kind = kind;
  f.pred = pred;
  f.file = file;
  f.line = line;
  suspend(f);
  f.pred = 0;
  return static_cast<int>(f.result);
}

uint64_t warp_collective(WarpOp op, unsigned mask, uint64_t value, int b, int width,
                         const char* file, int line, int* pred_out) {
  Fiber& f = current_fiber(op_name(op));
  if (!(mask >> f.lane & 1u)) {
    engine().error = std::string(op_name(op)) + " at " + where(file, line) + ": " +
                     thread_name(f) + " is not in its own mask " + hex(mask);
    fail(f);
  }
  if (width < 1 || width > 32 || (width & (width - 1)) != 0) {
    engine().error = std::string(op_name(op)) + " at " + where(file, line) + ": width " +
                     std::to_string(width) + " is not a power of two in [1, 32]";
    fail(f);
  }
  f.state = State::kWarp;
  f.op = op;
  f.mask = mask;
  f.value = value;
  f.b = b;
  f.width = width;
  f.file = file;
  f.line = line;
  f.result_pred = 0;
  suspend(f);
  if (pred_out) *pred_out = f.result_pred;
  return f.result;
}

void yield_point() {
  Engine& e = engine();
  if (e.current == nullptr || !e.config.yield_at_atomics) return;
  Fiber& f = *e.current;
  f.state = State::kRunnable;
  suspend(f);
}

unsigned live_lanes() {
  Engine& e = engine();
  if (e.current == nullptr) return 0;
  return live_mask(e, e.current->warp);
}

void trap(const char* what, const char* file, int line) {
  Fiber& f = current_fiber(what);
  engine().error = std::string(what) + " at " + where(file, line) + " in " + thread_name(f);
  fail(f);
}

void run_grid(const Config& config, dim3 grid, dim3 block, size_t shared_bytes,
              KernelThunk thunk, const void* data) {
  validate(config, grid, block, shared_bytes);
  Engine& e = engine();
  if (e.busy.exchange(true)) {
    throw Error("pybench::simt: launch() while another launch runs (launches are not re-entrant)");
  }
  struct Release {
    Engine& e;
    ~Release() { e.busy = false; }
  } release{e};

  const StaticShared& shared = static_shared();
  if (!shared.error.empty()) {
    throw Error("pybench::simt: cannot locate static __shared__ variables: " + shared.error);
  }
  const uintptr_t tls_base = reinterpret_cast<uintptr_t>(tls_probe()) - shared.probe_offset;
  unsigned char* const dynamic = pybench_simt_dynamic_shared_storage;
  if (tls_base + shared.storage_offset != reinterpret_cast<uintptr_t>(dynamic)) {
    throw Error("pybench::simt: the TLS block computed from the symbol table does not match; "
                "are the kernel, the test and the emulator linked into one executable?");
  }

  e.config = config;
  e.stats = LaunchStats{};
  e.rng.seed(config.seed);
  e.error.clear();
  e.thunk = thunk;
  e.thunk_data = data;
  e.nthreads = block.x * block.y * block.z;
  e.nwarps = (e.nthreads + kWarp - 1) / kWarp;
  e.pending.assign(e.nwarps, {});
  prepare_fibers(e, e.nthreads, config.stack_bytes);
  g_builtins.block_dim = block;
  g_builtins.grid_dim = grid;

#if PYBENCH_SIMT_ASAN
  // Past the launch's dynamic shared memory: poisoned for the whole launch.
  __asan_unpoison_memory_region(dynamic, kDynamicStorageBytes);
  __asan_poison_memory_region(dynamic + shared_bytes, kDynamicStorageBytes - shared_bytes);
  struct Unpoison {
    unsigned char* p;
    ~Unpoison() { __asan_unpoison_memory_region(p, kDynamicStorageBytes); }
  } unpoison{dynamic};
#else
  fill_guard(dynamic + shared_bytes, kDynamicCanaryBytes);
#endif

  const uint64_t nblocks = uint64_t{grid.x} * grid.y * grid.z;
  std::vector<uint64_t> order(nblocks);
  for (uint64_t i = 0; i < nblocks; ++i) order[i] = i;
  if (config.shuffle_blocks) {
    for (uint64_t i = nblocks; i > 1; --i) std::swap(order[i - 1], order[e.rng() % i]);
  }

  for (const uint64_t id : order) {
    const uint3 bidx{static_cast<unsigned>(id % grid.x),
                     static_cast<unsigned>(id / grid.x % grid.y),
                     static_cast<unsigned>(id / (uint64_t{grid.x} * grid.y))};
    g_builtins.block_idx = bidx;
    // Fresh shared memory for the block: 0xFF bytes, NaN as float.
    for (const SharedVar& var : shared.vars) {
      std::memset(reinterpret_cast<void*>(tls_base + var.offset), 0xFF, var.size);
    }
    if (shared_bytes) std::memset(dynamic, 0xFF, shared_bytes);
    ++e.stats.blocks;
    run_block(e, block);
#if !PYBENCH_SIMT_ASAN
    if (e.error.empty()) {
      const size_t i = guard_mismatch(dynamic + shared_bytes, kDynamicCanaryBytes);
      if (i != kDynamicCanaryBytes) {
        fill_guard(dynamic + shared_bytes, kDynamicCanaryBytes);
        e.error = "out-of-bounds write to dynamic shared memory: byte " +
                  std::to_string(shared_bytes + i) + " written, the launch has " +
                  std::to_string(shared_bytes) + " bytes";
      }
    }
#endif
    if (!e.error.empty()) {
      std::ostringstream s;
      s << "pybench::simt: " << e.error << "\n  [block (" << bidx.x << "," << bidx.y << ","
        << bidx.z << ") of grid (" << grid.x << "," << grid.y << "," << grid.z
        << "), block size (" << block.x << "," << block.y << "," << block.z
        << "), dynamic shared " << shared_bytes << " bytes, seed " << config.seed << "]";
      throw Error(s.str());
    }
  }
  const std::string guard_error = check_device_guards();
  if (!guard_error.empty()) {
    throw Error("pybench::simt: " + guard_error + " (seed " + std::to_string(config.seed) + ")");
  }
}

// ---- Guarded device memory ---------------------------------------------------------------------

GuardedAllocation::GuardedAllocation(size_t bytes) : bytes_(bytes) {
  void* p = nullptr;
#if PYBENCH_SIMT_ASAN
  // Exactly `bytes`: ASan's redzone starts at the first byte past the array.
  if (posix_memalign(&p, 256, bytes) != 0) throw std::bad_alloc();
  block_ = static_cast<unsigned char*>(p);
  data_ = block_;
#else
  if (posix_memalign(&p, 256, bytes + 2 * kGuardBytes) != 0) throw std::bad_alloc();
  block_ = static_cast<unsigned char*>(p);
  data_ = block_ + kGuardBytes;
  fill_guard(block_, kGuardBytes);
  fill_guard(block_ + kGuardBytes + bytes, kGuardBytes);
  std::lock_guard<std::mutex> lock(guards_mutex());
  guarded_blocks()[block_] = bytes;
#endif
}

GuardedAllocation::~GuardedAllocation() { release(); }

GuardedAllocation::GuardedAllocation(GuardedAllocation&& other) noexcept
    : block_(other.block_), data_(other.data_), bytes_(other.bytes_) {
  other.block_ = nullptr;
  other.data_ = nullptr;
  other.bytes_ = 0;
}

GuardedAllocation& GuardedAllocation::operator=(GuardedAllocation&& other) noexcept {
  if (this != &other) {
    release();
    std::swap(block_, other.block_);
    std::swap(data_, other.data_);
    std::swap(bytes_, other.bytes_);
  }
  return *this;
}

void GuardedAllocation::release() {
  if (!block_) return;
#if !PYBENCH_SIMT_ASAN
  {
    std::lock_guard<std::mutex> lock(guards_mutex());
    guarded_blocks().erase(block_);
  }
#endif
  std::free(block_);
  block_ = nullptr;
  data_ = nullptr;
  bytes_ = 0;
}

}  // namespace detail
}  // namespace pybench::simt
