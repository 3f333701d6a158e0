// Depthwise convolution on phase planes, vectorised over output columns: the body of the
// AVX2 and AVX-512 depthwise kernels, and the depthwise half of the fused separable
// kernel (separable_conv2d_fused.h).
//
// Included INSIDE an ISA target region (depthwise_conv2d_avx2.cpp, ..._avx512.cpp,
// separable_conv2d_avx*.cpp) after that region's vector traits, the way conv2d_direct.h
// is: everything here is in an anonymous namespace, compiled for that ISA only. Includes
// nothing but the epilogue's activations (common/activation_simd.h, a region body too);
// the including file includes <algorithm>, <cmath>, <cstdint>, <cstring>, <vector> above
// the region.
//
// Planes. One input channel's rows that a chunk of output rows reads are copied, zero
// padded, into per-thread scratch: a stride s is turned into stride 1 by splitting the
// padded rows / columns into s_h x s_w phase planes (phase (a, b) holds padded rows a,
// a + s_h, ... and columns b, b + s_w, ...), as conv2d_direct.h does. Then tap (r, s) of
// output (y, x) is plane (r*dil_h % s_h, s*dil_w % s_w) at row y + r*dil_h / s_h, column
// x + s*dil_w / s_w: every tap is a contiguous, unmasked vector load, no bounds checks in
// the inner loop, padding included. The copy costs one L1-resident pass over the input; a
// 3x3 tap set then reads it 9 times from L1.
//
// Vectorisation: over output columns x, Isa::kLanes at a time; the last vector of a row is
// stored masked (its loads may run into the next plane row or the scratch's slack, both
// allocated; those lanes are dropped). The AVX-512 kernel runs rows of at most 8 columns
// (the 7x7 layers) with ymm vectors instead, so 7 of 8 lanes work rather than 7 of 16.
//
// Fast paths (dilation 1; 3x3 and 5x5, stride 1 and 2 -- every depthwise layer of the
// MobileNets): the kernel size and stride are template parameters, the kh*kw weights sit
// in registers for a whole plane, and Isa::kDwRows output rows are computed together, so
// an input row that several of them read is loaded once (3x3 stride 1, 4 rows: 18 loads
// for 36 FMAs instead of 36). Everything else takes the generic path: runtime tap
// offsets, one row at a time.
//
// Threads split (image, channel, row chunk) work items; a chunk's planes are at most
// depthwise_plane_bytes(cpu_caches()) (3/4 of the L1d, at most 24 KiB;
// depthwise_conv2d.h) so they stay in L1 while the m output channels of a multiplier read
// them.
//
// Epilogue (conv2d's depthwise layers, through as_depthwise: a residual, any activation):
// applied to each output vector before its store, by instances of the row kernels of
// their own (Epilogue = true). The plain instances -- the depthwise op, the separable
// kernel -- keep the store they had: a residual pointer tested per store cost them 3-6%
// (1 thread, MobileNet's 3x3 and 5x5 layers, AVX2 and AVX-512).
#include "common/activation_simd.h"

namespace {

// Sizes of one call, resolved once.
struct DwPlan {
  int64_t qw = 0;                 // plane row width: out_w + the widest column shift
  int64_t halo = 0;               // plane rows below a chunk's output rows
  int64_t phases_h = 0, phases_w = 0;
  int64_t rows = 0;               // output rows per chunk
  int64_t row_chunks = 0;
  int64_t plane_floats = 0;       // one phase plane of a full chunk: (rows + halo) * qw
  int64_t channel_floats = 0;     // all phase planes of one channel
  int64_t slack = 0;              // floats after the planes that tail loads may touch
  std::vector<int64_t> phase_of_h, phase_of_w;  // phase plane index, -1 unused
  std::vector<int64_t> tap_offset;              // per tap, from the planes' start
};

// max_rows caps the rows per chunk (the fused kernel's tile); 0: chunk by the L1d
// (depthwise_plane_bytes).
template <class Isa>
DwPlan make_dw_plan(const DepthwiseConv2dParams& p, int64_t max_rows) {
  DwPlan d;
  d.qw = p.out_w + (p.kernel_w - 1) * p.dilation_w / p.stride_w;
  d.halo = (p.kernel_h - 1) * p.dilation_h / p.stride_h;
  d.phase_of_h.assign(p.stride_h, -1);
  d.phase_of_w.assign(p.stride_w, -1);
  for (int64_t r = 0; r < p.kernel_h; ++r) {
    int64_t& ph = d.phase_of_h[r * p.dilation_h % p.stride_h];
    if (ph < 0) ph = d.phases_h++;
  }
  for (int64_t s = 0; s < p.kernel_w; ++s) {
    int64_t& pw = d.phase_of_w[s * p.dilation_w % p.stride_w];
    if (pw < 0) pw = d.phases_w++;
  }
  if (max_rows > 0) {
    d.rows = std::min(max_rows, p.out_h);
  } else {
    const int64_t row_bytes = d.phases_h * d.phases_w * d.qw * int64_t{4};
    d.rows = std::clamp<int64_t>(depthwise_plane_bytes(cpu_caches()) / row_bytes - d.halo, 1,
                                 p.out_h);
  }
  d.row_chunks = ceil_div(p.out_h, d.rows);
  if (max_rows <= 0) d.rows = ceil_div(p.out_h, d.row_chunks);  // even chunks
  d.plane_floats = (d.rows + d.halo) * d.qw;
  d.channel_floats = d.phases_h * d.phases_w * d.plane_floats;
  d.slack = 2 * Isa::kLanes;
  d.tap_offset.resize(p.kernel_h * p.kernel_w);
  for (int64_t r = 0; r < p.kernel_h; ++r) {
    for (int64_t s = 0; s < p.kernel_w; ++s) {
      const int64_t dh = r * p.dilation_h, dw = s * p.dilation_w;
      const int64_t plane =
          d.phase_of_h[dh % p.stride_h] * d.phases_w + d.phase_of_w[dw % p.stride_w];
      d.tap_offset[r * p.kernel_w + s] =
          plane * d.plane_floats + (dh / p.stride_h) * d.qw + dw / p.stride_w;
    }
  }
  return d;
}

// Row building, a vector at a time with masked loads (masked-off lanes read nothing and
// are zero, which is the padding) and a masked store for the row's last vector: no
// scalar edges, no memcpy / memset calls -- at 7 to 28 columns those dominated the build.
// The masks depend on the column only, so they are made once per plane build: on the
// 7x7 and 14x14 layers the mask arithmetic per load cost more than the loads.
template <class V>
struct RowMasks {
  static constexpr int kMax = 32;   // vectors per row precomputed; wider rows compute
  using Mask = typename V::Mask;
  Mask lo[kMax], hi[kMax];          // source loads (hi: the second of a stride-2 pair)
  Mask store_tail;                  // the row's last vector
  int64_t vecs, qw, in_w, pad_w, step;
  RowMasks(int64_t qw_, int64_t in_w_, int64_t pad_w_, int64_t stride)
      : qw(qw_), in_w(in_w_), pad_w(pad_w_), step(stride) {
    vecs = ceil_div(qw, V::kLanes);
    store_tail = V::mask(qw - (vecs - 1) * V::kLanes);
    for (int64_t v = 0; v < std::min<int64_t>(vecs, kMax); ++v) {
      lo[v] = load_mask(v, 0);
      hi[v] = load_mask(v, 1);
    }
  }
  Mask load_mask(int64_t v, int64_t half) const {
    const int64_t x0 = step * v * V::kLanes - pad_w + half * V::kLanes;
    const int64_t first = std::clamp<int64_t>(-x0, 0, V::kLanes);
    return V::range(first, std::clamp<int64_t>(in_w - x0, first, V::kLanes));
  }
  Mask get(int64_t v, int64_t half) const {
    return v < kMax ? (half ? hi[v] : lo[v]) : load_mask(v, half);
  }
};

// Stride 1: row[j] = src[j - pad_w] inside the row, 0 outside, j < qw. src == nullptr:
// a row wholly in the padding.
template <class V>
inline void copy_row(const RowMasks<V>& m, const float* src, float* row) {
  constexpr int64_t L = V::kLanes;
  for (int64_t v = 0; v < m.vecs; ++v) {
    const int64_t j = v * L;
    const auto x = src ? V::maskload(src + j - m.pad_w, m.get(v, 0)) : V::zero();
    if (v + 1 < m.vecs) {
      V::storeu(row + j, x);
    } else {
      V::maskstore(row + j, m.store_tail, x);
    }
  }
}

// Stride 2, both column phases in one pass: ph_b[j] = src[2j + b - pad_w] inside the row,
// 0 outside, j < qw.
template <class V>
inline void deinterleave_row(const RowMasks<V>& m, const float* src, float* ph0, float* ph1) {
  constexpr int64_t L = V::kLanes;
  for (int64_t v = 0; v < m.vecs; ++v) {
    const int64_t j = v * L;
    typename V::Vec even = V::zero(), odd = V::zero();
    if (src) {
      const float* s = src + 2 * j - m.pad_w;
      V::deinterleave(V::maskload(s, m.get(v, 0)), V::maskload(s + L, m.get(v, 1)), even, odd);
    }
    if (v + 1 < m.vecs) {
      V::storeu(ph0 + j, even);
      V::storeu(ph1 + j, odd);
    } else {
      V::maskstore(ph0 + j, m.store_tail, even);
      V::maskstore(ph1 + j, m.store_tail, odd);
    }
  }
}

// Builds the phase planes of output rows [y0, y0 + rows) of one input channel `xc`, with
// V's vectors (the caller picks the narrow ones for narrow planes).
template <class V>
inline void build_dw_planes_with(const DepthwiseConv2dParams& p, const DwPlan& d,
                                 const float* xc, int64_t y0, int64_t rows, float* planes) {
  // Stride 2 with both column phases read (kernels at least 2 wide, odd dilation):
  // one deinterleaving pass per row.
  const bool pairs = p.stride_w == 2 && d.phases_w == 2;
  if (pairs || p.stride_w == 1) {
    const RowMasks<V> masks(d.qw, p.in_w, p.pad_w, p.stride_w);
    // Padded rows in order, each into its row phase: the input is read as one sequential
    // stream (row phase by row phase would be s_h interleaved strided streams, which the
    // hardware prefetchers follow less well on the layers that come from DRAM).
    // (a, i) advance with the row instead of pr % s_h, pr / s_h: a 64-bit division per
    // row cost more than copying a 7-wide row.
    const int64_t plane_rows = rows + d.halo;
    const int64_t pr_end = (y0 + plane_rows) * p.stride_h;
    for (int64_t pr = y0 * p.stride_h, a = 0, i = 0; pr < pr_end; ++pr) {
      const int64_t row_a = a, row_i = i;
      if (++a == p.stride_h) {
        a = 0;
        ++i;
      }
      if (d.phase_of_h[row_a] < 0) continue;
      const int64_t iy = pr - p.pad_h;
      const float* src = iy < 0 || iy >= p.in_h ? nullptr : xc + iy * p.in_w;
      float* ph0 =
          planes + (d.phase_of_h[row_a] * d.phases_w + d.phase_of_w[0]) * d.plane_floats;
      if (pairs) {
        float* ph1 = planes + (d.phase_of_h[row_a] * 2 + d.phase_of_w[1]) * d.plane_floats;
        deinterleave_row<V>(masks, src, ph0 + row_i * d.qw, ph1 + row_i * d.qw);
      } else {
        copy_row<V>(masks, src, ph0 + row_i * d.qw);
      }
    }
    return;
  }
  for (int64_t a = 0; a < p.stride_h; ++a) {
    if (d.phase_of_h[a] < 0) continue;
    for (int64_t b = 0; b < p.stride_w; ++b) {
      if (d.phase_of_w[b] < 0) continue;
      float* plane = planes + (d.phase_of_h[a] * d.phases_w + d.phase_of_w[b]) * d.plane_floats;
      // Plane column j holds padded column j*s_w + b = input column j*s_w + b - pad_w,
      // valid for j in [j0, j1).
      const int64_t first = b - p.pad_w;
      const int64_t j0 = std::clamp<int64_t>(ceil_div(-first, p.stride_w), 0, d.qw);
      const int64_t j1 = std::clamp<int64_t>(
          first >= p.in_w ? 0 : ceil_div(p.in_w - first, p.stride_w), j0, d.qw);
      for (int64_t i = 0; i < rows + d.halo; ++i) {
        float* row = plane + i * d.qw;
        const int64_t iy = (y0 + i) * p.stride_h + a - p.pad_h;
        if (iy < 0 || iy >= p.in_h || j0 >= j1) {
          std::memset(row, 0, sizeof(float) * d.qw);
          continue;
        }
        const float* src = xc + iy * p.in_w + first;
        std::memset(row, 0, sizeof(float) * j0);
        for (int64_t j = j0; j < j1; ++j) row[j] = src[j * p.stride_w];
        std::memset(row + j1, 0, sizeof(float) * (d.qw - j1));
      }
    }
  }
}

template <class Wide, class Narrow>
inline void build_dw_planes(const DepthwiseConv2dParams& p, const DwPlan& d, const float* xc,
                            int64_t y0, int64_t rows, float* planes) {
  if (Narrow::kLanes < Wide::kLanes && d.qw <= Narrow::kLanes) {
    build_dw_planes_with<Narrow>(p, d, xc, y0, rows, planes);
  } else {
    build_dw_planes_with<Wide>(p, d, xc, y0, rows, planes);
  }
}

// One output channel's rows [0, rows) of a chunk, from its built planes.
struct DwRowsArgs {
  const float* planes;
  int64_t qw, plane_floats, phases_w;
  const int64_t* tap_offset;
  int64_t taps;
  const float* w;      // the channel's kh * kw weights
  float bias;          // 0 without a bias
  Activation act;
  float* out;          // output row 0, column 0
  int64_t out_stride;  // floats between output rows (of `out` and `residual`)
  int64_t rows, out_w;
  const float* residual;  // the residual at `out`, or nullptr; epilogue instances only
};

template <class V>
inline typename V::Vec dw_activate(typename V::Vec v, Activation act) {
  // max(0, v) / min(6, v) with v second: the instructions return their second operand
  // when one is NaN, so a NaN propagates, as torch.relu's does.
  if (act == Activation::none) return v;
  v = V::max(V::zero(), v);
  if (act == Activation::relu6) v = V::min(V::set1(6.0f), v);
  return v;
}

template <class V>
inline void dw_store(float* o, typename V::Vec v, bool full, typename V::Mask m,
                     Activation act) {
  v = dw_activate<V>(v, act);
  if (full) {
    V::storeu(o, v);
  } else {
    V::maskstore(o, m, v);
  }
}

// dw_store with the epilogue: the residual at `res` (nullptr: none) added, any activation.
// `left` is the row's columns from o on (sigmoid's scalar pass after the store stops at
// min(left, lanes)).
template <class V>
inline void dw_store_epilogue(float* o, const float* res, typename V::Vec v, bool full,
                              typename V::Mask m, int64_t left, Activation act) {
  if (res) v = V::add(v, full ? V::loadu(res) : V::maskload(res, m));
  v = activate_vec<V>(v, act);
  if (full) {
    V::storeu(o, v);
  } else {
    V::maskstore(o, m, v);
  }
  if (act == Activation::sigmoid) sigmoid_in_place(o, full ? V::kLanes : left);
}

// The store of a row kernel's output vector at offset `at` from `out` (`left` columns of
// the row from there on).
template <class V, bool Epilogue>
inline void dw_store_at(const DwRowsArgs& a, int64_t at, typename V::Vec v, bool full,
                        typename V::Mask m, int64_t left) {
  if constexpr (Epilogue) {
    dw_store_epilogue<V>(a.out + at, a.residual ? a.residual + at : nullptr, v, full, m,
                         left, a.act);
  } else {
    dw_store<V>(a.out + at, v, full, m, a.act);
  }
}

// Fast path: KH x KW, stride SH x SW, dilation 1; RB output rows at once. Weights stay in
// registers; the row pointers are explicit so equal (plane, row) loads are one load.
template <class V, int KH, int KW, int SH, int SW, int RB, bool Epilogue>
void dw_rows_block(const DwRowsArgs& a, int64_t y, const typename V::Vec* wv) {
  using Vec = typename V::Vec;
  constexpr int64_t L = V::kLanes;
  constexpr int PH = KH < SH ? KH : SH;
  constexpr int PW = KW < SW ? KW : SW;
  constexpr int QH = (KH - 1) / SH;  // deepest row shift
  const float* row[PH][PW][RB + QH];
#pragma GCC unroll 8
  for (int ph = 0; ph < PH; ++ph)
#pragma GCC unroll 8
    for (int pw = 0; pw < PW; ++pw)
#pragma GCC unroll 16
      for (int i = 0; i < RB + QH; ++i)
        row[ph][pw][i] = a.planes + (ph * a.phases_w + pw) * a.plane_floats + (y + i) * a.qw;
  const Vec b = V::set1(a.bias);
  for (int64_t x0 = 0; x0 < a.out_w; x0 += L) {
    const bool full = x0 + L <= a.out_w;
    const auto m = V::mask(full ? L : a.out_w - x0);
    Vec acc[RB];
#pragma GCC unroll 8
    for (int rb = 0; rb < RB; ++rb) acc[rb] = b;
#pragma GCC unroll 8
    for (int r = 0; r < KH; ++r)
#pragma GCC unroll 8
      for (int s = 0; s < KW; ++s)
#pragma GCC unroll 8
        for (int rb = 0; rb < RB; ++rb)
          acc[rb] = V::fmadd(wv[r * KW + s],
                             V::loadu(row[r % SH][s % SW][rb + r / SH] + s / SW + x0), acc[rb]);
#pragma GCC unroll 8
    for (int rb = 0; rb < RB; ++rb)
      dw_store_at<V, Epilogue>(a, (y + rb) * a.out_stride + x0, acc[rb], full, m, a.out_w - x0);
  }
}

template <class V, int KH, int KW, int SH, int SW, bool Epilogue>
void dw_rows_fast(const DwRowsArgs& a) {
  typename V::Vec wv[KH * KW];
#pragma GCC unroll 32
  for (int t = 0; t < KH * KW; ++t) wv[t] = V::set1(a.w[t]);
  constexpr int RB = V::kDwRows;
  int64_t y = 0;
  for (; y + RB <= a.rows; y += RB) dw_rows_block<V, KH, KW, SH, SW, RB, Epilogue>(a, y, wv);
  // The leftover rows as one block too (a 7-row plane: 4 + 3, not 4 + 1 + 1 + 1, which
  // would reload the shared input rows), for RB up to 4.
  static_assert(RB <= 4, "leftover blocks are instantiated for RB <= 4");
  switch (a.rows - y) {
    case 3: if constexpr (RB > 3) dw_rows_block<V, KH, KW, SH, SW, 3, Epilogue>(a, y, wv); break;
    case 2: if constexpr (RB > 2) dw_rows_block<V, KH, KW, SH, SW, 2, Epilogue>(a, y, wv); break;
    case 1: dw_rows_block<V, KH, KW, SH, SW, 1, Epilogue>(a, y, wv); break;
    default: break;
  }
}

// Generic path: any kernel size, stride and dilation.
template <class V, bool Epilogue>
void dw_rows_generic(const DwRowsArgs& a) {
  using Vec = typename V::Vec;
  constexpr int64_t L = V::kLanes;
  const Vec b = V::set1(a.bias);
  for (int64_t y = 0; y < a.rows; ++y) {
    const float* base = a.planes + y * a.qw;
    for (int64_t x0 = 0; x0 < a.out_w; x0 += L) {
      const bool full = x0 + L <= a.out_w;
      const auto m = V::mask(full ? L : a.out_w - x0);
      Vec acc0 = b, acc1 = V::zero();  // two chains: the FMA latency, not throughput, binds
      int64_t t = 0;
      for (; t + 1 < a.taps; t += 2) {
        acc0 = V::fmadd(V::set1(a.w[t]), V::loadu(base + a.tap_offset[t] + x0), acc0);
        acc1 = V::fmadd(V::set1(a.w[t + 1]), V::loadu(base + a.tap_offset[t + 1] + x0), acc1);
      }
      if (t < a.taps) acc0 = V::fmadd(V::set1(a.w[t]), V::loadu(base + a.tap_offset[t] + x0), acc0);
      dw_store_at<V, Epilogue>(a, y * a.out_stride + x0, V::add(acc0, acc1), full, m,
                               a.out_w - x0);
    }
  }
}

using DwRowsFn = void (*)(const DwRowsArgs&);

template <class V, bool Epilogue>
DwRowsFn select_dw_rows_for(const DepthwiseConv2dParams& p) {
  if (p.dilation_h == 1 && p.dilation_w == 1) {
    const auto is = [&](int64_t k, int64_t s) {
      return p.kernel_h == k && p.kernel_w == k && p.stride_h == s && p.stride_w == s;
    };
    if (is(3, 1)) return &dw_rows_fast<V, 3, 3, 1, 1, Epilogue>;
    if (is(3, 2)) return &dw_rows_fast<V, 3, 3, 2, 2, Epilogue>;
    if (is(5, 1)) return &dw_rows_fast<V, 5, 5, 1, 1, Epilogue>;
    if (is(5, 2)) return &dw_rows_fast<V, 5, 5, 2, 2, Epilogue>;
  }
  return &dw_rows_generic<V, Epilogue>;
}

// Wide: the ISA's full vectors; Narrow: half-width ones for rows of at most its lanes.
// The epilogue instances where p has a residual or an activation.
template <class Wide, class Narrow>
DwRowsFn select_dw_rows(const DepthwiseConv2dParams& p) {
  const bool epilogue = p.residual != nullptr || p.activation != Activation::none;
  if (Narrow::kLanes < Wide::kLanes && p.out_w <= Narrow::kLanes) {
    return epilogue ? select_dw_rows_for<Narrow, true>(p) : select_dw_rows_for<Narrow, false>(p);
  }
  return epilogue ? select_dw_rows_for<Wide, true>(p) : select_dw_rows_for<Wide, false>(p);
}

inline DwRowsArgs dw_rows_args(const DwPlan& d, const float* planes, const float* w,
                               const float* bias, Activation act, float* out,
                               int64_t out_stride, int64_t rows, int64_t out_w,
                               int64_t taps) {
  DwRowsArgs a;
  a.planes = planes;
  a.qw = d.qw;
  a.plane_floats = d.plane_floats;
  a.phases_w = d.phases_w;
  a.tap_offset = d.tap_offset.data();
  a.taps = taps;
  a.w = w;
  a.bias = bias ? *bias : 0.0f;
  a.act = act;
  a.out = out;
  a.out_stride = out_stride;
  a.rows = rows;
  a.out_w = out_w;
  a.residual = nullptr;
  return a;
}

template <class Wide, class Narrow>
void depthwise_conv2d_direct(const DepthwiseConv2dParams& p) {
  const DwPlan d = make_dw_plan<Wide>(p, 0);
  const DwRowsFn rows_fn = select_dw_rows<Wide, Narrow>(p);
  const int64_t m = p.multiplier;
  const int64_t k_total = p.out_channels();
  const int64_t taps = p.kernel_h * p.kernel_w;
  const int64_t out_plane = p.out_h * p.out_w;
  const int64_t items = p.batch * p.channels * d.row_chunks;
  run_parallel(p.exec, 0, items, 1, [&](int64_t begin, int64_t end) {
    // Two plane buffers, software-pipelined: item i + 1's planes are built before item
    // i's rows are computed, so the build's stores have retired by the time the row
    // kernels load them. Loading straight after building stalled every load on store
    // forwarding (an unaligned load over a masked store cannot forward): on the 7x7 layers
    // that cost more than the arithmetic.
    thread_local std::vector<float> scratch;
    const int64_t buffer_floats = d.channel_floats + d.slack;
    const size_t need = static_cast<size_t>(2 * buffer_floats);
    // Zero-filled once: the slack is only read into dropped lanes, but must not hold
    // denormals that slow those lanes' FMAs.
    if (scratch.size() < need) scratch.assign(need, 0.0f);
    // Work items decomposed once and then advanced with carries: the 64-bit divisions of
    // item -> (n, c, row chunk) cost ~6 x 40-90 cycles an item, more than a 7x7 channel.
    struct Cursor {
      int64_t nc, rc;  // n * C + c, row chunk
    };
    const auto advance = [&](Cursor& at) {
      if (++at.rc == d.row_chunks) {
        at.rc = 0;
        ++at.nc;
      }
    };
    const auto build = [&](const Cursor& at, float* planes) {
      const int64_t y0 = at.rc * d.rows;
      build_dw_planes<Wide, Narrow>(p, d, p.input + at.nc * p.in_h * p.in_w, y0,
                                    std::min(d.rows, p.out_h - y0), planes);
    };
    Cursor at{begin / d.row_chunks, begin % d.row_chunks};
    int64_t c = at.nc % p.channels, n = at.nc / p.channels;
    float* buffers[2] = {scratch.data(), scratch.data() + buffer_floats};
    build(at, buffers[0]);
    for (int64_t item = begin; item < end; ++item) {
      Cursor next = at;
      advance(next);
      if (item + 1 < end) build(next, buffers[(item - begin + 1) & 1]);
      const float* planes = buffers[(item - begin) & 1];
      const int64_t y0 = at.rc * d.rows;
      const int64_t rows = std::min(d.rows, p.out_h - y0);
      for (int64_t j = 0; j < m; ++j) {
        const int64_t k = c * m + j;
        const int64_t at = (n * k_total + k) * out_plane + y0 * p.out_w;
        DwRowsArgs args =
            dw_rows_args(d, planes, p.weight + k * taps, p.bias ? p.bias + k : nullptr,
                         p.activation, p.output + at, p.out_w, rows, p.out_w, taps);
        if (p.residual) args.residual = p.residual + at;
        rows_fn(args);
      }
      if (next.nc != at.nc && ++c == p.channels) {
        c = 0;
        ++n;
      }
      at = next;
    }
  });
}

}  // namespace
