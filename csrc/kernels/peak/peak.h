#pragma once
// FP32 FMA throughput loops: what `python -m pybench peak` times to find the machine's
// compute roof, the "100%" of every "% of peak" pybench reports.
//
// Each loop keeps kChains independent accumulator vectors, each updated by one FMA per
// iteration: enough chains to cover FMA latency x FMA ports (4 cycles x 2 pipes on Zen 4/5
// and Intel server cores), so the loop runs at the FMA issue rate. The result is a
// checksum the caller must consume, so the compiler cannot drop the loop.
#include <cstdint>

namespace pybench::kernels::cpu {

constexpr int64_t kPeakChains = 12;

// FLOPs one call of fma_loop_<isa>(iterations) performs: chains x lanes x 2 x iterations.
double fma_loop_flops(int64_t iterations);

// Runs the loop of the active CPU ISA (AVX-512: 16 lanes, AVX2: 8, scalar: 1).
float fma_loop(int64_t iterations);
float fma_loop_ref(int64_t iterations);
float fma_loop_avx2(int64_t iterations);
float fma_loop_avx512(int64_t iterations);

}  // namespace pybench::kernels::cpu
