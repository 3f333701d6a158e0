#pragma once
// The CPU's data caches, read once per process, that every CPU kernel sizes its blocking
// from (conv2d's plane slab, the depthwise planes, the separable mid tile, Gram's panel
// and chunk, the LSTM's K chunk: each op's header derives its sizes from cpu_caches()).
//
// Sizes are bytes of ONE cache instance, the one logical CPU 0 uses:
//   l1d, l2  per core on every x86 core the kernels target (on an SMT core the sibling
//            thread shares them; on Intel E-core clusters four cores share one L2);
//   l3       the TOTAL of the L3 instance CPU 0 belongs to, not a per-core share: the
//            number of cores that really share it is not in CPUID (leaf 4's "sharing"
//            field is the maximum addressable, 128 on a 56-core Sapphire Rapids), and no
//            kernel reads it today. Zen's L3 is per CCX / CCD (8 MiB on Zen 1, 32 MiB on
//            Zen 4), Intel's per socket. 0: none, or not known.
// Where they come from, in order:
//   "cpuid"    leaf 4 (deterministic cache parameters) on Intel and the others that
//              implement it; leaf 0x8000001D on AMD / Hygon when CPUID 0x80000001
//              ECX[22] (TopologyExtensions) says it exists;
//   "sysfs"    /sys/devices/system/cpu/cpu0/cache/index*/{level,type,size,
//              coherency_line_size}, where CPUID gave no L1d or no L2 (non-x86, a
//              hypervisor that hides the leaves);
//   "default"  kDefaultCpuCaches below, where both failed;
//   "override" the environment variable PYBENCH_CPU_CACHES=l1d=32K,l2=512K,l3=8M (any
//              subset; sizes in bytes with an optional K / M / G suffix, binary) replaced
//              at least one size; the others, and `detected_source`, are the detection's.
// A malformed PYBENCH_CPU_CACHES is an error, not a silent default: cpu_caches() throws
// std::invalid_argument naming the variable and the bad part every time it is called, so
// every kernel call fails with it (and pybench.ops raises ValueError at import).
//
// The parsers take their input as data (a CPUID callback, a sysfs directory, a string)
// so tests/cpp/cpu_caches_test.cc feeds them recorded machines.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace pybench::kernels::cpu {

struct CpuCaches {
  int64_t l1d = 0;   // bytes, L1 data cache
  int64_t l2 = 0;    // bytes, L2 (unified)
  int64_t l3 = 0;    // bytes, the whole L3 instance; 0: none / unknown
  int64_t line = 0;  // bytes, the L1d's coherency line size
  std::string vendor;   // CPUID vendor string ("GenuineIntel", "AuthenticAMD"); "" off x86
  int family = 0;       // display family (base + extended), as /proc/cpuinfo prints it
  int model = 0;        // display model (extended model folded in for families 6 and 15)
  std::string source;   // "cpuid" | "sysfs" | "default" | "override"
  std::string detected_source;  // where the sizes not overridden came from

  // Both sizes the kernels need are known.
  bool complete() const { return l1d > 0 && l2 > 0; }
};

// The fallback when neither CPUID nor sysfs describes the caches: a 32 KiB L1d and a
// 1 MiB L2 (Zen 4's), on which every kernel's derived blocking equals the constants it
// had before the sizes were read at run time.
inline CpuCaches default_cpu_caches() {
  CpuCaches c;
  c.l1d = 32 * 1024;
  c.l2 = 1024 * 1024;
  c.l3 = 0;
  c.line = 64;
  c.source = c.detected_source = "default";
  return c;
}

// ---- Parsers (pure: input as data) -----------------------------------------------------
struct CpuidRegs {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};
// cpuid(leaf, subleaf). The parser asks only for leaves the CPU reports (leaf 0 and
// 0x80000000 give the highest basic / extended leaf).
using CpuidFn = std::function<CpuidRegs(uint32_t leaf, uint32_t subleaf)>;

// Vendor, family, model and whatever cache levels CPUID describes (source "cpuid"); sizes
// it does not describe stay 0, so check complete().
CpuCaches parse_cpuid_caches(const CpuidFn& cpuid);
// The index*/ entries of a Linux cache directory (e.g. /sys/devices/system/cpu/cpu0/cache),
// source "sysfs"; an entry with a missing or malformed file is skipped, a missing
// directory gives nothing. Identity fields stay empty.
CpuCaches parse_sysfs_caches(const std::string& cache_dir);

// "32768", "32K", "2M", "1G" (also "32KB", "32KiB"; suffixes case-insensitive, binary)
// -> bytes; std::nullopt for anything else, 0, or more than 1 TiB.
std::optional<int64_t> parse_cache_size(const std::string& text);

struct CpuCachesOverride {
  std::optional<int64_t> l1d, l2, l3;
};
// "l1d=32K,l2=512K,l3=8M", any subset in any order, spaces around items allowed; "" (or
// blanks) is no override. Throws std::invalid_argument naming the bad part: an unknown
// key, a key given twice, an item without '=', a bad size.
CpuCachesOverride parse_cpu_caches_override(const std::string& spec);
// `detected` with the override's sizes; source "override" when it set any.
CpuCaches apply_cpu_caches_override(const CpuCaches& detected, const CpuCachesOverride& o);

// ---- The process's description ---------------------------------------------------------
// CPUID, then sysfs, then the default; once per process (thread-safe), no override.
const CpuCaches& detected_cpu_caches();
// What the kernels use: detected_cpu_caches() with PYBENCH_CPU_CACHES applied (read once),
// or the description set_cpu_caches_for_testing() installed. Lock-free (one atomic
// load), so kernels call it per call. Throws std::invalid_argument when the variable is
// malformed.
const CpuCaches& cpu_caches();

// Test hook: from now on cpu_caches() is detected_cpu_caches() with `spec` (the
// PYBENCH_CPU_CACHES syntax) applied, so one process can run the kernels under a 512 KiB
// and a 2 MiB L2; "" restores the process's own description (the environment's). Throws
// std::invalid_argument, changing nothing, on a malformed spec. Not for use while
// kernels run on other threads: a call already planned keeps the sizes it read.
void set_cpu_caches_for_testing(const std::string& spec);

// "48 KiB", "2 MiB", "105 MiB", "0 B": for messages and the benchmark context.
std::string format_cache_size(int64_t bytes);

}  // namespace pybench::kernels::cpu
