// The SIMD body of the packed linear layer (linear.h), included INSIDE an ISA target region
// (linear_avx2.cpp, linear_avx512.cpp) after that file's vector traits `Isa`: everything is
// in an anonymous namespace and compiled for that ISA only. Includes nothing itself.
//
// Isa provides Vec, kLanes, kRows (MR, the batch rows of a tile) and zero / set1 / load /
// store / fmadd. The tile is NV = kLinearPanel / kLanes weight vectors x MR rows:
//   AVX-512 3 x 8: per k the 3 weight vectors stay in registers and each row's broadcast
//     feeds 3 FMAs (24 accumulators + 3 + 1 = 28 of 32 zmm);
//   AVX2 6 x 2: the 2 rows' broadcasts stay in registers and each weight vector feeds 2
//     FMAs (12 accumulators + 2 + 1 = 15 of 16 ymm).
// Either way one pass over the panel's weights serves MR rows; the weights come from
// memory once per call, and the batch's next row groups re-read a chunk from the L1d.
namespace {

// 64 steps of 192 bytes: 12 KiB ahead of the loads.
constexpr int64_t kLinearPrefetchSteps = 64;

// x: the tile's first row at its chunk's first k; its rows are x_row floats apart.
template <class Isa, int MR>
void linear_tile(const float* x, int64_t x_row, const float* w, int64_t kc, float* acc_out,
                 bool first) {
  using Vec = typename Isa::Vec;
  constexpr int64_t L = Isa::kLanes;
  constexpr int NV = static_cast<int>(kLinearPanel / L);
  Vec acc[MR][NV];
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      acc[m][v] = first ? Isa::zero() : Isa::load(acc_out + m * kLinearPanel + v * L);
    }
  }
  for (int64_t k = 0; k < kc; ++k) {
    const float* wk = w + k * kLinearPanel;
    // The weights kLinearPrefetchSteps steps ahead into the L2 (prefetcht1; a prefetch
    // never faults past the panel's end). The hardware prefetchers alone let one core
    // keep too few lines in flight once each step carries 24 FMAs: 2 threads, AlexNet's
    // 9216 -> 4096 at batch 8, 10.5 -> 7.3-7.6 ms; batch 1 6.8 -> 6.2 ms (load 0.7-0.9,
    // this session's own runs). t0 at 16 steps measured the same; nta slower.
    const float* ahead = wk + kLinearPrefetchSteps * kLinearPanel;
    __builtin_prefetch(ahead, 0, 2);
    __builtin_prefetch(ahead + 16, 0, 2);
    __builtin_prefetch(ahead + 32, 0, 2);
    if constexpr (NV <= 4) {
      Vec wv[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        wv[v] = Isa::load(wk + v * L);
        // Kept in registers: GCC would otherwise fold the loads into the FMAs, re-reading
        // each weight vector once per row.
        asm("" : "+v"(wv[v]));
      }
#pragma GCC unroll 8
      for (int m = 0; m < MR; ++m) {
        const Vec xv = Isa::set1(x[m * x_row + k]);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[m][v] = Isa::fmadd(wv[v], xv, acc[m][v]);
      }
    } else {
      Vec xv[MR];
#pragma GCC unroll 8
      for (int m = 0; m < MR; ++m) {
        xv[m] = Isa::set1(x[m * x_row + k]);
        asm("" : "+v"(xv[m]));
      }
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        const Vec wv = Isa::load(wk + v * L);
#pragma GCC unroll 8
        for (int m = 0; m < MR; ++m) acc[m][v] = Isa::fmadd(wv, xv[m], acc[m][v]);
      }
    }
  }
#pragma GCC unroll 8
  for (int m = 0; m < MR; ++m) {
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) Isa::store(acc_out + m * kLinearPanel + v * L, acc[m][v]);
  }
}

using LinearTileFn = void (*)(const float*, int64_t, const float*, int64_t, float*, bool);

template <class Isa, int... Ms>
constexpr std::array<LinearTileFn, sizeof...(Ms)> linear_tiles(
    std::integer_sequence<int, Ms...>) {
  return {&linear_tile<Isa, Ms + 1>...};
}

template <class Isa>
void linear_simd(const LinearParams& p) {
  static constexpr auto kTiles =
      linear_tiles<Isa>(std::make_integer_sequence<int, Isa::kRows>{});
  const int64_t M = p.batch, K = p.in_features, N = p.out_features;
  const int64_t kc = linear_k_chunk(cpu_caches(), K);
  constexpr int64_t MR = Isa::kRows;
  run_parallel(p.exec, 0, p.panels(), 1, [&](int64_t begin, int64_t end) {
    // The panel's partial sums, M x 48 floats: the output's last panel is narrower than
    // 48 columns, and the sums of all K chunks must be complete before the epilogue.
    std::vector<float> sums(static_cast<size_t>(M * kLinearPanel));
    for (int64_t panel = begin; panel < end; ++panel) {
      const float* w = p.weight + panel * K * kLinearPanel;
      for (int64_t k0 = 0; k0 < K; k0 += kc) {
        const int64_t kn = std::min(kc, K - k0);
        for (int64_t m0 = 0; m0 < M; m0 += MR) {
          const int64_t mr = std::min(MR, M - m0);
          kTiles[mr - 1](p.input + m0 * K + k0, K, w + k0 * kLinearPanel, kn,
                         sums.data() + m0 * kLinearPanel, k0 == 0);
        }
      }
      const int64_t n0 = panel * kLinearPanel;
      const int64_t cols = std::min(kLinearPanel, N - n0);
      for (int64_t m = 0; m < M; ++m) {
        const float* s = sums.data() + m * kLinearPanel;
        float* y = p.output + m * N + n0;
        for (int64_t j = 0; j < cols; ++j) {
          const float v = s[j] + (p.bias ? p.bias[n0 + j] : 0.0f);
          y[j] = static_cast<float>(activate_ref(v, p.activation));
        }
      }
    }
  });
}

}  // namespace
