// The fused depthwise -> pointwise kernel: the body of separable_conv2d_avx2.cpp and
// separable_conv2d_avx512.cpp. Included INSIDE an ISA target region after
// depthwise_conv2d_vec.h and depthwise_conv2d_direct.h (whose plane builder and row
// kernels it reuses) and depthwise_conv2d_via_nchwc.h (its small-plane path), in an
// anonymous namespace like them.
//
// Blocking. Work item = (image, tile of output rows, chunk of pointwise output channels).
//   1. Depthwise: for each input channel, build its phase planes for the tile's rows (L1,
//      depthwise_conv2d_direct.h), run the m row kernels, applying the depthwise
//      activation at the store, into the mid tile T[C*m][P] -- P = rows * out_w positions,
//      compact, each channel's row padded to whole vectors. T is sized to at most
//      separable_mid_bytes(cpu_caches()) (half the L2, at most 512 KiB;
//      separable_conv2d.h), so it stays in this core's L2.
//   2. Pointwise: out[k][P] = pw_w[k][:] . T[:][P], a GEMM over T in register tiles of
//      Isa::kPwRows output channels x Isa::kPwVecs vectors of positions (AVX-512 6 x 4 zmm,
//      24 accumulators; AVX2 4 x 3 ymm, 12), the whole C*m reduction in registers, the
//      pointwise bias and activation applied at the store, which goes straight to the
//      output: the tile's positions are whole output rows, contiguous there.
// The depthwise output never reaches memory as a tensor; T is rewritten per tile.
// With few tiles (batch 1, the 7x7 and 14x14 layers) the output channels are split into
// chunks too, so both threads work; a thread's consecutive items of one tile reuse its T,
// so the depthwise part is redone at most once per thread boundary.
// Small images are stacked, as in conv2d_direct.h: where whole images fit in T, an item
// holds a block of them, back to back in T, and the pointwise tiles run over all their
// positions (49 per 7x7 image: 4 zmm with 49 lanes used, or 7 ymm ending in a one-vector
// tile). A tile that spans two images goes through a staging buffer.
// Small planes (a whole image one tile, rows narrower than two vectors) run their
// depthwise stage as the depthwise op does there (depthwise_conv2d_via_nchwc.h): B
// channels at a time through the blocked kernel, one vector per pixel, into T.
namespace {

constexpr int64_t kSepItemsPerThread = 8;

struct PwTileArgs {
  const float* t;       // T at the tile's first position
  int64_t t_stride;     // floats between T's channels
  int64_t channels;     // C * m
  const float* w;       // pw_weight[k0][0]
  const float* bias;    // pw_bias + k0, or nullptr
  float* out;           // output channel k0 at the tile's first position
  int64_t out_stride;   // floats between output channels
  int64_t last;         // valid lanes of the last vector, 1..kLanes
  Activation act;
};

template <class V, int R, int NV>
void pw_tile(const PwTileArgs& a) {
  using Vec = typename V::Vec;
  constexpr int64_t L = V::kLanes;
  Vec acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const Vec b = a.bias ? V::set1(a.bias[r]) : V::zero();
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = b;
  }
  const auto mask = V::mask(a.last);
  const bool full = a.last == L;
  const float* t = a.t;
  const float* w = a.w;
  for (int64_t c = 0; c < a.channels; ++c, t += a.t_stride, ++w) {
    Vec xv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV - 1; ++v) xv[v] = V::loadu(t + v * L);
    // T's rows are padded to whole vectors, so the last load needs no mask.
    xv[NV - 1] = V::loadu(t + (NV - 1) * L);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const Vec wv = V::set1(w[r * a.channels]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = V::fmadd(wv, xv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    float* o = a.out + r * a.out_stride;
#pragma GCC unroll 8
    for (int v = 0; v < NV - 1; ++v) V::storeu(o + v * L, dw_activate<V>(acc[r][v], a.act));
    dw_store<V>(o + (NV - 1) * L, acc[r][NV - 1], full, mask, a.act);
  }
}

using PwTileFn = void (*)(const PwTileArgs&);

template <class V, int R, int... Vs>
constexpr std::array<PwTileFn, sizeof...(Vs)> pw_tile_row(std::integer_sequence<int, Vs...>) {
  return {&pw_tile<V, R, Vs + 1>...};
}
template <class V, int... Rs>
constexpr auto pw_tile_table(std::integer_sequence<int, Rs...>) {
  return std::array<std::array<PwTileFn, V::kPwVecs>, sizeof...(Rs)>{
      pw_tile_row<V, Rs + 1>(std::make_integer_sequence<int, V::kPwVecs>{})...};
}

// Images stacked per work item (see the top of this file): where the whole image is one
// tile, as many as fit in T's share of the L2 and the rules of common/image_stacking.h
// allow (threads splitting one block's output channels would each compute its whole
// depthwise part), if that saves pointwise tile slots. 1 otherwise.
template <class V>
int64_t separable_stacked_images(const SeparableConv2dParams& sp, int64_t tiles, int64_t mid,
                                 int64_t out_plane) {
  const DepthwiseConv2dParams& p = sp.dw;
  if (!sp.stack_images || tiles != 1 || p.batch < 2) return 1;
  const int64_t image_bytes = mid * out_plane * int64_t{4};
  const int64_t images = images_per_block(
      p.batch, separable_mid_bytes(cpu_caches()) / image_bytes, p.exec.max_threads);
  if (images < 2) return 1;
  const auto slots = [](int64_t positions) {
    return tile_sweep_slots(positions, V::kLanes, V::kPwRows, V::kPwVecs);
  };
  return stacking_saves(slots(out_plane), slots(images * out_plane), images) ? images : 1;
}

template <class Wide, class Narrow>
void separable_conv2d_fused(const SeparableConv2dParams& sp, DepthwiseNchwcFn blocked) {
  using V = Wide;
  static constexpr auto kTiles =
      pw_tile_table<V>(std::make_integer_sequence<int, V::kPwRows>{});
  constexpr int64_t L = V::kLanes;
  constexpr int64_t kTileLen = L * V::kPwVecs;
  const DepthwiseConv2dParams& p = sp.dw;
  const int64_t mid = p.out_channels();
  const int64_t m = p.multiplier;
  const int64_t taps = p.kernel_h * p.kernel_w;
  const int64_t out_plane = p.out_h * p.out_w;
  // Rows per tile: as many as keep T within the L2's share, at least one.
  const int64_t row_floats = ceil_div(p.out_w, L) * L;
  int64_t rows = std::clamp<int64_t>(separable_mid_bytes(cpu_caches()) / (mid * row_floats * 4),
                                     1, p.out_h);
  const int64_t tiles = ceil_div(p.out_h, rows);
  rows = ceil_div(p.out_h, tiles);
  const DwPlan d = make_dw_plan<Wide>(p, rows);
  const DwRowsFn rows_fn = select_dw_rows<Wide, Narrow>(p);
  // T's channel stride: the tile's positions rounded up to whole vectors (plus the pad
  // the last tile row of a channel may write up to).
  const int64_t images = separable_stacked_images<V>(sp, tiles, mid, out_plane);
  const int64_t t_stride = ceil_div(images * rows * p.out_w, L) * L;

  const int64_t k_tiles = ceil_div(sp.out_channels, V::kPwRows);
  const int64_t blocks = ceil_div(p.batch, images);
  std::optional<DepthwiseViaNchwc<L>> via;
  if (tiles == 1 && depthwise_via_nchwc(p, L, L)) via.emplace(p, blocked, sp.dw_activation);
  const int64_t base_items = blocks * tiles;
  int64_t k_chunks = 1;
  if (p.exec.max_threads > 1 && base_items < kSepItemsPerThread * p.exec.max_threads) {
    k_chunks = std::clamp<int64_t>(ceil_div(kSepItemsPerThread * p.exec.max_threads, base_items),
                                   1, k_tiles);
  }
  const int64_t k_tiles_per_chunk = ceil_div(k_tiles, k_chunks);
  k_chunks = ceil_div(k_tiles, k_tiles_per_chunk);
  const int64_t k_chunk = k_tiles_per_chunk * V::kPwRows;

  run_parallel(p.exec, 0, base_items * k_chunks, 1, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> scratch;
    // Two plane buffers, software-pipelined as in depthwise_conv2d_direct: channel c + 1's
    // planes are built before channel c's rows are computed. The blocked path builds none.
    const int64_t buffer_floats = via ? 0 : d.channel_floats + d.slack;
    const int64_t t_floats = mid * t_stride;
    const size_t need = static_cast<size_t>(2 * buffer_floats + t_floats +
                                            std::max(V::kPwRows, V::kPwTallRows) * kTileLen);
    if (scratch.size() < need) scratch.assign(need, 0.0f);
    float* t = scratch.data() + 2 * buffer_floats;
    float* staging = t + t_floats;
    float* const via_buffer = via ? via->thread_buffer() : nullptr;
    int64_t built = -1;  // the (image block, tile) whose depthwise output is in T
    for (int64_t item = begin; item < end; ++item) {
      const int64_t kc = item % k_chunks;
      const int64_t nt = item / k_chunks;
      const int64_t n = nt / tiles * images, tile = nt % tiles;
      const int64_t count = std::min(images, p.batch - n);  // images of this block
      const int64_t y0 = tile * rows;
      const int64_t tile_rows = std::min(rows, p.out_h - y0);
      const int64_t positions = tile_rows * p.out_w;  // per image
      if (built != nt && via) {
        for (int64_t i = 0; i < count; ++i) {
          for (int64_t cb = 0; cb < ceil_div(p.channels, L); ++cb) {
            via->run(p.input + (n + i) * p.channels * p.in_h * p.in_w, cb,
                     t + cb * L * t_stride + i * positions, t_stride, via_buffer);
          }
        }
        built = nt;
      }
      if (built != nt) {
        // Units u = (channel, image of the block), planes built one unit ahead.
        const float* x = p.input + n * p.channels * p.in_h * p.in_w;
        const auto build = [&](int64_t u) {
          build_dw_planes<Wide, Narrow>(
              p, d, x + (u % count * p.channels + u / count) * p.in_h * p.in_w, y0, tile_rows,
              scratch.data() + (u & 1) * buffer_floats);
        };
        const int64_t units = p.channels * count;
        build(0);
        for (int64_t u = 0; u < units; ++u) {
          if (u + 1 < units) build(u + 1);
          const int64_t c = u / count, i = u % count;
          const float* planes = scratch.data() + (u & 1) * buffer_floats;
          for (int64_t j = 0; j < m; ++j) {
            const int64_t k = c * m + j;
            rows_fn(dw_rows_args(d, planes, p.weight + k * taps,
                                 p.bias ? p.bias + k : nullptr, sp.dw_activation,
                                 t + k * t_stride + i * positions, p.out_w, tile_rows,
                                 p.out_w, taps));
          }
        }
        built = nt;
      }
      const int64_t k_begin = kc * k_chunk;
      const int64_t k_end = std::min(sp.out_channels, k_begin + k_chunk);
      const int64_t out_image = sp.out_channels * out_plane;
      float* out_tile = sp.output + n * out_image + y0 * p.out_w;
      const int64_t total = count * positions;
      // Output channels [k0, k0 + r) over T's positions [v0, v0 + len), by `tile`.
      const auto run_tile = [&](PwTileFn tile, int64_t k0, int64_t r, int64_t v0, int64_t len) {
        const int64_t vecs = ceil_div(len, L);
        const int64_t first = v0 / positions, last = (v0 + len - 1) / positions;
        PwTileArgs a;
        a.t = t + v0;
        a.t_stride = t_stride;
        a.channels = mid;
        a.w = sp.pw_weight + k0 * mid;
        a.bias = sp.pw_bias ? sp.pw_bias + k0 : nullptr;
        a.out = out_tile + first * out_image + k0 * out_plane + v0 - first * positions;
        a.out_stride = out_plane;
        a.last = len - (vecs - 1) * L;
        a.act = sp.pw_activation;
        if (first == last) {
          tile(a);
          return;
        }
        // A tile over two (or more) stacked images: staged, then split between them.
        a.out = staging;
        a.out_stride = kTileLen;
        tile(a);
        for (int64_t i = first; i <= last; ++i) {
          const int64_t lo = std::max(v0, i * positions);
          const int64_t hi = std::min(v0 + len, (i + 1) * positions);
          float* dst = out_tile + i * out_image + k0 * out_plane + lo - i * positions;
          for (int64_t row = 0; row < r; ++row) {
            std::memcpy(dst + row * out_plane, staging + row * kTileLen + lo - v0,
                        sizeof(float) * (hi - lo));
          }
        }
      };
      // A last lone vector of positions (49 = 2 x 24 + 1 ymm) runs on tiles of
      // kPwTallRows output channels, as in conv2d_direct.h: AVX2's one-vector tile of 4
      // has 4 FMA chains, half what latency x pipes keep busy. (AVX-512's 6: unchanged.)
      const int64_t rest = total % kTileLen;
      const bool tall = V::kPwTallRows > V::kPwRows && rest > 0 && rest <= L && total > rest;
      const int64_t swept = tall ? total - rest : total;
      for (int64_t k0 = k_begin; k0 < k_end; k0 += V::kPwRows) {
        const int64_t r = std::min<int64_t>(V::kPwRows, k_end - k0);
        for (int64_t v0 = 0; v0 < swept; v0 += kTileLen) {
          const int64_t len = std::min(kTileLen, swept - v0);
          run_tile(kTiles[r - 1][ceil_div(len, L) - 1], k0, r, v0, len);
        }
      }
      if (tall) {
        int64_t k0 = k_begin;
        for (; k0 + V::kPwTallRows <= k_end; k0 += V::kPwTallRows) {
          run_tile(&pw_tile<V, V::kPwTallRows, 1>, k0, V::kPwTallRows, swept, rest);
        }
        for (; k0 < k_end; k0 += V::kPwRows) {
          const int64_t r = std::min<int64_t>(V::kPwRows, k_end - k0);
          run_tile(kTiles[r - 1][0], k0, r, swept, rest);
        }
      }
    }
  });
}

}  // namespace
