// The cache-description parsers on recorded machines (CPUID register dumps, sysfs trees
// written here), the PYBENCH_CPU_CACHES syntax, the test hook, and the blocking each
// kernel derives on the machines its comments name.
#include "common/cpu_caches.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>

#include <unistd.h>

#include "conv2d/conv2d.h"
#include "depthwise_conv2d/depthwise_conv2d.h"
#include "gram/gram_blocking.h"
#include "lstm/lstm.h"
#include "separable_conv2d/separable_conv2d.h"

namespace {

namespace kcpu = pybench::kernels::cpu;
using kcpu::CpuCaches;
using kcpu::CpuidRegs;

constexpr int64_t KiB = 1024, MiB = 1024 * 1024;

// ---- CPUID -----------------------------------------------------------------------------
// Leaf 4 / 0x8000001D registers of one cache level, encoded as the CPU does:
//   EAX = type | level << 5 | self-initialising << 8 | (threads sharing - 1) << 14
//         (| (cores - 1) << 26 on Intel)
//   EBX = (line - 1) | (partitions - 1) << 12 | (ways - 1) << 22;  ECX = sets - 1.
// The dumps below are these values for real parts, checked against published CPUID dumps.
CpuidRegs cache_leaf(uint32_t type, uint32_t level, uint32_t sharing, uint32_t cores,
                     uint32_t ways, uint32_t sets, uint32_t edx = 0) {
  CpuidRegs r;
  r.eax = type | level << 5 | 1u << 8 | (sharing - 1) << 14 | (cores > 0 ? (cores - 1) << 26 : 0);
  r.ebx = (64 - 1) | (1 - 1) << 12 | (ways - 1) << 22;
  r.ecx = sets - 1;
  r.edx = edx;
  return r;
}

// A recorded CPU: every (leaf, subleaf) it was asked; anything else reads as zeros, as a
// leaf past the reported maximum does on real parts.
struct RecordedCpu {
  std::map<std::pair<uint32_t, uint32_t>, CpuidRegs> leaves;
  mutable std::map<uint32_t, int> asked;  // per leaf, for checking what the parser reads
  kcpu::CpuidFn fn() const {
    return [this](uint32_t leaf, uint32_t sub) {
      ++asked[leaf];
      const auto it = leaves.find({leaf, sub});
      return it == leaves.end() ? CpuidRegs{} : it->second;
    };
  }
};

// Vendor string into leaf 0's EBX, EDX, ECX (in that order).
CpuidRegs leaf0(uint32_t max_leaf, const char (&vendor)[13]) {
  auto word = [&](int i) {
    return static_cast<uint32_t>(static_cast<unsigned char>(vendor[i])) |
           static_cast<uint32_t>(static_cast<unsigned char>(vendor[i + 1])) << 8 |
           static_cast<uint32_t>(static_cast<unsigned char>(vendor[i + 2])) << 16 |
           static_cast<uint32_t>(static_cast<unsigned char>(vendor[i + 3])) << 24;
  };
  return {max_leaf, word(0), word(8), word(4)};
}

// Xeon Platinum 8480+ (Sapphire Rapids, family 6 model 0x8F stepping 8, 56 cores):
// L1d 48 KiB 12-way 64 sets, L1i 32 KiB 8-way, L2 2 MiB 16-way 2048 sets, L3 105 MiB
// 15-way 114688 sets. Leaf 4 reports 2 threads per core cache and 128 sharing the L3.
RecordedCpu sapphire_rapids() {
  RecordedCpu cpu;
  cpu.leaves[{0, 0}] = leaf0(0x20, "GenuineIntel");
  cpu.leaves[{1, 0}] = {0x000806F8, 0, 0, 0};
  cpu.leaves[{0x80000000u, 0}] = {0x80000008u, 0, 0, 0};
  cpu.leaves[{4, 0}] = cache_leaf(1, 1, 2, 64, 12, 64);
  cpu.leaves[{4, 1}] = cache_leaf(2, 1, 2, 64, 8, 64);
  cpu.leaves[{4, 2}] = cache_leaf(3, 2, 2, 64, 16, 2048);
  cpu.leaves[{4, 3}] = cache_leaf(3, 3, 128, 64, 15, 114688, 0x4);
  return cpu;
}

// Ryzen 7 1800X (Zen 1, family 0x17 model 1): L1d 32 KiB 8-way 64 sets, L1i 64 KiB 4-way
// 256 sets, L2 512 KiB 8-way 1024 sets, L3 8 MiB 16-way 8192 sets per CCX (8 threads).
// CPUID 0x80000001 ECX = 0x35C233FF has bit 22, TopologyExtensions.
RecordedCpu zen1(bool topoext = true) {
  RecordedCpu cpu;
  cpu.leaves[{0, 0}] = leaf0(0xD, "AuthenticAMD");
  cpu.leaves[{1, 0}] = {0x00800F11, 0, 0, 0};
  cpu.leaves[{0x80000000u, 0}] = {0x8000001Fu, 0, 0, 0};
  cpu.leaves[{0x80000001u, 0}] = {0x00800F11, 0, topoext ? 0x35C233FFu : 0x35C233FFu & ~(1u << 22), 0};
  cpu.leaves[{0x8000001Du, 0}] = cache_leaf(1, 1, 2, 0, 8, 64);
  cpu.leaves[{0x8000001Du, 1}] = cache_leaf(2, 1, 2, 0, 4, 256);
  cpu.leaves[{0x8000001Du, 2}] = cache_leaf(3, 2, 2, 0, 8, 1024, 0x2);
  cpu.leaves[{0x8000001Du, 3}] = cache_leaf(3, 3, 8, 0, 16, 8192, 0x1);
  return cpu;
}

TEST(CpuCachesCpuid, EncodingMatchesPublishedDumps) {
  // Spot checks of the encoder against the registers real parts print (cpuid -r).
  const RecordedCpu spr = sapphire_rapids();
  EXPECT_EQ(spr.leaves.at({4, 0}).eax, 0xFC004121u);
  EXPECT_EQ(spr.leaves.at({4, 0}).ebx, 0x02C0003Fu);
  EXPECT_EQ(spr.leaves.at({4, 2}).ecx, 0x000007FFu);
  const RecordedCpu zen = zen1();
  EXPECT_EQ(zen.leaves.at({0x8000001Du, 0}).eax, 0x00004121u);
  EXPECT_EQ(zen.leaves.at({0x8000001Du, 2}).eax, 0x00004143u);
  EXPECT_EQ(zen.leaves.at({0x8000001Du, 3}).eax, 0x0001C163u);
  EXPECT_EQ(zen.leaves.at({0x8000001Du, 3}).ebx, 0x03C0003Fu);
  EXPECT_EQ(zen.leaves.at({0x8000001Du, 3}).ecx, 0x00001FFFu);
}

TEST(CpuCachesCpuid, IntelLeaf4) {
  const RecordedCpu cpu = sapphire_rapids();
  const CpuCaches c = kcpu::parse_cpuid_caches(cpu.fn());
  EXPECT_EQ(c.vendor, "GenuineIntel");
  EXPECT_EQ(c.family, 6);
  EXPECT_EQ(c.model, 0x8F);
  EXPECT_EQ(c.l1d, 48 * KiB);  // not the 32 KiB L1i
  EXPECT_EQ(c.l2, 2 * MiB);
  EXPECT_EQ(c.l3, 105 * MiB);
  EXPECT_EQ(c.line, 64);
  EXPECT_EQ(c.source, "cpuid");
  EXPECT_TRUE(c.complete());
  EXPECT_EQ(cpu.asked[0x8000001Du], 0) << "Intel has no leaf 0x8000001D";
  EXPECT_EQ(cpu.asked[4], 5) << "subleaves 0-3 and the terminating type-0 one";
}

TEST(CpuCachesCpuid, AmdLeaf8000001D) {
  const RecordedCpu cpu = zen1();
  const CpuCaches c = kcpu::parse_cpuid_caches(cpu.fn());
  EXPECT_EQ(c.vendor, "AuthenticAMD");
  EXPECT_EQ(c.family, 0x17);
  EXPECT_EQ(c.model, 1);
  EXPECT_EQ(c.l1d, 32 * KiB);  // not the 64 KiB L1i
  EXPECT_EQ(c.l2, 512 * KiB);
  EXPECT_EQ(c.l3, 8 * MiB);    // the CCX's, not the package's 16 MiB
  EXPECT_EQ(c.line, 64);
  EXPECT_TRUE(c.complete());
  EXPECT_EQ(cpu.asked[4], 0) << "AMD's leaf 4 is reserved";
}

TEST(CpuCachesCpuid, AmdWithoutTopologyExtensionsIsIncomplete) {
  const RecordedCpu cpu = zen1(/*topoext=*/false);
  const CpuCaches c = kcpu::parse_cpuid_caches(cpu.fn());
  EXPECT_EQ(c.vendor, "AuthenticAMD");
  EXPECT_FALSE(c.complete());
  EXPECT_EQ(cpu.asked[0x8000001Du], 0) << "the leaf may not exist without the bit";
}

TEST(CpuCachesCpuid, LeavesPastTheMaximumAreNotRead) {
  RecordedCpu cpu = sapphire_rapids();
  cpu.leaves[{0, 0}] = leaf0(2, "GenuineIntel");  // a hypervisor capping the basic leaves
  const CpuCaches c = kcpu::parse_cpuid_caches(cpu.fn());
  EXPECT_FALSE(c.complete());
  EXPECT_EQ(cpu.asked[4], 0);
}

TEST(CpuCachesCpuid, HiddenLeavesAreIncomplete) {
  // Leaf 4 all zeros (type 0 at subleaf 0): nothing described.
  RecordedCpu cpu;
  cpu.leaves[{0, 0}] = leaf0(0xD, "GenuineIntel");
  const CpuCaches c = kcpu::parse_cpuid_caches(cpu.fn());
  EXPECT_EQ(c.l1d, 0);
  EXPECT_EQ(c.l2, 0);
  EXPECT_FALSE(c.complete());
}

// ---- sysfs -----------------------------------------------------------------------------
class SysfsTree {
 public:
  SysfsTree() {
    root_ = std::filesystem::temp_directory_path() /
            ("pybench_cpu_caches_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  ~SysfsTree() { std::filesystem::remove_all(root_); }
  void add(int index, const std::map<std::string, std::string>& files) {
    const auto dir = root_ / ("index" + std::to_string(index));
    std::filesystem::create_directories(dir);
    for (const auto& [name, text] : files) std::ofstream(dir / name) << text << "\n";
  }
  std::string path() const { return root_.string(); }

 private:
  std::filesystem::path root_;
};

std::map<std::string, std::string> entry(const char* level, const char* type, const char* size,
                                         const char* shared = "0-1") {
  return {{"level", level}, {"type", type}, {"size", size},
          {"coherency_line_size", "64"}, {"shared_cpu_list", shared}};
}

TEST(CpuCachesSysfs, Zen4Tree) {
  // Ryzen 9 7950X as Linux prints it, indices out of creation order on purpose.
  SysfsTree t;
  t.add(3, entry("3", "Unified", "32768K", "0-7,16-23"));
  t.add(0, entry("1", "Data", "32K", "0,16"));
  t.add(1, entry("1", "Instruction", "32K", "0,16"));
  t.add(2, entry("2", "Unified", "1024K", "0,16"));
  const CpuCaches c = kcpu::parse_sysfs_caches(t.path());
  EXPECT_EQ(c.l1d, 32 * KiB);
  EXPECT_EQ(c.l2, 1 * MiB);
  EXPECT_EQ(c.l3, 32 * MiB);
  EXPECT_EQ(c.line, 64);
  EXPECT_EQ(c.source, "sysfs");
  EXPECT_TRUE(c.complete());
}

TEST(CpuCachesSysfs, InstructionCacheFirstAndDoubleDigitIndices) {
  // An L1i listed before the L1d must not be taken for it; index10 sorts after index2.
  SysfsTree t;
  t.add(0, entry("1", "Instruction", "64K"));
  t.add(1, entry("1", "Data", "48K"));
  t.add(2, entry("2", "Unified", "2048K"));
  t.add(10, entry("3", "Unified", "107520K"));
  const CpuCaches c = kcpu::parse_sysfs_caches(t.path());
  EXPECT_EQ(c.l1d, 48 * KiB);
  EXPECT_EQ(c.l2, 2 * MiB);
  EXPECT_EQ(c.l3, 105 * MiB);
}

TEST(CpuCachesSysfs, MalformedEntriesAreSkipped) {
  SysfsTree t;
  t.add(0, entry("1", "Data", "lots"));
  t.add(1, {{"level", "2"}, {"type", "Unified"}});  // no size
  t.add(2, entry("2", "Unified", "512K"));
  const CpuCaches c = kcpu::parse_sysfs_caches(t.path());
  EXPECT_EQ(c.l1d, 0);
  EXPECT_EQ(c.l2, 512 * KiB);
  EXPECT_FALSE(c.complete());
}

TEST(CpuCachesSysfs, MissingDirectoryGivesNothing) {
  const CpuCaches c = kcpu::parse_sysfs_caches("/nonexistent/pybench/cache");
  EXPECT_FALSE(c.complete());
  EXPECT_EQ(c.l3, 0);
}

// ---- sizes and the override ------------------------------------------------------------
TEST(CpuCachesOverride, Sizes) {
  EXPECT_EQ(kcpu::parse_cache_size("32768"), 32 * KiB);
  EXPECT_EQ(kcpu::parse_cache_size("32K"), 32 * KiB);
  EXPECT_EQ(kcpu::parse_cache_size("32k"), 32 * KiB);
  EXPECT_EQ(kcpu::parse_cache_size("32KiB"), 32 * KiB);
  EXPECT_EQ(kcpu::parse_cache_size("32kb"), 32 * KiB);
  EXPECT_EQ(kcpu::parse_cache_size("2M"), 2 * MiB);
  EXPECT_EQ(kcpu::parse_cache_size("1G"), 1024 * MiB);
  EXPECT_EQ(kcpu::parse_cache_size("1024G"), int64_t{1} << 40);
  for (const char* bad : {"", "K", "0", "0K", "-1K", "1.5M", "32 K", "32KK", "32T", "1025G",
                          "99999999999999999999", "0x20K", "32Kb2"}) {
    EXPECT_FALSE(kcpu::parse_cache_size(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(CpuCachesOverride, AnySubsetInAnyOrder) {
  auto o = kcpu::parse_cpu_caches_override("l1d=32K,l2=512K,l3=8M");
  EXPECT_EQ(o.l1d, 32 * KiB);
  EXPECT_EQ(o.l2, 512 * KiB);
  EXPECT_EQ(o.l3, 8 * MiB);
  o = kcpu::parse_cpu_caches_override(" l2 = 2M ");
  EXPECT_FALSE(o.l1d.has_value());
  EXPECT_EQ(o.l2, 2 * MiB);
  EXPECT_FALSE(o.l3.has_value());
  o = kcpu::parse_cpu_caches_override("l3=1M, l1d=48K");
  EXPECT_EQ(o.l1d, 48 * KiB);
  EXPECT_EQ(o.l3, 1 * MiB);
  o = kcpu::parse_cpu_caches_override("  ");
  EXPECT_FALSE(o.l1d || o.l2 || o.l3) << "blank is no override";
}

TEST(CpuCachesOverride, BadSyntaxNamesTheBadPart) {
  const std::pair<const char*, const char*> cases[] = {
      {"l2=12Q", "bad size '12Q' for l2"},
      {"l2=", "bad size '' for l2"},
      {"l4=1M", "unknown cache 'l4'"},
      {"L2=1M", "unknown cache 'L2'"},
      {"l1=32K", "unknown cache 'l1'"},
      {"l2=1M,l2=2M", "'l2' given twice"},
      {"l2", "item 'l2' is not key=size"},
      {"l1d=32K,,l2=1M", "item '' is not key=size"},
      {"l1d=32K;l2=1M", "bad size '32K;l2=1M' for l1d"},
  };
  for (const auto& [spec, message] : cases) {
    try {
      kcpu::parse_cpu_caches_override(spec);
      ADD_FAILURE() << "'" << spec << "' was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos)
          << "'" << spec << "': " << e.what();
    }
  }
}

TEST(CpuCachesOverride, ApplyKeepsTheRest) {
  const CpuCaches detected = kcpu::parse_cpuid_caches(sapphire_rapids().fn());
  const CpuCaches c =
      kcpu::apply_cpu_caches_override(detected, kcpu::parse_cpu_caches_override("l2=512K"));
  EXPECT_EQ(c.l1d, 48 * KiB);
  EXPECT_EQ(c.l2, 512 * KiB);
  EXPECT_EQ(c.l3, 105 * MiB);
  EXPECT_EQ(c.source, "override");
  EXPECT_EQ(c.detected_source, "cpuid");
  EXPECT_EQ(c.vendor, "GenuineIntel");
  const CpuCaches same = kcpu::apply_cpu_caches_override(detected, {});
  EXPECT_EQ(same.source, "cpuid");
}

// ---- the process's description ---------------------------------------------------------
// ctest runs this binary again under PYBENCH_CPU_CACHES=l1d=32K,l2=512K and =l2=12Q.
TEST(CpuCachesProcess, DetectedIsCompleteAndEnvironmentApplies) {
  const CpuCaches& d = kcpu::detected_cpu_caches();
  EXPECT_TRUE(d.complete());
  EXPECT_GE(d.l2, d.l1d);
  EXPECT_NE(d.source, "override");
  EXPECT_EQ(d.source, d.detected_source);
  const char* env = std::getenv("PYBENCH_CPU_CACHES");
  kcpu::CpuCachesOverride o;
  bool malformed = false;
  try {
    o = kcpu::parse_cpu_caches_override(env ? env : "");
  } catch (const std::invalid_argument&) {
    malformed = true;
  }
  if (malformed) {
    try {
      kcpu::cpu_caches();
      ADD_FAILURE() << "cpu_caches() accepted PYBENCH_CPU_CACHES=" << env;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("PYBENCH_CPU_CACHES='") + env + "'"),
                std::string::npos)
          << e.what();
    }
    return;
  }
  const CpuCaches& c = kcpu::cpu_caches();
  EXPECT_EQ(c.l1d, o.l1d.value_or(d.l1d));
  EXPECT_EQ(c.l2, o.l2.value_or(d.l2));
  EXPECT_EQ(c.l3, o.l3.value_or(d.l3));
  EXPECT_EQ(c.source, o.l1d || o.l2 || o.l3 ? "override" : d.source);
}

TEST(CpuCachesProcess, TestingHookSwitchesAndRestores) {
  CpuCaches before;
  try {
    before = kcpu::cpu_caches();
  } catch (const std::invalid_argument&) {
    GTEST_SKIP() << "PYBENCH_CPU_CACHES is malformed; the test above checks that";
  }
  kcpu::set_cpu_caches_for_testing("l2=512K");
  EXPECT_EQ(kcpu::cpu_caches().l2, 512 * KiB);
  EXPECT_EQ(kcpu::cpu_caches().l1d, kcpu::detected_cpu_caches().l1d) << "over the detected";
  EXPECT_EQ(kcpu::cpu_caches().source, "override");
  kcpu::set_cpu_caches_for_testing("l1d=16K,l2=2M");
  EXPECT_EQ(kcpu::cpu_caches().l1d, 16 * KiB);
  EXPECT_EQ(kcpu::cpu_caches().l2, 2 * MiB);
  EXPECT_THROW(kcpu::set_cpu_caches_for_testing("l2=2X"), std::invalid_argument);
  EXPECT_EQ(kcpu::cpu_caches().l2, 2 * MiB) << "a refused spec changes nothing";
  kcpu::set_cpu_caches_for_testing(" ");
  EXPECT_EQ(kcpu::cpu_caches().l1d, before.l1d);
  EXPECT_EQ(kcpu::cpu_caches().l2, before.l2);
  EXPECT_EQ(kcpu::cpu_caches().source, before.source);
}

// ---- the blocking each kernel derives ----------------------------------------------------
CpuCaches machine(int64_t l1d, int64_t l2) {
  CpuCaches c = kcpu::default_cpu_caches();
  c.l1d = l1d;
  c.l2 = l2;
  return c;
}

// Sapphire Rapids and Zen 4 keep the constants the kernels had before (768 KiB slab,
// 24 KiB planes, 512 KiB mid tile, 512 / 640 AVX-512 LSTM K), as does the
// default description; Zen 1's 512 KiB L2 shrinks the L2 blockings.
TEST(CpuCachesBlocking, TunedMachinesKeepTheirConstants) {
  for (const CpuCaches& c : {machine(48 * KiB, 2 * MiB), machine(32 * KiB, 1 * MiB),
                             kcpu::default_cpu_caches()}) {
    SCOPED_TRACE("l1d " + std::to_string(c.l1d) + ", l2 " + std::to_string(c.l2));
    EXPECT_EQ(pybench::kernels::conv2d_slab_bytes(c), 768 * KiB);
    EXPECT_EQ(pybench::kernels::depthwise_plane_bytes(c), 24 * KiB);
    EXPECT_EQ(pybench::kernels::separable_mid_bytes(c), 512 * KiB);
    EXPECT_EQ(kcpu::lstm_k_blocking(c, kcpu::CpuIsa::avx512).chunk_k, 512);
    EXPECT_EQ(kcpu::lstm_k_blocking(c, kcpu::CpuIsa::avx512).direct_max_k, 640);
    // AVX2's chunk is half the L1d (lstm_k_blocking_l1): 192 k on 48 KiB, 128 on 32 KiB.
    EXPECT_EQ(kcpu::lstm_k_blocking(c, kcpu::CpuIsa::avx2).chunk_k, c.l1d == 48 * KiB ? 192 : 128);
  }
}

TEST(CpuCachesBlocking, SmallerCachesShrinkIt) {
  const CpuCaches zen1 = machine(32 * KiB, 512 * KiB);
  EXPECT_EQ(pybench::kernels::conv2d_slab_bytes(zen1), 384 * KiB);
  EXPECT_EQ(pybench::kernels::depthwise_plane_bytes(zen1), 24 * KiB);
  EXPECT_EQ(pybench::kernels::separable_mid_bytes(zen1), 256 * KiB);
  EXPECT_EQ(kcpu::gram_blocking(zen1, kcpu::CpuIsa::avx512).kc_max, 256);
  EXPECT_EQ(kcpu::gram_blocking(zen1, kcpu::CpuIsa::avx2).kc_max, 512);
  EXPECT_EQ(kcpu::gram_blocking(zen1, kcpu::CpuIsa::avx2).panel_bytes, 256 * KiB);
  EXPECT_EQ(kcpu::lstm_k_blocking(zen1, kcpu::CpuIsa::avx512).chunk_k, 256);
  EXPECT_EQ(kcpu::lstm_k_blocking(zen1, kcpu::CpuIsa::avx512).direct_max_k, 320);
  EXPECT_EQ(kcpu::lstm_k_blocking(zen1, kcpu::CpuIsa::avx2).chunk_k, 128);
  EXPECT_EQ(kcpu::lstm_k_blocking(zen1, kcpu::CpuIsa::avx2).direct_max_k, 160);

  const CpuCaches small = machine(16 * KiB, 256 * KiB);
  EXPECT_EQ(pybench::kernels::conv2d_slab_bytes(small), 192 * KiB);
  EXPECT_EQ(pybench::kernels::depthwise_plane_bytes(small), 12 * KiB);
  EXPECT_EQ(pybench::kernels::separable_mid_bytes(small), 128 * KiB);
  EXPECT_EQ(kcpu::gram_blocking(small, kcpu::CpuIsa::avx512).kc_max, 128);
  EXPECT_EQ(kcpu::gram_blocking(small, kcpu::CpuIsa::avx2).kc_max, 256);
  EXPECT_EQ(kcpu::lstm_k_blocking(small, kcpu::CpuIsa::avx2).chunk_k, 64);

  // Nonsense sizes stay within the floors.
  const CpuCaches tiny = machine(1, 1);
  EXPECT_EQ(pybench::kernels::conv2d_slab_bytes(tiny), 128 * KiB);
  EXPECT_EQ(pybench::kernels::depthwise_plane_bytes(tiny), 4 * KiB);
  EXPECT_EQ(pybench::kernels::separable_mid_bytes(tiny), 64 * KiB);
  EXPECT_EQ(kcpu::gram_blocking(tiny, kcpu::CpuIsa::avx512).kc_max, 64);
  EXPECT_EQ(kcpu::lstm_k_blocking(tiny, kcpu::CpuIsa::avx512).chunk_k, 64);
}

TEST(CpuCachesFormat, Sizes) {
  EXPECT_EQ(kcpu::format_cache_size(48 * KiB), "48 KiB");
  EXPECT_EQ(kcpu::format_cache_size(2 * MiB), "2 MiB");
  EXPECT_EQ(kcpu::format_cache_size(105 * MiB), "105 MiB");
  EXPECT_EQ(kcpu::format_cache_size(0), "0 B");
  EXPECT_EQ(kcpu::format_cache_size(1000), "1000 B");
}

}  // namespace
