// The SIMD body of the Gram backward, dF = scale * (dG + dG^T) F (gram.h), included INSIDE
// an ISA target region (gram_backward_avx2.cpp, gram_backward_avx512.cpp) after that file's
// vector traits `Isa`. Includes nothing itself.
//
// Isa is the depthwise kernels' vector traits (Ymm / Zmm, depthwise_conv2d_vec.h): Vec,
// kLanes, the pointwise register tile kPwRows x kPwVecs (rows of dF x vectors along L, one
// accumulator each: the same product shape), zero / set1 / loadu / storeu / fmadd, and
// mask / maskstore (lanes [0, n) only: the L tail, never touching memory past it).
//
// Blocked as a GEMM (BLIS's scheme): S is formed once per image, packed per tile of kRows
// rows as [j][r] so the micro-kernel's broadcasts read one sequential stream; a work item
// (image, column panel of L, group of row tiles) packs its panel of F into a contiguous
// per-thread buffer, in slices of kVecs * kLanes columns, that stays in L2 while every row
// tile of the group sweeps each slice. Unpacked, each j read a row of F one L-row
// stride apart (a new page for L >= 1024): 1.2-1.5x slower at C = 512.
// Per j: kVecs vector loads of the panel and kRows broadcasts of S feed kRows x kVecs
// FMAs (AVX-512 6 x 4: 24 FMAs per 10 loads; AVX2 4 x 3: 12 per 7).
namespace {

// One kRows x NV-vector tile: s_packed is the row tile's S as [j][kRows], panel F's packed
// panel as [j][kVecs * kLanes] (zero past L); rows / lanes past C / L are not stored.
template <class Isa, int NV, bool Tail>
void gram_backward_tile(const float* s_packed, int64_t channels, const float* panel,
                        float* out, int64_t out_stride, int rows, int64_t tail) {
  using Vec = typename Isa::Vec;
  constexpr int R = Isa::kPwRows;
  constexpr int64_t L = Isa::kLanes, step = Isa::kPwVecs * L;
  Vec acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = Isa::zero();
  }
  for (int64_t j = 0; j < channels; ++j) {
    Vec x[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) x[v] = Isa::loadu(panel + j * step + v * L);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const Vec sv = Isa::set1(s_packed[j * R + r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = Isa::fmadd(sv, x[v], acc[r][v]);
    }
  }
  for (int r = 0; r < rows; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      if (Tail && v == NV - 1) {
        Isa::maskstore(out + r * out_stride + v * L, Isa::mask(tail), acc[r][v]);
      } else {
        Isa::storeu(out + r * out_stride + v * L, acc[r][v]);
      }
    }
  }
}

using GramBackwardTileFn = void (*)(const float*, int64_t, const float*, float*, int64_t, int,
                                    int64_t);

template <class Isa, bool Tail, int... Vs>
constexpr std::array<GramBackwardTileFn, sizeof...(Vs)> gram_backward_tiles(
    std::integer_sequence<int, Vs...>) {
  return {&gram_backward_tile<Isa, Vs + 1, Tail>...};
}

template <class Isa>
void gram_backward_simd(const GramBackwardParams& p) {
  constexpr int R = Isa::kPwRows;
  constexpr int V = Isa::kPwVecs;
  constexpr int64_t L = Isa::kLanes, step = V * L;
  // [tail][vectors - 1]
  static constexpr std::array<std::array<GramBackwardTileFn, V>, 2> kTiles = {
      gram_backward_tiles<Isa, false>(std::make_integer_sequence<int, V>{}),
      gram_backward_tiles<Isa, true>(std::make_integer_sequence<int, V>{})};
  const int64_t C = p.channels, len = p.length;
  if (p.batch == 0 || C == 0 || len == 0) return;
  const int64_t row_tiles = (C + R - 1) / R;
  // S of every image, packed per row tile: [b][tile][j][r], rows past C zero. Kept by the
  // calling thread across calls (a fresh buffer of this size would be page-faulted in on
  // every call); the workers only read it.
  static thread_local std::vector<float> s_buf;
  const int64_t s_image = row_tiles * C * R;
  if (static_cast<int64_t>(s_buf.size()) < p.batch * s_image) s_buf.resize(p.batch * s_image);
  float* const s_all = s_buf.data();
  run_parallel(p.exec, 0, p.batch * row_tiles, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / row_tiles, i0 = item % row_tiles * R;
      const float* dg = p.grad + b * C * C;
      float* sp = s_all + item * C * R;
      for (int64_t j = 0; j < C; ++j) {
        for (int r = 0; r < R; ++r) {
          const int64_t i = i0 + r;
          sp[j * R + r] = i < C ? p.scale * (dg[i * C + j] + dg[j * C + i]) : 0.0f;
        }
      }
    }
  });
  // A panel is `slices` slices of `step` columns, packed [slice][j][step]: as wide as a
  // quarter of the L2 holds (read at run time), so that packing reads each row of F in
  // long runs the prefetchers follow -- with one slice per panel C = 64 ran 1.6x slower,
  // 64 rows of 256 bytes each per panel -- and at least one slice.
  const int64_t slices_max =
      std::clamp<int64_t>(cpu_caches().l2 / 4 / (4 * C * step), 1, (len + step - 1) / step);
  const int64_t width = slices_max * step;
  const int64_t panels = (len + width - 1) / width;
  // Row tiles in groups where the panels alone would leave threads idle (L = 49: 1 panel).
  const int64_t want = 2 * std::max<int64_t>(1, p.exec.max_threads);
  const int64_t groups = p.batch * panels >= want
                             ? 1
                             : std::min(row_tiles, (want + p.batch * panels - 1) / (p.batch * panels));
  run_parallel(p.exec, 0, p.batch * panels * groups, 1, [&](int64_t begin, int64_t end) {
    static thread_local std::vector<float> panel_buf;
    if (static_cast<int64_t>(panel_buf.size()) < C * width) panel_buf.resize(C * width);
    float* const panel = panel_buf.data();
    for (int64_t item = begin; item < end; ++item) {
      const int64_t group = item % groups, rest = item / groups;
      const int64_t pi = rest % panels, b = rest / panels;
      const int64_t p0 = pi * width, pn = std::min(width, len - p0);
      const int64_t slices = (pn + step - 1) / step;
      const float* f = p.features + b * p.batch_stride + p0;
      for (int64_t j = 0; j < C; ++j) {
        const float* src = f + j * p.row_stride;
        for (int64_t sl = 0; sl < slices; ++sl) {
          const int64_t n = std::min(step, pn - sl * step);
          float* dst = panel + (sl * C + j) * step;
          std::copy(src + sl * step, src + sl * step + n, dst);
          std::fill(dst + n, dst + step, 0.0f);
        }
      }
      const int64_t t_lo = group * row_tiles / groups, t_hi = (group + 1) * row_tiles / groups;
      for (int64_t sl = 0; sl < slices; ++sl) {
        const int64_t l0 = p0 + sl * step, n = std::min(step, len - l0);
        const int64_t vecs = (n + L - 1) / L, tail = n - (vecs - 1) * L;
        const GramBackwardTileFn tile = kTiles[tail < L ? 1 : 0][vecs - 1];
        for (int64_t t = t_lo; t < t_hi; ++t) {
          const int rows = static_cast<int>(std::min<int64_t>(R, C - t * R));
          tile(s_all + (b * row_tiles + t) * C * R, C, panel + sl * C * step,
               p.grad_features + (b * C + t * R) * len + l0, len, rows, tail);
        }
      }
    }
  });
}

}  // namespace
