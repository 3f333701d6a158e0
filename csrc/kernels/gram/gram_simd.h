// The SIMD body of the Gram forward (packed outer products, gram_blocking.h), included
// INSIDE an ISA target region (gram_avx2.cpp, gram_avx512.cpp) after that file's vector
// traits `Isa` (depthwise_conv2d_vec.h's Ymm / Zmm) and common/transpose8_simd.h. Includes
// nothing itself.
namespace {

// A float buffer kept by the calling thread across calls, aligned to 64 bytes: a fresh one
// of a few MiB would be page-faulted in on every call.
inline float* gram_buffer(std::vector<float>& buf, int64_t n) {
  if (static_cast<int64_t>(buf.size()) < n + 16) buf.resize(n + 16);
  const auto addr = reinterpret_cast<uintptr_t>(buf.data());
  return buf.data() + ((64 - addr % 64) % 64) / sizeof(float);
}

// One block: rows [0, rows) of f (row_stride apart; rows up to `lanes`, the rest zero) over
// columns [0, len) into dst[k][lanes].
template <class Isa>
void gram_pack_block(const float* f, int64_t row_stride, int64_t rows, int64_t len, float* dst) {
  constexpr int64_t V = Isa::kLanes;
  for (int64_t h = 0; h < V; h += 8) {
    if (rows >= h + 8) {
      int64_t k = 0;
      for (; k + 8 <= len; k += 8) transpose8x8(f + h * row_stride + k, row_stride, dst + k * V + h, V);
      for (; k < len; ++k) {
        for (int64_t r = 0; r < 8; ++r) dst[k * V + h + r] = f[(h + r) * row_stride + k];
      }
    } else {
      for (int64_t k = 0; k < len; ++k) {
        for (int64_t r = 0; r < 8; ++r) {
          dst[k * V + h + r] = h + r < rows ? f[(h + r) * row_stride + k] : 0.0f;
        }
      }
    }
  }
}

// NV vectors of rows x NR columns over a panel of `len` columns: a is the first row block
// ([k][V], the next block a_step floats on), b the group's first column in its block.
// Stores (or, with `accumulate`, adds) column c as G[c][0, rows) at g + c * ldg, c < cols.
template <class Isa, int NV, int NR>
void gram_tile(const float* a, int64_t a_step, const float* b, int64_t len, float* g,
               int64_t ldg, int64_t rows, int64_t cols, bool accumulate) {
  using Vec = typename Isa::Vec;
  constexpr int64_t V = Isa::kLanes;
  Vec acc[NV][NR];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
#pragma GCC unroll 8
    for (int c = 0; c < NR; ++c) acc[v][c] = Isa::zero();
  }
  for (int64_t k = 0; k < len; ++k) {
    Vec av[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) av[v] = Isa::loadu(a + v * a_step + k * V);
#pragma GCC unroll 8
    for (int c = 0; c < NR; ++c) {
      const Vec bc = Isa::set1(b[k * V + c]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[v][c] = Isa::fmadd(av[v], bc, acc[v][c]);
    }
  }
#pragma GCC unroll 8
  for (int c = 0; c < NR; ++c) {
    if (c >= cols) break;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const int64_t n = rows - v * V;
      float* dst = g + c * ldg + v * V;
      if (n >= V) {
        Isa::storeu(dst, accumulate ? Isa::add(Isa::loadu(dst), acc[v][c]) : acc[v][c]);
      } else if (n > 0) {
        const auto m = Isa::mask(n);
        Isa::maskstore(dst, m, accumulate ? Isa::add(Isa::maskload(dst, m), acc[v][c]) : acc[v][c]);
      }
    }
  }
}

using GramTileFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t,
                            int64_t, int64_t, bool);

template <class Isa, int NR, int... Vs>
constexpr std::array<GramTileFn, sizeof...(Vs)> gram_tiles(std::integer_sequence<int, Vs...>) {
  return {&gram_tile<Isa, Vs + 1, NR>...};
}

// Adds the partial products of the other L splits (`partials`, `splits - 1` matrices per
// image) into the computed lower triangle, scales it and copies it into the upper one, in
// 32 x 32 blocks (a column at a time would touch a new cache line per entry: 131 K of
// them at C = 512, as long as the whole product when L is short). Work item = (image,
// block row), each owning its rows' lower entries and the matching columns of the upper
// triangle.
inline void gram_finish(const GramParams& p, const float* partials, int64_t splits) {
  constexpr int64_t kBlock = 32;
  const int64_t C = p.channels, CC = C * C, blocks = ceil_div(C, kBlock);
  std::vector<int64_t> prefix(p.batch * blocks + 1, 0);
  for (int64_t item = 0; item < p.batch * blocks; ++item) prefix[item + 1] = prefix[item] + item % blocks + 1;
  run_parallel_balanced(p.exec, prefix, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / blocks;
      float* g = p.gram + b * CC;
      const int64_t r0 = item % blocks * kBlock, r1 = std::min(C, r0 + kBlock);
      for (int64_t c0 = 0; c0 <= r0; c0 += kBlock) {
        const int64_t c1 = std::min(C, c0 + kBlock);
        for (int64_t j = r0; j < r1; ++j) {
          const int64_t i1 = std::min(c1, j + 1);
          for (int64_t s = 1; s < splits; ++s) {
            const float* part = partials + (b * (splits - 1) + s - 1) * CC + j * C;
            for (int64_t i = c0; i < i1; ++i) g[j * C + i] += part[i];
          }
          if (p.scale != 1.0f) {
            for (int64_t i = c0; i < i1; ++i) g[j * C + i] *= p.scale;
          }
        }
        for (int64_t i = c0; i < c1; ++i) {
          for (int64_t j = std::max(r0, i + 1); j < r1; ++j) g[i * C + j] = g[j * C + i];
        }
      }
    }
  });
}

template <class Isa, int NV, int NR>
void gram_simd(const GramParams& p, CpuIsa isa) {
  constexpr int64_t V = Isa::kLanes;
  static_assert(V % NR == 0, "a column group must not straddle two packed blocks");
  static constexpr std::array<GramTileFn, NV> kTiles =
      gram_tiles<Isa, NR>(std::make_integer_sequence<int, NV>{});
  const GramTile tile = gram_tile(isa);
  const int64_t B = p.batch, C = p.channels, L = p.length, CC = C * C;
  if (B == 0 || C == 0) return;
  // Small products run on the calling thread: below ~4 MFLOP (C = 64 up to L = 784, C = 128
  // up to L = 196; a few microseconds) the three parallel regions' hand-overs cost what a
  // second thread saves, and on 2 threads the time came out bimodal (CV 30-50%).
  if (p.exec.parallel_for && gram_executed_flops(isa, B, C, L) < (1 << 22)) {
    GramParams serial = p;
    serial.exec = CpuExecution{};
    return gram_simd<Isa, NV, NR>(serial, isa);
  }
  if (L == 0) {
    std::fill(p.gram, p.gram + B * CC, 0.0f);
    return;
  }
  const GramBlocking blocking = gram_blocking(cpu_caches(), isa);
  const int64_t C_pad = gram_padded_channels(tile, C), blocks = C_pad / V;
  const int64_t groups = ceil_div(C, NR), kc = gram_panel_length(blocking, tile, C);

  // Rows j of G in `groups` [g0, g1) over one packed panel.
  auto sweep = [&](const float* panel, int64_t len, float* g, int64_t g0, int64_t g1,
                   bool accumulate) {
    const int64_t step = len * V;
    for (int64_t grp = g0; grp < g1; ++grp) {
      const int64_t j0 = grp * NR, rows = gram_group_rows(tile, C, grp);
      const float* b = panel + j0 / V * step + j0 % V;
      const int64_t cols = std::min<int64_t>(NR, C - j0);
      for (int64_t i0 = 0; i0 < rows; i0 += NV * V) {
        const int64_t nv = std::min<int64_t>(NV, (rows - i0) / V);
        kTiles[nv - 1](panel + i0 / V * step, step, b, len, g + j0 * C + i0, C,
                       std::min(C - i0, nv * V), cols, accumulate);
      }
    }
  };
  auto pack = [&](int64_t b, int64_t l0, int64_t len, int64_t blk, float* panel) {
    const float* f = p.features + b * p.batch_stride + blk * V * p.row_stride + l0;
    gram_pack_block<Isa>(f, p.row_stride, std::min(V, C - blk * V), len, panel + blk * len * V);
  };

  const int64_t threads = std::max<int64_t>(1, p.exec.max_threads);
  // L splits per image, so that images x splits is a multiple of the threads; taken where
  // every split still spans two panels. Each split packs its own panels into a per-thread
  // buffer that stays in L2 (nothing shared, no pass barrier) and sums into its own G,
  // which gram_finish adds up: C^2 adds per split against C^2 L / splits FMAs.
  const int64_t splits = threads / std::gcd(B, threads);
  const bool split_l = splits > 1 && L >= 2 * kc * splits;
  if (B % threads == 0 || B >= 4 * threads || split_l) {
    const int64_t n = split_l ? splits : 1;
    const int64_t per_split = ceil_div(ceil_div(L, n), 16) * 16;
    static thread_local std::vector<float> partial_buf;
    float* const partials = gram_buffer(partial_buf, B * (n - 1) * CC);
    run_parallel(p.exec, 0, B * n, 1, [&](int64_t begin, int64_t end) {
      static thread_local std::vector<float> buf;
      float* const panel = gram_buffer(buf, C_pad * kc);
      for (int64_t item = begin; item < end; ++item) {
        const int64_t b = item / n, s = item % n;
        const int64_t l_begin = std::min(L, s * per_split);
        const int64_t l_end = s + 1 == n ? L : std::min(L, l_begin + per_split);
        float* g = s == 0 ? p.gram + b * CC : partials + (b * (n - 1) + s - 1) * CC;
        if (l_begin == l_end) std::fill(g, g + CC, 0.0f);
        for (int64_t l0 = l_begin; l0 < l_end; l0 += kc) {
          const int64_t len = std::min(kc, l_end - l0);
          for (int64_t blk = 0; blk < blocks; ++blk) pack(b, l0, len, blk, panel);
          sweep(panel, len, g, 0, groups, l0 > l_begin);
        }
      }
    });
    gram_finish(p, partials, n);
    return;
  }
  // Too short to split: the threads split every image's column groups, by rows computed,
  // over panels they pack together.
  const int64_t per_pass =
      std::clamp<int64_t>(blocking.super_bytes / (4 * B * C_pad * kc), 1, ceil_div(L, kc));
  const int64_t super = per_pass * kc;
  static thread_local std::vector<float> buf;
  float* const packed = gram_buffer(buf, B * C_pad * super);
  std::vector<int64_t> prefix(B * groups + 1, 0);
  for (int64_t item = 0; item < B * groups; ++item) {
    prefix[item + 1] = prefix[item] + gram_group_rows(tile, C, item % groups);
  }
  for (int64_t s0 = 0; s0 < L; s0 += super) {
    const int64_t panels = ceil_div(std::min(super, L - s0), kc);
    auto panel_of = [&](int64_t b, int64_t pi) { return packed + (b * super + pi * kc) * C_pad; };
    run_parallel(p.exec, 0, B * panels * blocks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const int64_t blk = item % blocks, pi = item / blocks % panels, b = item / blocks / panels;
        const int64_t l0 = s0 + pi * kc;
        pack(b, l0, std::min(kc, L - l0), blk, panel_of(b, pi));
      }
    });
    run_parallel_balanced(p.exec, prefix, [&](int64_t begin, int64_t end) {
      for (int64_t pi = 0; pi < panels; ++pi) {
        const int64_t l0 = s0 + pi * kc, len = std::min(kc, L - l0);
        for (int64_t item = begin; item < end;) {
          const int64_t b = item / groups, stop = std::min(end, (b + 1) * groups);
          sweep(panel_of(b, pi), len, p.gram + b * CC, item - b * groups, stop - b * groups,
                l0 > 0);
          item = stop;
        }
      }
    });
  }
  gram_finish(p, nullptr, 1);
}

}  // namespace
