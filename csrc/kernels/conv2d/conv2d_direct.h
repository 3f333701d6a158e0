// Direct convolution on phase planes: the body of the AVX2 and AVX-512 conv2d kernels.
//
// Included INSIDE an ISA target region (conv2d_avx2.cpp, conv2d_avx512.cpp), after the
// region's own vector traits `Isa`, the way simdjson includes its generic/ kernels once
// per implementation: everything here is in an anonymous namespace, instantiated with
// that file's traits, so it is compiled for that ISA only. Includes nothing itself but
// the epilogue's activations (common/activation_simd.h, a region body too); the including
// file includes <algorithm>, <cmath>, <cstdint>, <cstring>, <vector> above the region.
//
// The idea. For stride 1, a zero-padded input plane of row stride Qw makes every kernel
// tap a *contiguous* shift of the output: output position v = y * Qw + x reads plane
// element v + r*dil_h*Qw + s*dil_w. So over the flattened positions v the convolution is
// a GEMM whose "B" operand is a shifted load, with no im2col and no weight packing:
//     out[k][v] = sum_{c, tap} w[k][c][tap] * plane_c[v + offset(tap)]
// A padded row is out_w + (kw-1)*dil_w wide, but consecutive rows overlap by the zeros
// that one's right padding and the next one's left padding have in common, so
// Qw = out_w + max(pad_left, pad_right) for a "same" convolution. Columns x in
// [out_w, Qw) are garbage positions (wrap-around into the next row); they are computed
// and dropped at the store, costing (Qw - out_w) / Qw of the work (2% at 56 wide, 3x3).
// A stride s is turned into stride 1 by splitting the padded input into s_h x s_w phase
// planes (phase (a, b) holds padded rows a, a + s_h, ... and columns b, b + s_w, ...):
// tap (r, s) reads phase (r*dil_h % s_h, s*dil_w % s_w) shifted by
// (r*dil_h / s_h, s*dil_w / s_w). Only the phases some tap reads are built (a 1x1
// stride-2 convolution builds one quarter-size plane).
//
// Blocking, from the outside in:
//   work item  (n, group, output-row chunk, output-channel chunk). The chunk's phase
//              planes -- its rows plus the kernel's halo, every input channel of the
//              group -- are built into a per-thread scratch of at most
//              conv2d_slab_bytes(cpu_caches()) (3/4 of the L2, at most 768 KiB; conv2d.h),
//              which then stays in L2 while every output-channel tile of the chunk sweeps
//              it. The slab size moves only the row chunks, never the order of a sum.
//              A 1x1, stride-1, unpadded convolution reads the input in place.
//              Small images are stacked: an item then holds several images, whose
//              planes lie one below the other in the slab, each image's bottom padding
//              rows shared with the next one's top padding (see stacking below).
//   tile       Isa::kRows output channels x Isa::kVecs vectors of positions, kept in
//              registers across the whole (channel, tap) reduction: AVX-512 6 x 4 zmm
//              (24 accumulators; per tap 4 loads + 6 broadcasts feed 24 FMAs), AVX2 4 x 3
//              ymm (12 accumulators + 3 loads + 1 broadcast = 16 registers). Weights are
//              broadcast straight from PyTorch's OIHW layout: for fixed k, c the taps are
//              contiguous, so no packing pass is needed.
//              The tap loop is unrolled at compile time for 1x1, 3x3, 5x5 and 7x7
//              kernels (see tile()).
// Threads split the work items with the injected parallel_for (at::parallel_for). The
// item counts are sized to the threads (make_plan): row chunks differ by at most a
// row, and with fewer items than threads either rows or output channels are split
// further, whichever costs less -- more row chunks make every thread read every weight,
// more channel chunks make every thread build every plane.
// Epilogue (residual add, activation; conv2d.h): applied to the register tile before its
// store, where the tile stores straight into the output. A tile over plane positions
// with garbage columns stores into a staging buffer instead, whose positions are not the
// output's; there the epilogue runs in the copy of its valid columns to the output, from
// L1, with the same vector code.
// A depthwise convolution (one input channel per group) never gets here: the ISA
// entry points hand it to the depthwise kernels (conv2d.h, is_depthwise), whose stores
// apply the same epilogue.
#include "common/activation_simd.h"

namespace {

// Sizes of one call, resolved once.
struct DirectPlan {
  int64_t cg = 0, kg = 0;       // input / output channels per group
  int64_t taps = 0;             // kernel_h * kernel_w
  int64_t qw = 0;               // plane row stride: out_w + the widest tap shift - overlap
  int64_t halo = 0;             // extra plane rows below a chunk: the tallest tap shift
  int64_t overlap = 0;          // zero columns shared by consecutive plane rows
  int64_t phases_h = 0, phases_w = 0;  // phase planes built per channel
  bool in_place = false;        // 1x1, stride 1, no padding: read the input directly
  int64_t images = 1;           // images stacked in one item's planes
  int64_t image_rows = 0;       // plane rows from one stacked image's first row to the next's
  int64_t rows = 0;             // output rows per chunk
  int64_t row_chunks = 0, k_chunks = 0, k_tiles = 0;
  std::vector<int64_t> phase_of_h, phase_of_w;  // phase plane index of each phase, -1 unused
  std::vector<int64_t> tap_offset;  // per tap, relative to a channel's first plane
};

constexpr int64_t kItemsPerThread = 8;

// Rows of the plane of `images` stacked images (chunks of `rows` output rows each): the
// images before the last one, then the last one's rows plus the halo.
inline int64_t stacked_rows(const DirectPlan& d, int64_t rows, int64_t images) {
  return (images - 1) * d.image_rows + rows + d.halo;
}
// Rows of a chunk's plane: its output rows plus the halo, for every stacked image.
inline int64_t plane_rows(const DirectPlan& d, int64_t rows) {
  return stacked_rows(d, rows, d.images);
}
// Floats of one phase plane sized for `rows` output rows: its rows, and the zeros that
// the last row shares with the row after it.
inline int64_t plane_floats(const DirectPlan& d, int64_t rows) {
  return plane_rows(d, rows) * d.qw + d.overlap;
}
// Floats of one channel's planes for a chunk of `rows` output rows.
inline int64_t channel_floats(const DirectPlan& d, int64_t rows) {
  return d.phases_h * d.phases_w * plane_floats(d, rows);
}

// A 1x1, stride-1, unpadded convolution is a GEMM over the input as it is.
inline bool reads_input_in_place(const Conv2dParams& p) {
  return p.kernel_h == 1 && p.kernel_w == 1 && p.stride_h == 1 && p.stride_w == 1 &&
         p.pad_h == 0 && p.pad_w == 0 && p.out_h == p.in_h && p.out_w == p.in_w;
}

// Of `width` plane elements j along an axis holding input element j * stride + first,
// [j0, j1) are inside the input's `extent`; the rest are zero padding.
inline std::pair<int64_t, int64_t> valid_range(int64_t first, int64_t extent, int64_t stride,
                                               int64_t width) {
  const int64_t j0 = std::clamp<int64_t>(ceil_div(-first, stride), 0, width);
  const int64_t j1 = std::clamp<int64_t>(
      first >= extent ? 0 : ceil_div(extent - first, stride), j0, width);
  return {j0, j1};
}

// Plane columns [j0, j1) of phase b hold input columns; the rest are zero padding, in
// a plane row `width` wide before the gap is taken out (see make_plan). Plane (a, b)
// column j holds padded column j*s_w + b, i.e. input column j*s_w + b - pad_w.
inline std::pair<int64_t, int64_t> valid_columns(const Conv2dParams& p, int64_t b,
                                                 int64_t width) {
  return valid_range(b - p.pad_w, p.in_w, p.stride_w, width);
}

// Stacking. A small image leaves its tiles little to sweep: a 1x1 stride-2 layer onto
// 7x7 has 49 positions, 4 zmm (64 lanes, 49 used) or 7 ymm whose last one is a tile of
// its own with too few accumulators to hide the FMA latency. Where several whole images fit in the
// slab, they are stacked one below the other in each channel's plane, one image's bottom
// padding rows being the next one's top padding (zeros both, as the columns overlap
// above); the rows from one image's last output row to the next one's first are garbage
// positions like the columns, and the tiles run over all the images at once. Stacked only
// where that saves FMA issue slots, as many images as the rules of common/image_stacking.h
// allow (a block per thread at least: threads splitting one block's output channels would
// each build all its planes, which cost 1x1 stride-2 256->512 on 14x14, batch 8, 1.6x its
// time). Never for a 1x1 that reads its input in place: building planes for it costs a copy of the
// input and the in-place tile's prefetch, more than the lanes save. A/B in one process,
// 2 threads, batch 8, AVX-512 (Zen 5): 1x1 on 7x7 in place 0.61-0.92x stacked (640->128
// worst), 1000->1000 on 5x5 1.00x; 1x1 stride 2 256->512 on 14x14 (planes built anyway)
// 1.16x.
template <class Isa>
void plan_stacking(const Conv2dParams& p, DirectPlan& d, int64_t slab_bytes) {
  if (!p.stack_images || d.in_place || p.batch < 2 || d.rows < p.out_h) return;
  const int64_t rows = p.out_h + d.halo;
  int64_t shared = d.halo;  // an image's output rows stay clear of the next image's
  for (int64_t a = 0; a < p.stride_h; ++a) {
    if (d.phase_of_h[a] < 0) continue;
    const auto [i0, i1] = valid_range(a - p.pad_h, p.in_h, p.stride_h, rows);
    shared = std::min({shared, i0, rows - i1});
  }
  const int64_t image_rows = rows - shared;
  const int64_t image_bytes = d.cg * d.phases_h * d.phases_w * image_rows * d.qw * 4;
  const int64_t images = images_per_block(p.batch, slab_bytes / std::max<int64_t>(image_bytes, 1),
                                          p.exec.max_threads);
  if (images < 2) return;
  const auto slots = [](int64_t positions) {
    return tile_sweep_slots(positions, Isa::kLanes, Isa::kRows, Isa::kVecs);
  };
  if (!stacking_saves(slots(p.out_h * d.qw), slots(((images - 1) * image_rows + p.out_h) * d.qw),
                      images)) {
    return;
  }
  d.images = images;
  d.image_rows = image_rows;
}

template <class Isa>
DirectPlan make_plan(const Conv2dParams& p) {
  DirectPlan d;
  d.cg = p.in_channels / p.groups;
  d.kg = p.out_channels / p.groups;
  d.taps = p.kernel_h * p.kernel_w;
  d.in_place = reads_input_in_place(p);
  const int64_t shift_h = (p.kernel_h - 1) * p.dilation_h / p.stride_h;
  const int64_t shift_w = (p.kernel_w - 1) * p.dilation_w / p.stride_w;
  d.halo = d.in_place ? 0 : shift_h;
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
  // A plane row of width out_w + shift_w ends in right padding and starts with left
  // padding, both zeros: the rows can overlap by the narrower of the two, the trailing
  // zeros of a row being the leading zeros of the next. That takes out garbage columns:
  // 3x3, pad 1 on 7 wide computes 8 columns per row instead of 9.
  d.qw = p.in_w;
  if (!d.in_place) {
    const int64_t width = p.out_w + shift_w;
    d.overlap = shift_w;  // a plane row still holds an output row
    for (int64_t b = 0; b < p.stride_w; ++b) {
      if (d.phase_of_w[b] < 0) continue;
      const auto [j0, j1] = valid_columns(p, b, width);
      d.overlap = std::min({d.overlap, j0, width - j1});
    }
    d.qw = width - d.overlap;
  }
  // Output rows per chunk: as many as keep the chunk's planes within the slab.
  const int64_t slab_bytes = conv2d_slab_bytes(cpu_caches());
  const int64_t row_bytes = d.cg * d.phases_h * d.phases_w * d.qw * int64_t{4};
  d.rows = std::clamp<int64_t>(slab_bytes / std::max<int64_t>(row_bytes, 1) - d.halo, 1,
                               p.out_h);
  d.image_rows = p.out_h + d.halo;
  plan_stacking<Isa>(p, d, slab_bytes);
  d.row_chunks = ceil_div(p.out_h, d.rows);
  // Where the threads share whole (image, group, row chunk) items, a count they share
  // evenly: 21 chunks on 2 threads would leave one thread a chunk behind (VGG-16
  // features.2). Fewer items are balanced by splitting output channels below instead,
  // which, unlike more row chunks, does not make every thread stream every weight --
  // unless the weights are smaller than the planes, when splitting rows is the cheaper
  // of the two: each thread then builds only its own rows' planes (ResNet-18 conv1,
  // 37 KB of weights and 635 KB of planes, would otherwise build all its planes twice).
  const int64_t images = ceil_div(p.batch, d.images) * p.groups;  // blocks of stacked ones
  const int64_t weight_bytes = d.kg * d.cg * d.taps * int64_t{4};
  const bool split_rows = images * d.row_chunks >= kItemsPerThread * p.exec.max_threads ||
                          weight_bytes <= row_bytes * plane_rows(d, p.out_h);
  if (p.exec.max_threads > 1 && split_rows && d.images == 1) {
    while ((images * d.row_chunks) % p.exec.max_threads != 0 && d.row_chunks < p.out_h) {
      ++d.row_chunks;
    }
  }
  // Chunk rc holds rows [rc * out_h / row_chunks, (rc + 1) * out_h / row_chunks): sizes
  // differ by at most one row. d.rows is the largest, which sizes the planes.
  d.rows = ceil_div(p.out_h, d.row_chunks);
  // With few (image, row chunk) items, split output channels too, into enough items
  // that the threads' shares differ by at most about 1/kItemsPerThread: 3 row chunks on
  // 2 threads would otherwise leave one thread idle a third of the time. A thread's
  // consecutive items of one row chunk build its planes once.
  // Chunk kc holds tiles [kc * k_tiles / k_chunks, (kc + 1) * k_tiles / k_chunks).
  d.k_tiles = ceil_div(d.kg, Isa::kRows);
  const int64_t items = images * d.row_chunks;
  d.k_chunks = 1;
  if (p.exec.max_threads > 1 && items < kItemsPerThread * p.exec.max_threads) {
    d.k_chunks =
        std::clamp<int64_t>(ceil_div(kItemsPerThread * p.exec.max_threads, items), 1, d.k_tiles);
  }

  d.tap_offset.resize(d.taps);
  for (int64_t r = 0; r < p.kernel_h; ++r) {
    for (int64_t s = 0; s < p.kernel_w; ++s) {
      const int64_t dh = r * p.dilation_h, dw = s * p.dilation_w;
      const int64_t plane = d.phase_of_h[dh % p.stride_h] * d.phases_w + d.phase_of_w[dw % p.stride_w];
      const int64_t floats = d.in_place ? p.in_h * p.in_w : plane_floats(d, d.rows);
      d.tap_offset[r * p.kernel_w + s] =
          plane * floats + (dh / p.stride_h) * d.qw + dw / p.stride_w;
    }
  }
  return d;
}

// Builds the phase planes of output rows [y0, y0 + rows) of one group's channels of
// `images` stacked images from `x` on into `slab` (channel stride channel_floats(d,
// d.rows)).
inline void build_planes(const Conv2dParams& p, const DirectPlan& d, const float* x,
                         int64_t y0, int64_t rows, int64_t images, float* slab) {
  const int64_t cstride = channel_floats(d, d.rows);
  const int64_t built_rows = stacked_rows(d, rows, images);
  const int64_t image_stride = p.in_channels * p.in_h * p.in_w;
  for (int64_t c = 0; c < d.cg; ++c) {
    for (int64_t a = 0; a < p.stride_h; ++a) {
      if (d.phase_of_h[a] < 0) continue;
      for (int64_t b = 0; b < p.stride_w; ++b) {
        if (d.phase_of_w[b] < 0) continue;
        float* plane = slab + c * cstride +
                       (d.phase_of_h[a] * d.phases_w + d.phase_of_w[b]) *
                           plane_floats(d, d.rows);
        const auto [j0, j1] = valid_columns(p, b, d.qw + d.overlap);
        const int64_t first = b - p.pad_w;
        for (int64_t i = 0; i < built_rows; ++i) {
          float* row = plane + i * d.qw;
          // A row two stacked images share is zero in both: build it as the later one's.
          const int64_t j = std::min(i / d.image_rows, images - 1);
          const float* xc = x + j * image_stride + c * p.in_h * p.in_w;
          const int64_t iy = (y0 + i - j * d.image_rows) * p.stride_h + a - p.pad_h;
          if (iy < 0 || iy >= p.in_h || j0 >= j1) {
            std::memset(row, 0, sizeof(float) * d.qw);
            continue;
          }
          const float* src = xc + iy * p.in_w + first;
          std::memset(row, 0, sizeof(float) * j0);
          if (p.stride_w == 1) {
            std::memcpy(row + j0, src + j0, sizeof(float) * (j1 - j0));
          } else if (p.stride_w == 2) {
            // A constant stride, which the compiler vectorises (loads and shuffles); with
            // the stride a variable it gathered a float at a time, 36% of a stem's time
            // (MobileNet-v2's 3->32 3x3 stride 2 on 224x224, capped to AVX2).
            for (int64_t j = j0; j < j1; ++j) row[j] = src[2 * j];
          } else if (p.stride_w == 4) {
            // NiN's and AlexNet's 11x11 stems.
            for (int64_t j = j0; j < j1; ++j) row[j] = src[4 * j];
          } else {
            for (int64_t j = j0; j < j1; ++j) row[j] = src[j * p.stride_w];
          }
          std::memset(row + j1, 0, sizeof(float) * (d.qw - j1));
        }
        // The last row's right padding, shared with a row this chunk does not build.
        std::memset(plane + built_rows * d.qw, 0, sizeof(float) * d.overlap);
      }
    }
  }
}

// One register tile: Isa::kRows output channels x V vectors of positions, the last vector
// holding `last` valid lanes (masked loads and stores: nothing past it is touched).
struct TileArgs {
  const float* x;            // plane data at the tile's first position
  int64_t channel_stride;    // floats between consecutive channels' planes
  const int64_t* tap_offset;
  int64_t taps, channels;
  const float* w;            // weight[k0][0][0][0]
  int64_t w_stride;          // floats between output channels of the weight (cg * taps)
  int64_t rows;              // valid output channels, 1..Isa::kRows
  const float* bias;         // bias + k0, or nullptr
  float* out;                // where position 0 of channel k0 goes
  int64_t out_stride;        // floats between output channels at `out` (and `residual`)
  const float* residual;     // the residual at `out`'s position, or nullptr
  Activation act;
  int64_t last;              // valid lanes of the last vector, 1..Isa::kLanes
};

// The tile instances with a fully unrolled tap loop: 1x1, 3x3, 5x5, 7x7. Index 0 is the
// generic loop (taps == 0), and a second 1x1 instance prefetches, for a 1x1 reading the
// input in place.
struct TapVariant {
  int taps;
  bool prefetch;
};
constexpr TapVariant kTapVariants[] = {{0, false}, {1, false}, {1, true},
                                       {9, false}, {25, false}, {49, false}};
constexpr int kTapVariantCount = sizeof(kTapVariants) / sizeof(kTapVariants[0]);

inline int tap_variant(int64_t taps, bool prefetch) {
  for (int i = 1; i < kTapVariantCount; ++i) {
    if (kTapVariants[i].taps == taps && kTapVariants[i].prefetch == prefetch) return i;
  }
  return 0;
}

// How many channels ahead a 1x1 tile on the input in place prefetches. Its channels are
// a whole input plane apart (12.5 KiB at 56x56), a stride the hardware's per-load stride
// prefetcher does not follow, and each line feeds only one tap. A/B, 2 threads: 256->64
// and 512->128 1x1 1.07-1.11x; shapes whose inputs fit in L2 within +-3%; prefetching the
// built planes of a strided 1x1 lost 2-4%, so they do not.
constexpr int64_t kPrefetchChannels = 4;

// The tile computes R channels: rows past `rows` repeat the last valid weight row and
// are not stored, so a tile narrower than R reads no memory past the weight. The
// full-width tiles of an output-channel tail have R = rows of their own (kTailTiles):
// on 64 channels, 6-row tiles would otherwise compute 66. A variant with taps > 0 fixes
// the tap count at compile time: the tap loop is then fully unrolled, every address is a
// register plus a constant, and the loop's integer work (which competes with the FMAs
// for ports 0 and 5) all but vanishes; taps == 0 is the generic loop for kernel sizes
// without their own instance. The prefetching 1x1 is a variant of its own because even
// a predicted branch on a runtime flag cost a strided 1x1 10%: its body is one tap.
// Epilogue (a residual or an activation) is one too: its code after the reduction made
// GCC keep one more AVX2 accumulator on the stack through the tap loop (a spill and an
// FMA from memory per tap), so the plain tile is compiled without it, instruction for
// instruction the tile it was before. The epilogue tile keeps that spill: moving the
// epilogue out of line, onto a stack copy of the tile, removed it but cost more (the
// epilogue's overhead over a plain call, 1 thread, AVX2 and AVX-512 alike: 1x1 stride 2
// 64->128 at 56 1.01-1.05x in line vs 1.02-1.16x out of line; ResNet's 7x7 stem
// 1.02-1.09x vs 1.06-1.09x; measured on a loaded machine).
template <class Isa, int V, int Variant, bool Full, bool Epilogue, int R = Isa::kRows>
void tile(const TileArgs& a) {
  using Vec = typename Isa::Vec;
  constexpr int Taps = kTapVariants[Variant].taps;
  constexpr bool kPrefetch = kTapVariants[Variant].prefetch;
  constexpr int64_t L = Isa::kLanes;
  const int64_t taps = Taps > 0 ? Taps : a.taps;
  const float* wr[R];
  Vec acc[R][V];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const int64_t row = std::min<int64_t>(r, a.rows - 1);
    wr[r] = a.w + row * a.w_stride;
    const Vec b = a.bias ? Isa::set1(a.bias[row]) : Isa::zero();
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) acc[r][v] = b;
  }
  const auto mask = Isa::mask(a.last);
  const float* xc = a.x;
  for (int64_t c = 0; c < a.channels; ++c) {
    if constexpr (kPrefetch) {
      if (c + kPrefetchChannels < a.channels) {
        const auto* ahead =
            reinterpret_cast<const char*>(xc + kPrefetchChannels * a.channel_stride);
        for (int64_t i = 0; i < V * L * int64_t{sizeof(float)}; i += 64) {
          __builtin_prefetch(ahead + i, 0, 3);
        }
      }
    }
#pragma GCC unroll 64
    for (int64_t t = 0; t < taps; ++t) {
      const float* xt = xc + a.tap_offset[t];
      Vec xv[V];
#pragma GCC unroll 8
      for (int v = 0; v < V - 1; ++v) xv[v] = Isa::loadu(xt + v * L);
      xv[V - 1] = Full ? Isa::loadu(xt + (V - 1) * L) : Isa::maskload(xt + (V - 1) * L, mask);
      // Keep the V input vectors in registers. Without this GCC folds them into the FMAs
      // as memory operands, reloading each (often cache-line-splitting) vector once per
      // output channel, and shuffles accumulators to make room: the AVX2 4 x 3 3x3 tile ran
      // 59 vector loads and 35 register moves per 108 FMAs instead of 39 and 23. A/B, 1 thread,
      // capped to AVX2: 3x3 layers of 64-512 channels 1.14-1.24x, a 1x1 1.04-1.10x;
      // AVX-512 (32 registers) 0.97-1.08x, within noise.
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) asm("" : "+v"(xv[v]));
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const Vec wv = Isa::set1(wr[r][t]);
#pragma GCC unroll 8
        for (int v = 0; v < V; ++v) acc[r][v] = Isa::fmadd(wv, xv[v], acc[r][v]);
      }
    }
    xc += a.channel_stride;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) wr[r] += taps;
  }
  if constexpr (!Epilogue) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      if (r >= a.rows) break;
      float* o = a.out + r * a.out_stride;
#pragma GCC unroll 8
      for (int v = 0; v < V - 1; ++v) Isa::storeu(o + v * L, acc[r][v]);
      if (Full) {
        Isa::storeu(o + (V - 1) * L, acc[r][V - 1]);
      } else {
        Isa::maskstore(o + (V - 1) * L, mask, acc[r][V - 1]);
      }
    }
  } else {
    // The epilogue reads the arguments into locals first: a vector store writes through a
    // may_alias type, so the compiler would otherwise reload a.residual, a.act, ... after
    // every store (as in conv2d_nchwc_tile.h).
    float* const out = a.out;
    const int64_t out_stride = a.out_stride, rows = a.rows, last = a.last;
    const float* const residual = a.residual;
    const Activation act = a.act;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      if (r >= rows) break;
      float* o = out + r * out_stride;
      if (residual) {
        const float* res = residual + r * out_stride;
#pragma GCC unroll 8
        for (int v = 0; v < V - 1; ++v) {
          acc[r][v] = Isa::add(acc[r][v], Isa::loadu(res + v * L));
        }
        const float* tail = res + (V - 1) * L;
        acc[r][V - 1] =
            Isa::add(acc[r][V - 1], Full ? Isa::loadu(tail) : Isa::maskload(tail, mask));
      }
      if (act != Activation::none && act != Activation::sigmoid) {
#pragma GCC unroll 8
        for (int v = 0; v < V; ++v) acc[r][v] = activate_vec<Isa>(acc[r][v], act);
      }
#pragma GCC unroll 8
      for (int v = 0; v < V - 1; ++v) Isa::storeu(o + v * L, acc[r][v]);
      if (Full) {
        Isa::storeu(o + (V - 1) * L, acc[r][V - 1]);
      } else {
        Isa::maskstore(o + (V - 1) * L, mask, acc[r][V - 1]);
      }
      if (act == Activation::sigmoid) sigmoid_in_place(o, (V - 1) * L + last);
    }
  }
}

// dst[i] = act(src[i] + residual[i]) for i < n (residual may be nullptr): the epilogue of
// a staged tile's valid columns on their way to the output.
template <class Isa>
inline void epilogue_copy(float* dst, const float* src, const float* residual, int64_t n,
                          Activation act) {
  using Vec = typename Isa::Vec;
  constexpr int64_t L = Isa::kLanes;
  for (int64_t i = 0; i < n; i += L) {
    const bool full = i + L <= n;
    const auto m = Isa::mask(full ? L : n - i);
    Vec v = full ? Isa::loadu(src + i) : Isa::maskload(src + i, m);
    if (residual) {
      v = Isa::add(v, full ? Isa::loadu(residual + i) : Isa::maskload(residual + i, m));
    }
    v = activate_vec<Isa>(v, act);
    if (full) {
      Isa::storeu(dst + i, v);
    } else {
      Isa::maskstore(dst + i, m, v);
    }
  }
  if (act == Activation::sigmoid) sigmoid_in_place(dst, n);
}

using TileFn = void (*)(const TileArgs&);

// kTiles[tap variant][v - 1][full] = tile<Isa, v, variant, full, epilogue>.
template <class Isa, bool Epilogue, int Variant, int... Vs>
constexpr std::array<std::array<TileFn, 2>, sizeof...(Vs)> tile_row(
    std::integer_sequence<int, Vs...>) {
  return {std::array<TileFn, 2>{&tile<Isa, Vs + 1, Variant, false, Epilogue>,
                                &tile<Isa, Vs + 1, Variant, true, Epilogue>}...};
}
template <class Isa, bool Epilogue, int... Is>
constexpr auto tile_table(std::integer_sequence<int, Is...>) {
  return std::array<std::array<std::array<TileFn, 2>, Isa::kVecs>, sizeof...(Is)>{
      tile_row<Isa, Epilogue, Is>(std::make_integer_sequence<int, Isa::kVecs>{})...};
}

// kTailTiles[tap variant][rows - 1] = tile<Isa, kVecs, variant, true, epilogue, rows>: the
// full-width tiles of the last rows output channels, where kRows does not divide them.
template <class Isa, bool Epilogue, int Variant, int... Rs>
constexpr std::array<TileFn, sizeof...(Rs)> tail_row(std::integer_sequence<int, Rs...>) {
  return {&tile<Isa, Isa::kVecs, Variant, true, Epilogue, Rs + 1>...};
}
template <class Isa, bool Epilogue, int... Is>
constexpr auto tail_table(std::integer_sequence<int, Is...>) {
  return std::array<std::array<TileFn, Isa::kRows - 1>, sizeof...(Is)>{
      tail_row<Isa, Epilogue, Is>(std::make_integer_sequence<int, Isa::kRows - 1>{})...};
}

// Output channels [k, k + rows) over `len` positions from plane data `x`, stored at
// `out`. A fresh TileArgs per tile: one shared by the tiles of a channel block and
// updated in place measured 4-6% slower on 3x3/s2 layers.
// `residual` is the residual at `out` (nullptr: none), `act` the activation: both none for
// a tile into the staging buffer.
// kTallTiles[tap variant][full] = tile<Isa, 1, variant, full, epilogue, Isa::kTallRows>:
// the one-vector tiles of Isa::kTallRows output channels (see run_chunk).
template <class Isa, bool Epilogue, int... Is>
constexpr auto tall_table(std::integer_sequence<int, Is...>) {
  return std::array<std::array<TileFn, 2>, sizeof...(Is)>{
      std::array<TileFn, 2>{&tile<Isa, 1, Is, false, Epilogue, Isa::kTallRows>,
                            &tile<Isa, 1, Is, true, Epilogue, Isa::kTallRows>}...};
}

template <class Isa>
inline void tile_at(const Conv2dParams& p, const DirectPlan& d, const float* x,
                    int64_t channel_stride, int64_t k, int64_t rows, int64_t len, float* out,
                    int64_t out_stride, const float* residual, Activation act, int variant) {
  static constexpr auto kTiles =
      tile_table<Isa, false>(std::make_integer_sequence<int, kTapVariantCount>{});
  static constexpr auto kTailTiles =
      tail_table<Isa, false>(std::make_integer_sequence<int, kTapVariantCount>{});
  static constexpr auto kEpilogueTiles =
      tile_table<Isa, true>(std::make_integer_sequence<int, kTapVariantCount>{});
  static constexpr auto kEpilogueTailTiles =
      tail_table<Isa, true>(std::make_integer_sequence<int, kTapVariantCount>{});
  static constexpr auto kTallTiles =
      tall_table<Isa, false>(std::make_integer_sequence<int, kTapVariantCount>{});
  static constexpr auto kEpilogueTallTiles =
      tall_table<Isa, true>(std::make_integer_sequence<int, kTapVariantCount>{});
  constexpr int64_t L = Isa::kLanes;
  const int64_t vecs = ceil_div(len, L);
  TileArgs a;
  a.x = x;
  a.channel_stride = channel_stride;
  a.tap_offset = d.tap_offset.data();
  a.taps = d.taps;
  a.channels = d.cg;
  a.w = p.weight + k * d.cg * d.taps;
  a.w_stride = d.cg * d.taps;
  a.rows = rows;
  a.bias = p.bias ? p.bias + k : nullptr;
  a.out = out;
  a.out_stride = out_stride;
  a.residual = residual;
  a.act = act;
  a.last = len - (vecs - 1) * L;
  const bool epilogue = residual != nullptr || act != Activation::none;
  if (rows > Isa::kRows) {  // a tall one-vector tile
    (epilogue ? kEpilogueTallTiles : kTallTiles)[variant][a.last == L](a);
  } else if (rows < Isa::kRows && vecs == Isa::kVecs && a.last == L) {
    (epilogue ? kEpilogueTailTiles : kTailTiles)[variant][rows - 1](a);
  } else {
    (epilogue ? kEpilogueTiles : kTiles)[variant][vecs - 1][a.last == L](a);
  }
}

// Output rows [y0, y0 + rows) of output channels [k_begin, k_end) of group g, images
// [n, n + images) (stacked, or one).
template <class Isa>
void run_chunk(const Conv2dParams& p, const DirectPlan& d, const float* planes,
               int64_t channel_stride, int64_t n, int64_t images, int64_t g, int64_t y0,
               int64_t rows, int64_t k_begin, int64_t k_end, float* staging) {
  constexpr int64_t L = Isa::kLanes;
  constexpr int64_t kTileLen = L * Isa::kVecs;
  const int64_t positions = ((images - 1) * d.image_rows + rows) * d.qw;
  const int variant = tap_variant(d.taps, d.in_place);
  // Without garbage columns (or rows between stacked images) the tile stores straight
  // into the output.
  const bool direct = d.qw == p.out_w && d.images == 1;
  // Tiles may also start at each row and stop at its last output column, storing straight
  // into the output too, where that pads the rows' vectors no more than the plane's
  // garbage columns would (112 or 224 wide on AVX-512), at the price of narrower tiles at
  // the rows' ends. That pays where a tile has little work (few channels x taps) and the
  // staging copy is a large part of it. A/B, 2 threads: 3->32 3x3/s2 on 224 (MobileNet's
  // stem, 27 per tile) 1.14x, 3->64 3x3 on 224 (VGG's) 1.03-1.17x, 3->64 7x7/s2 (ResNet's,
  // 147) 1.01-1.04x; but 64->64 3x3 on 224 (576) 0.94-0.96x.
  constexpr int64_t kRowTilesMaxWork = 160;
  const bool row_tiles = !direct && d.images == 1 && ceil_div(p.out_w, L) * L <= d.qw &&
                         d.cg * d.taps <= kRowTilesMaxWork;
  const int64_t out_plane = p.out_h * p.out_w;
  const int64_t out_image = p.out_channels * out_plane;
  const int64_t chunk_at = (n * p.out_channels + g * d.kg) * out_plane + y0 * p.out_w;
  float* out_chunk = p.output + chunk_at;
  const float* res_chunk = p.residual ? p.residual + chunk_at : nullptr;
  const Activation act = p.activation;
  const bool epilogue = res_chunk != nullptr || act != Activation::none;
  // The last vector of the positions, when it is a tile of its own, runs on tiles of
  // Isa::kTallRows output channels: AVX2's one-vector tile of 4 has 4 chains of FMAs,
  // half what the latency x pipes (4 x 2) keep busy. (AVX-512's of 6 keeps them at 6.)
  const int64_t rest = positions % kTileLen;
  const bool tall = Isa::kTallRows > Isa::kRows && !row_tiles && rest > 0 && rest <= L &&
                    positions > rest;
  const int64_t swept = tall ? positions - rest : positions;
  // Output channels [k0, k0 + r) over plane positions [v0, v0 + len).
  const auto run_tile = [&](int64_t k0, int64_t r, int64_t v0, int64_t len) {
    const int64_t k = g * d.kg + k0;
    float* out_k = out_chunk + k0 * out_plane;
    const float* res_k = res_chunk ? res_chunk + k0 * out_plane : nullptr;
    if (direct) {
      tile_at<Isa>(p, d, planes + v0, channel_stride, k, r, len, out_k + v0, out_plane,
                   res_k ? res_k + v0 : nullptr, act, variant);
      return;
    }
    tile_at<Isa>(p, d, planes + v0, channel_stride, k, r, len, staging, kTileLen, nullptr,
                 Activation::none, variant);
    // Keep the valid columns of each output row the tile touched.
    for (int64_t v = v0; v < v0 + len;) {
      const int64_t row = v / d.qw, x = v % d.qw;
      const int64_t j = std::min(row / d.image_rows, images - 1);
      const int64_t y = row - j * d.image_rows;
      // Without garbage columns an image's output rows are one run, in the output as in
      // the plane (stacked 1x1 layers); otherwise each row is.
      const bool whole = d.qw == p.out_w && y < rows;
      const int64_t run = std::min(v0 + len, v - x + (whole ? rows - y : 1) * d.qw) - v;
      if (x < p.out_w && y < rows) {
        const int64_t count = whole ? run : std::min(run, p.out_w - x);
        const int64_t at = j * out_image + y * p.out_w + x;
        for (int64_t i = 0; i < r; ++i) {
          const float* src = staging + i * kTileLen + (v - v0);
          if (epilogue) {
            epilogue_copy<Isa>(out_k + i * out_plane + at, src,
                               res_k ? res_k + i * out_plane + at : nullptr, count, act);
          } else {
            std::memcpy(out_k + i * out_plane + at, src, sizeof(float) * count);
          }
        }
      }
      v += run;
    }
  };
  for (int64_t k0 = k_begin; k0 < k_end; k0 += Isa::kRows) {
    const int64_t r = std::min<int64_t>(Isa::kRows, k_end - k0);
    if (row_tiles) {
      // Tiles from each row's start to its last output column, stored straight into the
      // output.
      const int64_t k = g * d.kg + k0;
      float* out_k = out_chunk + k0 * out_plane;
      const float* res_k = res_chunk ? res_chunk + k0 * out_plane : nullptr;
      for (int64_t y = 0; y < rows; ++y) {
        for (int64_t x0 = 0; x0 < p.out_w; x0 += kTileLen) {
          const int64_t at = y * p.out_w + x0;
          tile_at<Isa>(p, d, planes + y * d.qw + x0, channel_stride, k, r,
                       std::min(kTileLen, p.out_w - x0), out_k + at, out_plane,
                       res_k ? res_k + at : nullptr, act, variant);
        }
      }
      continue;
    }
    for (int64_t v0 = 0; v0 < swept; v0 += kTileLen) {
      run_tile(k0, r, v0, std::min(kTileLen, swept - v0));
    }
  }
  if (tall) {
    for (int64_t k0 = k_begin; k0 < k_end; k0 += Isa::kTallRows) {
      run_tile(k0, std::min<int64_t>(Isa::kTallRows, k_end - k0), swept, rest);
    }
  }
}

template <class Isa>
void conv2d_direct(const Conv2dParams& p) {
  const DirectPlan d = make_plan<Isa>(p);
  const int64_t slab_floats = d.in_place ? 0 : d.cg * channel_floats(d, d.rows);
  const int64_t blocks = ceil_div(p.batch, d.images);  // of stacked images
  const int64_t items = blocks * p.groups * d.row_chunks * d.k_chunks;
  // Work items in (image block, g, row chunk, k chunk) order: a thread's contiguous range shares
  // row chunks (and so planes) where it can.
  run_parallel(p.exec, 0, items, 1, [&](int64_t begin, int64_t end) {
    // Per-thread scratch, grown once and kept: the planes (plus a vector's worth of slack
    // that garbage lanes may read past the last plane) and a tile's staging buffer.
    thread_local std::vector<float> scratch;
    const int64_t slack = 2 * Isa::kLanes * Isa::kVecs;
    const int64_t staging_floats =
        std::max<int64_t>(Isa::kRows, Isa::kTallRows) * Isa::kLanes * Isa::kVecs;
    const size_t need = static_cast<size_t>(slab_floats + slack + staging_floats);
    if (scratch.size() < need) scratch.assign(need, 0.0f);
    float* slab = scratch.data();
    float* staging = scratch.data() + slab_floats + slack;
    int64_t built = -1;  // the (n, g, row chunk) whose planes are in the slab
    for (int64_t item = begin; item < end; ++item) {
      const int64_t kc = item % d.k_chunks;
      const int64_t chunk = item / d.k_chunks;
      const int64_t rc = chunk % d.row_chunks;
      const int64_t ng = chunk / d.row_chunks;
      const int64_t n = ng / p.groups * d.images, g = ng % p.groups;
      const int64_t images = std::min(d.images, p.batch - n);
      const int64_t y0 = rc * p.out_h / d.row_chunks;
      const int64_t rows = (rc + 1) * p.out_h / d.row_chunks - y0;
      const float* x = p.input + (n * p.in_channels + g * d.cg) * p.in_h * p.in_w;
      const float* planes;
      int64_t cstride;
      if (d.in_place) {
        planes = x + y0 * p.in_w;
        cstride = p.in_h * p.in_w;
      } else {
        if (built != chunk) {
          build_planes(p, d, x, y0, rows, images, slab);
          built = chunk;
        }
        planes = slab;
        cstride = channel_floats(d, d.rows);
      }
      const int64_t k_begin = kc * d.k_tiles / d.k_chunks * Isa::kRows;
      const int64_t k_end = std::min(d.kg, (kc + 1) * d.k_tiles / d.k_chunks * Isa::kRows);
      run_chunk<Isa>(p, d, planes, cstride, n, images, g, y0, rows, k_begin, k_end, staging);
    }
  });
}

}  // namespace
