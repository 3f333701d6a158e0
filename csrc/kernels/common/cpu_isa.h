#pragma once
// CPU instruction-set selection for the hand-written kernels.
//
// Levels are ordered: each one implies the ones below it.
//   scalar : portable C++ reference kernels (the test oracle and the fallback).
//   avx2   : AVX2 + FMA (Haswell / Zen 1 and later).
//   avx512 : AVX-512 F + BW + DQ + VL, the "avx512_core" level of oneDNN and the one
//            FBGEMM's fbgemmHasAvx512Support() asks for.
//
// The active level starts as the best the CPU supports, capped by the environment
// variable PYBENCH_MAX_CPU_ISA (avx512 | avx2 | scalar), the same idea as
// ONEDNN_MAX_CPU_ISA. set_active_cpu_isa() switches it in-process so one test run can
// walk every variant; it refuses a level the CPU lacks rather than crash later on an
// illegal instruction.
#include <optional>
#include <string>

namespace pybench::kernels::cpu {

enum class CpuIsa : int { scalar = 0, avx2 = 1, avx512 = 2 };

const char* cpu_isa_name(CpuIsa isa);
std::optional<CpuIsa> parse_cpu_isa(const std::string& name);

// Best level this CPU (and OS, via XSAVE state) can run; detected once.
CpuIsa detected_cpu_isa();
bool cpu_supports(CpuIsa isa);

// The level dispatchers use now.
CpuIsa active_cpu_isa();
// Throws std::invalid_argument naming the ISA when the CPU lacks it.
void set_active_cpu_isa(CpuIsa isa);

}  // namespace pybench::kernels::cpu
