// The SIMD body of the blocked convolution (conv2d_nchwc.h), included INSIDE an ISA target
// region (conv2d_nchwc_avx2.cpp, conv2d_nchwc_avx512.cpp) after that file's vector traits
// `Isa`, as conv2d_direct.h is: everything is in an anonymous namespace and compiled for
// that ISA only. Includes nothing itself but the epilogue's activations
// (common/activation_simd.h, a region body too).
//
// Isa provides Vec, kLanes (= the block B), kOcBlocks and kPixels (the register tile:
// kOcBlocks output channel blocks x kPixels output pixels of one row, one accumulator
// each), and zero / set1 / load / store / fmadd / add / mul / min / max / keep_lanes.
//
// The inner step, for one input channel i of one tap: kPixels broadcasts of the input
// value at each pixel, kOcBlocks vector loads of the weights of B output channels, and
// kOcBlocks * kPixels FMAs. AVX2: 4 x 3 (12 accumulators + 3 broadcasts + 1 weight = 16
// ymm, 12 FMAs per 7 loads: the tile of oneDNN's jit_avx2 and ONNX Runtime's
// SconvKernelFma3). The channel loop is unrolled at compile time (Bi = B or 1), the tap
// loops are not: their bodies are B * kOcBlocks * kPixels FMAs long already.
//
// Padding never reaches the hot loop: output rows clip their taps' row range, and the
// tiles holding output columns whose taps leave the input (the first and last few) run a
// border variant that reads zero for those taps. Everything else is "interior".
#include "common/activation_simd.h"

namespace {

struct NchwcPlan {
  int64_t kb_count = 0, groups = 0, bi = 0;
  int64_t kgroups = 0;      // ceil(kb_count / kOcBlocks) groups of near-equal size
  int64_t rows = 0;         // output rows as the kernel walks them (1 for a 1x1 line)
  int64_t width = 0;        // output positions per row (out_h * out_w for a 1x1 line)
  int64_t in_h = 0, in_w = 0;  // input rows / row width as walked
  int64_t group_batch = 0;  // input channel groups a tile sums before storing its partial sums
  int64_t chunk = 0, chunks = 0;
  int64_t ox_lo = 0, ox_hi = 0;  // interior output columns [ox_lo, ox_hi)
  int64_t in_px = 0;        // floats between consecutive input pixels
  int64_t in_group = 0;     // floats between input channel groups
  int64_t w_block = 0;      // floats of one output block's packed weights
  int64_t w_group = 0;      // floats of one (output block, input group) slice
  int64_t out_plane = 0;    // floats of one output channel block of one image
};

template <class Isa>
NchwcPlan make_nchwc_plan(const Conv2dNchwcParams& p) {
  constexpr int64_t B = Isa::kLanes;
  NchwcPlan d;
  d.kb_count = p.out_blocks();
  d.groups = p.channel_groups();
  d.bi = p.group_channels();
  d.kgroups = (d.kb_count + Isa::kOcBlocks - 1) / Isa::kOcBlocks;
  const bool line = p.kernel_h == 1 && p.kernel_w == 1 && p.stride_h == 1 &&
                    p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0 &&
                    p.out_h == p.in_h && p.out_w == p.in_w;
  d.rows = line ? 1 : p.out_h;
  d.width = line ? p.out_h * p.out_w : p.out_w;
  d.in_h = line ? 1 : p.in_h;
  d.in_w = line ? p.in_h * p.in_w : p.in_w;
  d.in_px = p.input_blocked ? B : 1;
  d.in_group = p.in_plane_stride > 0 ? p.in_plane_stride : p.in_h * p.in_w * d.in_px;
  d.w_group = p.kernel_h * p.kernel_w * d.bi * B;
  d.w_block = d.groups * d.w_group;
  d.out_plane = p.out_h * p.out_w * B;
  // Interior columns: ox * stride_w - pad_w >= 0 and the last tap's column < in_w.
  const int64_t reach = (p.kernel_w - 1) * p.dilation_w;
  d.ox_lo = std::min(d.width, (p.pad_w + p.stride_w - 1) / p.stride_w);
  const int64_t last = d.in_w - 1 + p.pad_w - reach;  // ox * stride_w <= last
  d.ox_hi = last < 0 ? d.ox_lo : std::clamp<int64_t>(last / p.stride_w + 1, d.ox_lo, d.width);
  d.group_batch = nchwc_group_batch(cpu_caches(), Isa::kOcBlocks, B, p.kernel_h * p.kernel_w,
                                    d.bi, d.groups);
  d.chunk = std::min(d.width,
                     nchwc_chunk_positions(cpu_caches(), Isa::kOcBlocks, B, p.kernel_h,
                                           p.stride_w, d.bi * d.group_batch, Isa::kPixels));
  // At least 4 work items per thread where the row allows: a 1x1 layer at 7x7 is one line
  // of 49 positions, and its few output block groups alone left one of two threads idle
  // for a third of the layer (MobileNet-v2's 960 -> 160 projection: 3 items).
  const int64_t want = 4 * std::max<int64_t>(1, p.exec.max_threads);
  const int64_t per_chunk = p.batch * d.kgroups * d.rows;
  if (p.exec.max_threads > 1 && per_chunk * ((d.width + d.chunk - 1) / d.chunk) < want) {
    const int64_t chunks = (want + per_chunk - 1) / per_chunk;
    const int64_t split = (d.width + chunks - 1) / chunks;
    d.chunk = std::min(d.chunk, std::max<int64_t>(
        Isa::kPixels, (split + Isa::kPixels - 1) / Isa::kPixels * Isa::kPixels));
  }
  d.chunks = (d.width + d.chunk - 1) / d.chunk;
  return d;
}

struct NchwcTileArgs {
  const float* in;        // the first input channel group, at the row of tap r = 0 (may
                          // be outside the image: only rows [r0, r1) are read)
  int64_t groups;         // input channel groups to sum, in_group floats apart in the input
  int64_t in_group;       // and w_group floats apart in the weights
  int64_t w_group;
  int64_t in_row;         // floats per input row (in_w * in_px)
  int64_t dil_row;        // floats between the rows of consecutive taps
  int64_t ix0;            // input column of pixel 0's tap s = 0 (may be negative)
  int64_t px_step;        // floats between consecutive pixels' inputs (stride_w * in_px)
  int64_t dil_col;        // floats between the columns of consecutive taps
  int64_t in_px;
  int r0, r1;             // taps whose rows are inside the input
  int64_t in_w;           // input row width in pixels, and (border tiles) the pixel steps
  int64_t stride_w, dilation_w;  // between the tile's pixels and between taps
  int64_t kernel_w;
  const float* w;         // packed weights of (first block, first group)
  int64_t w_block;
  const float* bias;      // bias of the first block, or nullptr
  const float* residual;  // residual at the tile's first output, or nullptr
  float* out;             // output at the tile's first position, first block
  int64_t out_plane;
  bool first, last;       // the first / last input channel group
  Activation act;
  int64_t tail_lanes;     // valid lanes of block `tail_block` (< B), else B
  int tail_block;         // the tile's block holding the last output channels, or -1
};

constexpr int64_t kPrefetchTiles = 3;

// Zeros a border tile's pixel reads for its taps in the padding: a broadcast from memory
// like the others (a load port), where selecting the value per channel would put a
// register broadcast on port 5, shared with AVX-512's second FMA.
alignas(64) constexpr float kNchwcZeros[16] = {};

// One tap of a tile: for each of the input group's BI channels, P broadcasts (pixel q's
// input at px[q]) and OCB weight vectors into the OCB x P accumulators.
template <class Isa, int OCB, int P, int BI>
[[gnu::always_inline]] inline void nchwc_tap(typename Isa::Vec (&acc)[OCB][P],
                                             const float* const (&px)[P], const float* w,
                                             int64_t w_block) {
  using Vec = typename Isa::Vec;
  constexpr int64_t B = Isa::kLanes;
#pragma GCC unroll 16
  for (int i = 0; i < BI; ++i) {
    Vec xv[P];
#pragma GCC unroll 16
    for (int q = 0; q < P; ++q) xv[q] = Isa::set1(px[q][i]);
    // The broadcasts and the weight vector stay in registers (see conv2d_direct.h: GCC
    // otherwise re-reads operands per use to free registers for the accumulators).
#pragma GCC unroll 16
    for (int q = 0; q < P; ++q) asm("" : "+v"(xv[q]));
#pragma GCC unroll 8
    for (int j = 0; j < OCB; ++j) {
      Vec wv = Isa::load(w + j * w_block + i * B);
      asm("" : "+v"(wv));
#pragma GCC unroll 16
      for (int q = 0; q < P; ++q) acc[j][q] = Isa::fmadd(wv, xv[q], acc[j][q]);
    }
  }
}

// Border tiles (Border = true) hold pixels some of whose taps fall into the left or right
// padding: per tap, such a pixel reads kNchwcZeros instead of its input.
template <class Isa, int OCB, int P, int BI, bool Border>
void nchwc_tile(const NchwcTileArgs& a) {
  using Vec = typename Isa::Vec;
  constexpr int64_t B = Isa::kLanes;
  // The full interior tile of a blocked input runs the ISA's hand-scheduled tap (Isa::tap,
  // inline assembly): GCC's allocation of this loop spilled accumulators to the stack --
  // 2 of AVX2's 12 and 8 FMAs of AVX-512's 384 read one from memory, a store-forwarding
  // chain through a 4-cycle FMA -- since 12 + 3 + 1 (AVX2) and 24 + 6 + 1 (AVX-512) vector
  // registers leave it no slack. A/B, 1 thread, AVX2: 1x1 layers 1.20-1.30x (63-68 ->
  // 80-85 GFLOP/s), 3x3 within noise. Tails, border taps and NCHW inputs keep the C++ loop.
  constexpr bool kAsmTap = Isa::kAsmTap && BI == B && OCB == Isa::kOcBlocks &&
                           P == Isa::kPixels;
  Vec acc[OCB][P];
#pragma GCC unroll 8
  for (int j = 0; j < OCB; ++j) {
    const Vec b = a.bias ? Isa::load(a.bias + j * B) : Isa::zero();
#pragma GCC unroll 16
    for (int q = 0; q < P; ++q) {
      acc[j][q] = a.first ? b : Isa::load(a.out + j * a.out_plane + q * B);
    }
  }
  for (int64_t g = 0; g < a.groups; ++g) {
    {
      // The input of the tile kPrefetchTiles ahead in this group. A 1x1 reads each input
      // line once per tile, from as many streams as the batch has groups, which the
      // hardware prefetchers follow poorly. A/B, 1 thread, AVX2, 1x1 layers: distance 1
      // 1.02-1.04x, 3 1.04-1.08x; 3x3 within noise.
      const float* ahead = a.in + g * a.in_group + a.ix0 * a.in_px + kPrefetchTiles * P * a.px_step;
      __builtin_prefetch(ahead, 0, 3);
      __builtin_prefetch(ahead + 16, 0, 3);
    }
  for (int r = a.r0; r < a.r1; ++r) {
    const float* row = a.in + g * a.in_group + r * a.dil_row;
    for (int s = 0; s < a.kernel_w; ++s) {
      const float* x = row + a.ix0 * a.in_px + s * a.dil_col;
      const float* w = a.w + g * a.w_group + (r * a.kernel_w + s) * BI * B;
      const float* px[P];
      bool full = true;  // every pixel's column of this tap inside the row
#pragma GCC unroll 16
      for (int q = 0; q < P; ++q) {
        if constexpr (Border) {
          const int64_t ix = a.ix0 + q * a.stride_w + s * a.dilation_w;
          const bool inside = ix >= 0 && ix < a.in_w;
          full = full && inside;
          px[q] = inside ? row + ix * a.in_px : kNchwcZeros;
        } else {
          px[q] = x + q * a.px_step;
        }
      }
      if constexpr (kAsmTap) {
        if (full) {
          Isa::tap(acc, x, a.px_step, w, a.w_block);
          continue;
        }
      }
      nchwc_tap<Isa, OCB, P, BI>(acc, px, w, a.w_block);
    }
  }
  }
  // The epilogue reads every argument into a local first: a vector store writes through
  // a may_alias type, so the compiler would otherwise reload and re-test a.last, a.act,
  // a.residual ... after each of the tile's stores (a 1x1 layer with 16 input channels
  // spent a third of its time there).
  float* const out = a.out;
  const int64_t out_plane = a.out_plane;
  if (a.last) {
    const float* const residual = a.residual;
    const Activation act = a.act;
    const int tail_block = a.tail_block;
    const int64_t tail_lanes = a.tail_lanes;
    if (residual) {
#pragma GCC unroll 8
      for (int j = 0; j < OCB; ++j) {
#pragma GCC unroll 16
        for (int q = 0; q < P; ++q) {
          acc[j][q] = Isa::add(acc[j][q], Isa::load(residual + j * out_plane + q * B));
        }
      }
    }
    if (act != Activation::none && act != Activation::sigmoid) {
#pragma GCC unroll 8
      for (int j = 0; j < OCB; ++j) {
#pragma GCC unroll 16
        for (int q = 0; q < P; ++q) acc[j][q] = activate_vec<Isa>(acc[j][q], act);
      }
    }
    if (tail_block >= 0) {
#pragma GCC unroll 8
      for (int j = 0; j < OCB; ++j) {
        if (j != tail_block) continue;
#pragma GCC unroll 16
        for (int q = 0; q < P; ++q) acc[j][q] = Isa::keep_lanes(acc[j][q], tail_lanes);
      }
    }
#pragma GCC unroll 8
    for (int j = 0; j < OCB; ++j) {
#pragma GCC unroll 16
      for (int q = 0; q < P; ++q) Isa::store(out + j * out_plane + q * B, acc[j][q]);
    }
    if (act == Activation::sigmoid) {
      for (int j = 0; j < OCB; ++j) {
        for (int q = 0; q < P; ++q) {
          sigmoid_in_place(out + j * out_plane + q * B, j == tail_block ? tail_lanes : B);
        }
      }
    }
    return;
  }
#pragma GCC unroll 8
  for (int j = 0; j < OCB; ++j) {
#pragma GCC unroll 16
    for (int q = 0; q < P; ++q) Isa::store(out + j * out_plane + q * B, acc[j][q]);
  }
}

using NchwcTileFn = void (*)(const NchwcTileArgs&);

template <class Isa, int OCB, int BI, bool Border, int... Ps>
constexpr std::array<NchwcTileFn, sizeof...(Ps)> nchwc_tile_row(
    std::integer_sequence<int, Ps...>) {
  return {&nchwc_tile<Isa, OCB, Ps + 1, BI, Border>...};
}
template <class Isa, int BI, bool Border, int... Js>
constexpr auto nchwc_tile_table(std::integer_sequence<int, Js...>) {
  return std::array<std::array<NchwcTileFn, Isa::kPixels>, sizeof...(Js)>{
      nchwc_tile_row<Isa, Js + 1, BI, Border>(
          std::make_integer_sequence<int, Isa::kPixels>{})...};
}

template <class Isa>
void conv2d_nchwc_simd(const Conv2dNchwcParams& p) {
  constexpr int64_t B = Isa::kLanes;
  // kTiles[blocked][border][oc blocks - 1][pixels - 1]
  using Table = decltype(nchwc_tile_table<Isa, 1, false>(
      std::make_integer_sequence<int, Isa::kOcBlocks>{}));
  constexpr auto blocks = std::make_integer_sequence<int, Isa::kOcBlocks>{};
  static constexpr std::array<std::array<Table, 2>, 2> kTiles = {
      std::array<Table, 2>{nchwc_tile_table<Isa, 1, false>(blocks),
                           nchwc_tile_table<Isa, 1, true>(blocks)},
      std::array<Table, 2>{nchwc_tile_table<Isa, B, false>(blocks),
                           nchwc_tile_table<Isa, B, true>(blocks)}};
  const NchwcPlan d = make_nchwc_plan<Isa>(p);
  const auto& tiles = kTiles[p.input_blocked ? 1 : 0];
  const int64_t in_image = d.groups * d.in_group;
  const int64_t items = p.batch * d.kgroups * d.rows * d.chunks;
  if (items == 0) return;
  const int64_t tail = p.out_channels - (d.kb_count - 1) * B;  // lanes of the last block
  // Output block groups of near-equal size: 6 blocks as 3 + 3, not 4 + 2, whose two
  // groups of items would cost 2:1 (and a 2-block tile covers the FMA latency worse).
  const int64_t kg_base = d.kb_count / d.kgroups, kg_wider = d.kb_count % d.kgroups;
  auto group_blocks = [&](int64_t kg, int64_t& kb0) {
    kb0 = kg * kg_base + std::min(kg, kg_wider);
    return static_cast<int>(kg_base + (kg < kg_wider ? 1 : 0));
  };
  // Item order. Channel-major, (image, output block group, row, chunk): a thread's
  // consecutive items share their weights and input rows, and with fewer images than
  // threads each thread reads only its share of the weights. Spatial-major, (image, row,
  // chunk, output block group), when an image's activations outweigh the layer's weights:
  // a thread then reads and writes one band of the image, all channels, so the next layer
  // (split the same way, as the blocked depthwise is) finds its input in its own core's
  // L2; split by channels, half of every layer's input was in the other core's.
  const int64_t act_bytes = 4 * (d.groups * d.in_group + d.kb_count * d.out_plane);
  const bool spatial = p.batch < p.exec.max_threads && act_bytes >= 4 * d.kb_count * d.w_block;
  auto decode = [&](int64_t item, int64_t& n, int64_t& kg, int64_t& y, int64_t& chunk) {
    if (spatial) {
      kg = item % d.kgroups;
      item /= d.kgroups;
      chunk = item % d.chunks;
      item /= d.chunks;
      y = item % d.rows;
      n = item / d.rows;
    } else {
      chunk = item % d.chunks;
      item /= d.chunks;
      y = item % d.rows;
      item /= d.rows;
      kg = item % d.kgroups;
      n = item / d.kgroups;
    }
  };
  // Threads take contiguous runs of equal cost (blocks x positions), not of equal count.
  std::vector<int64_t> cost(items + 1, 0);
  for (int64_t item = 0; item < items; ++item) {
    int64_t n, kg, y, chunk, kb0;
    decode(item, n, kg, y, chunk);
    const int64_t positions = std::min(d.width, (chunk + 1) * d.chunk) - chunk * d.chunk;
    cost[item + 1] = cost[item] + group_blocks(kg, kb0) * positions;
  }
  run_parallel_balanced(p.exec, cost, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      int64_t n, kg, y, chunk;
      decode(item, n, kg, y, chunk);
      int64_t kb0;
      const int ocb = group_blocks(kg, kb0);
      const int64_t x_begin = chunk * d.chunk, x_end = std::min(d.width, x_begin + d.chunk);
      // Taps whose rows fall inside the input.
      const int64_t iy0 = y * p.stride_h - p.pad_h;
      int r0 = 0, r1 = static_cast<int>(p.kernel_h);
      while (r0 < r1 && iy0 + r0 * p.dilation_h < 0) ++r0;
      while (r1 > r0 && iy0 + (r1 - 1) * p.dilation_h >= d.in_h) --r1;

      NchwcTileArgs a;
      a.in_row = d.in_w * d.in_px;
      a.dil_row = p.dilation_h * a.in_row;
      a.px_step = p.stride_w * d.in_px;
      a.dil_col = p.dilation_w * d.in_px;
      a.in_px = d.in_px;
      a.in_w = d.in_w;
      a.stride_w = p.stride_w;
      a.dilation_w = p.dilation_w;
      a.r0 = r0;
      a.r1 = r1;
      a.kernel_w = p.kernel_w;
      a.w_block = d.w_block;
      a.act = p.activation;
      a.tail_block = kb0 + ocb == d.kb_count && tail < B ? ocb - 1 : -1;
      a.tail_lanes = tail;
      float* out_row = p.output + ((n * p.output_blocks + kb0) * d.rows + y) * d.width * B;
      const float* res_row =
          p.residual ? p.residual + ((n * d.kb_count + kb0) * d.rows + y) * d.width * B
                     : nullptr;
      a.in_group = d.in_group;
      a.w_group = d.w_group;
      for (int64_t g = 0; g < d.groups; g += d.group_batch) {
        a.groups = std::min(d.group_batch, d.groups - g);
        a.in = p.input + n * in_image + g * d.in_group + iy0 * a.in_row;
        a.w = p.weight + kb0 * d.w_block + g * d.w_group;
        a.bias = p.bias && g == 0 ? p.bias + kb0 * B : nullptr;
        a.first = g == 0;
        a.last = g + a.groups == d.groups;
        // The chunk's pixels in tiles of near-equal size (7 = 4 + 3 at kPixels = 6), not
        // kPixels-wide tiles and a remainder: a tile of 1 or 2 pixels has too few
        // accumulators to cover the FMA latency (4 on AVX-512's 4 x 1, at half the
        // throughput), and the rows of the late layers are 7 or 14 wide. A tile runs
        // the border variant when one of its pixels has taps outside the row.
        const int64_t lo = std::clamp(d.ox_lo, x_begin, x_end);
        const int64_t hi = std::clamp(d.ox_hi, lo, x_end);
        const int64_t n_tiles = (x_end - x_begin + Isa::kPixels - 1) / Isa::kPixels;
        const int64_t base = (x_end - x_begin) / n_tiles, wider = (x_end - x_begin) % n_tiles;
        for (int64_t t = 0, ox = x_begin; t < n_tiles; ++t) {
          const int64_t count = base + (t < wider ? 1 : 0);
          const bool border = ox < lo || ox + count > hi;
          a.ix0 = ox * p.stride_w - p.pad_w;
          a.out = out_row + ox * B;
          a.residual = res_row ? res_row + ox * B : nullptr;
          a.out_plane = d.out_plane;
          tiles[border ? 1 : 0][ocb - 1][count - 1](a);
          ox += count;
        }
      }
    }
  });
}

}  // namespace
