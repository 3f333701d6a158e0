// Google Benchmark for the CPU LSTM kernels, every ISA variant on each line of
// pybench/shapes/rnn.txt (the cases the Python rnn suite measures):
//   BM_lstm_cell/<variant>/<case>/B=<B>/I=<I>/H=<H>        one fused step (x and h products,
//                                                         gates, cell update), packed weights
//   BM_lstm/<variant>/<case>/T=<T>/B=<B>/I=<I>/H=<H>       a whole sequence: the input GEMM of
//                                                         all steps, then one fused step each
// Variants: ref (scalar, double accumulation: the oracle), avx2, avx512; a variant the CPU
// lacks is reported with SkipWithError. Weights are packed once, outside the timed loop, as
// pybench.nn caches them. Counters: FLOP/s (lstm_cell_flops: 2 x B x 4H x (I + H) per
// step) and bytes/s (weights once per call, activations in and out).
//
// Single-threaded: the params' exec.parallel_for is left empty, so the numbers are one core's
// throughput; thread scaling belongs to the Python suite, where at::parallel_for runs.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "common/cpu_isa.h"
#include "lstm/lstm.h"
#include "shapes.h"

namespace {

using pybench::kernels::LstmCellParams;
using pybench::kernels::LstmPackedWeights;
using pybench::kernels::LstmSequenceParams;
using pybench::kernels::cpu::CpuIsa;
namespace kcpu = pybench::kernels::cpu;

struct Variant {
  const char* name;
  CpuIsa isa;
};

const Variant kVariants[] = {{"ref", CpuIsa::scalar}, {"avx2", CpuIsa::avx2}, {"avx512", CpuIsa::avx512}};

// The reference evaluates everything in double, one chain per output: 2 GFLOP a call would
// take seconds per iteration and say nothing new about a contender.
constexpr double kRefMaxFlops = 2e8;

std::vector<float> normal(size_t n, uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Everything one case needs, weights packed for the variant.
struct LstmData {
  int64_t T, B, I, H;
  std::vector<float> x, h0, c0, w_ih, w_hh, bias, packed_ih, packed_hh;
  LstmPackedWeights p_ih, p_hh;
  LstmData(int64_t T_, int64_t B_, int64_t I_, int64_t H_, CpuIsa isa)
      : T(T_), B(B_), I(I_), H(H_) {
    const float k = 1.0f / std::sqrt(static_cast<float>(H));
    x = normal(static_cast<size_t>(T * B * I), 1, 1.0f);
    h0 = normal(static_cast<size_t>(B * H), 2, 1.0f);
    c0 = normal(static_cast<size_t>(B * H), 3, 1.0f);
    w_ih = normal(static_cast<size_t>(4 * H * I), 4, k);
    w_hh = normal(static_cast<size_t>(4 * H * H), 5, k);
    bias = normal(static_cast<size_t>(4 * H), 6, k);
    const int64_t block = kcpu::lstm_pack_block(isa);
    packed_ih.resize(static_cast<size_t>(kcpu::lstm_packed_floats(H, I, block)));
    packed_hh.resize(static_cast<size_t>(kcpu::lstm_packed_floats(H, H, block)));
    kcpu::lstm_pack_weights(w_ih.data(), I, H, I, block, packed_ih.data());
    kcpu::lstm_pack_weights(w_hh.data(), H, H, H, block, packed_hh.data());
    p_ih = {packed_ih.data(), I, H, block};
    p_hh = {packed_hh.data(), H, H, block};
  }
};

bool skip(benchmark::State& state, const Variant& v, double flops) {
  if (!pybench::bench::require_isa(state, v.isa)) return true;
  if (v.isa == CpuIsa::scalar && flops > kRefMaxFlops) {
    state.SkipWithError("ref skipped above 0.2 GFLOP a call (slow oracle, see kRefMaxFlops)");
    return true;
  }
  return false;
}

void counters(benchmark::State& state, double flops, const LstmData& d) {
  const double bytes = 4.0 * static_cast<double>(4 * d.H * (d.I + d.H) + 4 * d.H +
                                                 d.T * d.B * (d.I + d.H) + 4 * d.B * d.H);
  state.counters["FLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bytes/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_lstm_cell(benchmark::State& state, const Variant& v, int64_t B, int64_t I, int64_t H) {
  const double flops = pybench::kernels::lstm_cell_flops(B, I, H);
  if (skip(state, v, flops)) return;
  LstmData d(1, B, I, H, v.isa);
  std::vector<float> h(static_cast<size_t>(B * H)), c(static_cast<size_t>(B * H));
  LstmCellParams p;
  p.batch = B;
  p.input_size = I;
  p.hidden_size = H;
  p.x = d.x.data();
  p.ldx = I;
  p.h = d.h0.data();
  p.ldh = H;
  p.c = d.c0.data();
  p.ldc = H;
  p.w_ih = d.w_ih.data();
  p.w_hh = d.w_hh.data();
  p.packed_ih = d.p_ih;
  p.packed_hh = d.p_hh;
  p.bias = d.bias.data();
  p.h_out = h.data();
  p.ld_h_out = H;
  p.c_out = c.data();
  p.ld_c_out = H;
  const auto run = v.isa == CpuIsa::avx512 ? kcpu::lstm_cell_avx512
                   : v.isa == CpuIsa::avx2 ? kcpu::lstm_cell_avx2
                                           : kcpu::lstm_cell_ref;
  for (auto _ : state) {
    run(p);
    benchmark::DoNotOptimize(h.data());
    benchmark::ClobberMemory();
  }
  counters(state, flops, d);
}

void BM_lstm(benchmark::State& state, const Variant& v, int64_t T, int64_t B, int64_t I, int64_t H) {
  const double flops = pybench::kernels::lstm_sequence_flops(T, B, I, H);
  if (skip(state, v, flops)) return;
  LstmData d(T, B, I, H, v.isa);
  std::vector<float> out(static_cast<size_t>(T * B * H)), hn(static_cast<size_t>(B * H)),
      cn(static_cast<size_t>(B * H)),
      scratch(static_cast<size_t>(pybench::kernels::lstm_sequence_scratch_floats(T, B, H)));
  LstmSequenceParams p;
  p.seq_len = T;
  p.batch = B;
  p.input_size = I;
  p.hidden_size = H;
  p.x = d.x.data();
  p.x_stride_t = B * I;
  p.x_stride_b = I;
  p.h0 = d.h0.data();
  p.c0 = d.c0.data();
  p.w_ih = d.w_ih.data();
  p.w_hh = d.w_hh.data();
  p.packed_ih = d.p_ih;
  p.packed_hh = d.p_hh;
  p.bias = d.bias.data();
  p.output = out.data();
  p.out_stride_t = B * H;
  p.out_stride_b = H;
  p.h_n = hn.data();
  p.c_n = cn.data();
  p.gates_scratch = scratch.data();
  for (auto _ : state) {
    kcpu::lstm_sequence_isa(p, v.isa);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  counters(state, flops, d);
}

void register_shapes() {
  for (const auto& c : pybench::bench::load_shapes("rnn.txt")) {
    const int64_t T = c.get("T", 0), B = c.get("B"), I = c.get("I"), H = c.get("H");
    for (const Variant& v : kVariants) {
      const std::string dims = "B=" + std::to_string(B) + "/I=" + std::to_string(I) + "/H=" +
                               std::to_string(H);
      if (T == 0) {
        const std::string name = std::string("BM_lstm_cell/") + v.name + "/" + c.name + "/" + dims;
        benchmark::RegisterBenchmark(name.c_str(), [&v, B, I, H](benchmark::State& s) {
          BM_lstm_cell(s, v, B, I, H);
        })->Unit(benchmark::kMicrosecond);
      } else {
        const std::string name = std::string("BM_lstm/") + v.name + "/" + c.name + "/T=" +
                                 std::to_string(T) + "/" + dims;
        benchmark::RegisterBenchmark(name.c_str(), [&v, T, B, I, H](benchmark::State& s) {
          BM_lstm(s, v, T, B, I, H);
        })->Unit(benchmark::kMillisecond);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  return pybench::bench::benchmark_main(argc, argv, "lstm_bench", register_shapes);
}
