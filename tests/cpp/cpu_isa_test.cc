#include "common/cpu_isa.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "test_util.h"

namespace {

using pybench::kernels::cpu::active_cpu_isa;
using pybench::kernels::cpu::cpu_isa_name;
using pybench::kernels::cpu::cpu_supports;
using pybench::kernels::cpu::CpuIsa;
using pybench::kernels::cpu::detected_cpu_isa;
using pybench::kernels::cpu::parse_cpu_isa;
using pybench::kernels::cpu::set_active_cpu_isa;

constexpr CpuIsa kAllIsas[] = {CpuIsa::scalar, CpuIsa::avx2, CpuIsa::avx512};

// The active level as the library first set it, before any test calls the setter.
// (Function-local statics in cpu_isa.cpp make this safe during static initialisation.)
const CpuIsa kInitialActive = active_cpu_isa();

TEST(CpuIsa, NameParseRoundTrip) {
  for (CpuIsa isa : kAllIsas) {
    const auto parsed = parse_cpu_isa(cpu_isa_name(isa));
    ASSERT_TRUE(parsed.has_value()) << cpu_isa_name(isa);
    EXPECT_EQ(*parsed, isa);
  }
  EXPECT_STREQ(cpu_isa_name(CpuIsa::scalar), "scalar");
  EXPECT_STREQ(cpu_isa_name(CpuIsa::avx2), "avx2");
  EXPECT_STREQ(cpu_isa_name(CpuIsa::avx512), "avx512");
}

TEST(CpuIsa, ParseRejectsUnknownNames) {
  for (const char* bad : {"", "AVX2", "Avx512", "avx512f", "avx", "sse4.2", " avx2", "avx2 ",
                          "none", "unknown"}) {
    EXPECT_FALSE(parse_cpu_isa(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(CpuIsa, LevelsAreOrdered) {
  EXPECT_LT(CpuIsa::scalar, CpuIsa::avx2);
  EXPECT_LT(CpuIsa::avx2, CpuIsa::avx512);
}

TEST(CpuIsa, SupportIsDetectedLevelAndBelow) {
  EXPECT_TRUE(cpu_supports(CpuIsa::scalar));
  for (CpuIsa isa : kAllIsas) {
    EXPECT_EQ(cpu_supports(isa), isa <= detected_cpu_isa()) << cpu_isa_name(isa);
  }
  EXPECT_EQ(detected_cpu_isa(), detected_cpu_isa());  // detected once, stable
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
TEST(CpuIsa, DetectionAgreesWithCpuid) {
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  EXPECT_EQ(cpu_supports(CpuIsa::avx512), avx512);
  // AVX-512 without AVX2+FMA does not exist; avx2 support follows the avx2+fma bits.
  EXPECT_EQ(cpu_supports(CpuIsa::avx2), avx2);
}
#endif

TEST(CpuIsa, SetActiveAcceptsExactlyTheSupportedLevels) {
  pybench::testing::ActiveIsaGuard guard;
  for (CpuIsa isa : kAllIsas) {
    const CpuIsa before = active_cpu_isa();
    if (cpu_supports(isa)) {
      EXPECT_NO_THROW(set_active_cpu_isa(isa)) << cpu_isa_name(isa);
      EXPECT_EQ(active_cpu_isa(), isa);
    } else {
      try {
        set_active_cpu_isa(isa);
        ADD_FAILURE() << "set_active_cpu_isa(" << cpu_isa_name(isa)
                      << ") accepted a level the CPU lacks";
      } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find(cpu_isa_name(isa)), std::string::npos)
            << "the message should name the ISA: " << e.what();
      }
      EXPECT_EQ(active_cpu_isa(), before) << "a refused level must not change the state";
    }
  }
}

TEST(CpuIsa, SetActiveCanGoDownAndBackUp) {
  pybench::testing::ActiveIsaGuard guard;
  set_active_cpu_isa(CpuIsa::scalar);
  EXPECT_EQ(active_cpu_isa(), CpuIsa::scalar);
  set_active_cpu_isa(detected_cpu_isa());
  EXPECT_EQ(active_cpu_isa(), detected_cpu_isa());
}

// ctest runs this one again under PYBENCH_MAX_CPU_ISA=scalar|avx2|avx512|not_an_isa.
TEST(CpuIsa, InitialActiveHonoursEnvCap) {
  CpuIsa expected = detected_cpu_isa();
  const char* cap = std::getenv("PYBENCH_MAX_CPU_ISA");
  if (cap) {
    // An unknown value is ignored (the library is loaded at import time; pybench.ops
    // reports it), a known one caps but never raises the level.
    if (auto parsed = parse_cpu_isa(cap)) expected = std::min(expected, *parsed);
  }
  EXPECT_EQ(kInitialActive, expected)
      << "PYBENCH_MAX_CPU_ISA=" << (cap ? cap : "(unset)")
      << ", detected=" << cpu_isa_name(detected_cpu_isa())
      << ", initial active=" << cpu_isa_name(kInitialActive);
}

}  // namespace
