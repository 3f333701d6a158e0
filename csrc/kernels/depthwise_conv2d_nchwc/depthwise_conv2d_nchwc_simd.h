// The SIMD blocked depthwise kernel, written once over a vector-traits type and
// instantiated by depthwise_conv2d_nchwc_avx2.cpp (NchwcYmm) and _avx512.cpp (NchwcZmm for
// B = 16, NchwcYmm for B = 8). NOT a normal header: it is included INSIDE an ISA target
// region (isa/*_begin.h), so its functions are compiled for that ISA and land in the
// including file's anonymous namespace (as lstm/lstm_simd.h); it includes nothing itself.
// The design (tile, borders, work items) is documented in depthwise_conv2d_nchwc.h.
//
// Why no asm("" : "+v") pinning here (conv2d_direct.h needs it): each input vector of the
// tile meets exactly one weight vector per tap, so GCC folding the input load into the
// FMA's memory operand is the ideal code, not a reload; the weight vector, used kTileW
// times, stays in a register.
namespace {

// One pixel's 8 channels. The same code serves the AVX2 region and the AVX-512 region
// (which has 32 ymm registers and the same AVX2 instructions).
struct NchwcYmm {
  using Vec = __m256;
  static constexpr int64_t kLanes = 8;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec set1(float v) { return _mm256_set1_ps(v); }
  static Vec loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec fnmadd(Vec a, Vec b, Vec c) { return _mm256_fnmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static Vec mul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
  static Vec div(Vec a, Vec b) { return _mm256_div_ps(a, b); }
  static Vec max(Vec a, Vec b) { return _mm256_max_ps(a, b); }
  static Vec min(Vec a, Vec b) { return _mm256_min_ps(a, b); }
  static Vec bit_and(Vec a, Vec b) { return _mm256_and_ps(a, b); }
  // All bits set in lanes [0, n), clear in the rest.
  static Vec lane_mask(int64_t n) {
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                                                  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
  }
  // n = round(t) and 2^n, for n in [-126, 127].
  static void round_pow2(Vec t, Vec& n, Vec& pow2) {
    const __m256i i = _mm256_cvtps_epi32(t);  // round to nearest (MXCSR default)
    n = _mm256_cvtepi32_ps(i);
    pow2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(i, _mm256_set1_epi32(127)), 23));
  }
};

#if defined(PYBENCH_DW_NCHWC_AVX512)
struct NchwcZmm {
  using Vec = __m512;
  static constexpr int64_t kLanes = 16;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec set1(float v) { return _mm512_set1_ps(v); }
  static Vec loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void storeu(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec fnmadd(Vec a, Vec b, Vec c) { return _mm512_fnmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  static Vec mul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
  static Vec div(Vec a, Vec b) { return _mm512_div_ps(a, b); }
  // The maskz forms: GCC 12's plain _mm512_max_ps trips -Wmaybe-uninitialized on its own
  // _mm512_undefined_ps (GCC bug 105593); an all-ones mask is the same instruction.
  static Vec max(Vec a, Vec b) { return _mm512_maskz_max_ps(static_cast<__mmask16>(-1), a, b); }
  static Vec min(Vec a, Vec b) { return _mm512_maskz_min_ps(static_cast<__mmask16>(-1), a, b); }
  static Vec bit_and(Vec a, Vec b) { return _mm512_and_ps(a, b); }
  static Vec lane_mask(int64_t n) {
    return _mm512_castsi512_ps(
        _mm512_maskz_set1_epi32(static_cast<__mmask16>((1u << n) - 1), -1));
  }
  // maskz forms again (GCC bug 105593).
  static void round_pow2(Vec t, Vec& n, Vec& pow2) {
    const __mmask16 all = static_cast<__mmask16>(-1);
    const __m512i i = _mm512_maskz_cvtps_epi32(all, t);
    n = _mm512_maskz_cvtepi32_ps(all, i);
    pow2 = _mm512_castsi512_ps(
        _mm512_maskz_slli_epi32(all, _mm512_add_epi32(i, _mm512_set1_epi32(127)), 23));
  }
};
#endif

// e^x on [-87.3, 88.3] (inputs clamped; NaN passes through, as min/max return their second
// operand when either is NaN): x = n ln2 + r with ln2 split in two (Cody-Waite), e^r by
// Cephes' degree-6 polynomial, 2^n built in the exponent field -- lstm_simd.h's vexp.
template <class V>
inline typename V::Vec nchwc_exp(typename V::Vec x) {
  using Vec = typename V::Vec;
  x = V::min(V::set1(88.3f), V::max(V::set1(-87.3f), x));
  Vec n, pow2;
  V::round_pow2(V::mul(x, V::set1(1.44269504088896341f)), n, pow2);
  Vec r = V::fnmadd(n, V::set1(0.693359375f), x);
  r = V::fnmadd(n, V::set1(-2.12194440e-4f), r);
  Vec p = V::set1(1.9875691500e-4f);
  p = V::fmadd(p, r, V::set1(1.3981999507e-3f));
  p = V::fmadd(p, r, V::set1(8.3334519073e-3f));
  p = V::fmadd(p, r, V::set1(4.1665795894e-2f));
  p = V::fmadd(p, r, V::set1(1.6666665459e-1f));
  p = V::fmadd(p, r, V::set1(5.0000001201e-1f));
  p = V::fmadd(p, V::mul(r, r), V::add(r, V::set1(1.0f)));
  return V::mul(p, pow2);
}

// The epilogue of U accumulators still in registers: + residual, activation, padded lanes
// zeroed, stored. The switch runs once per tile, not per vector. max / min take the
// constant first so a NaN accumulator stays NaN (they return their second operand then),
// as PyTorch's relu / clamp do.
template <class V, int U>
inline void nchwc_store(typename V::Vec (&acc)[U], float* out, const float* res,
                        Activation act, bool masked, typename V::Vec mask) {
  using Vec = typename V::Vec;
  constexpr int64_t B = V::kLanes;
  if (res) {
    for (int u = 0; u < U; ++u) acc[u] = V::add(acc[u], V::loadu(res + u * B));
  }
  switch (act) {
    case Activation::none: break;
    case Activation::relu:
      for (int u = 0; u < U; ++u) acc[u] = V::max(V::zero(), acc[u]);
      break;
    case Activation::relu6:
      for (int u = 0; u < U; ++u) acc[u] = V::min(V::set1(6.0f), V::max(V::zero(), acc[u]));
      break;
    case Activation::hardswish:
      for (int u = 0; u < U; ++u) {
        const Vec t = V::min(V::set1(6.0f), V::max(V::zero(), V::add(acc[u], V::set1(3.0f))));
        acc[u] = V::mul(acc[u], V::mul(t, V::set1(1.0f / 6.0f)));
      }
      break;
    case Activation::sigmoid:
      // A true division: the epilogue is a small part of a 9-tap (or larger) pixel.
      for (int u = 0; u < U; ++u) {
        const Vec e = nchwc_exp<V>(V::mul(V::set1(-1.0f), acc[u]));
        acc[u] = V::div(V::set1(1.0f), V::add(V::set1(1.0f), e));
      }
      break;
  }
  for (int u = 0; u < U; ++u) V::storeu(out + u * B, masked ? V::bit_and(acc[u], mask) : acc[u]);
}

// What every pixel of one output row shares.
struct NchwcRow {
  const float* x;       // the input plane (n, cb)
  const float* w;       // the channel block's weights (kh, kw, B)
  const float* res;     // the residual row, or nullptr
  float* out;           // the output row
  int64_t iy0;          // input row of kernel row 0 (may be outside the image)
  int64_t r0, r1;       // kernel rows inside the image
};

// U interior output pixels ox .. ox+U-1: every tap inside the image, no checks.
template <class V, int U>
inline void nchwc_interior(const DepthwiseConv2dNchwcParams& p, const NchwcRow& row,
                           int64_t ox, typename V::Vec bias, bool masked,
                           typename V::Vec mask) {
  using Vec = typename V::Vec;
  constexpr int64_t B = V::kLanes;
  const int64_t step = p.stride_w * B;   // between the tile's pixels
  const int64_t tap = p.dilation_w * B;  // between a pixel's taps of one kernel row
  Vec acc[U];
  for (int u = 0; u < U; ++u) acc[u] = bias;
  for (int64_t r = row.r0; r < row.r1; ++r) {
    const float* xs = row.x + ((row.iy0 + r * p.dilation_h) * p.in_w + ox * p.stride_w -
                               p.pad_w) * B;
    const float* ws = row.w + r * p.kernel_w * B;
    for (int64_t s = 0; s < p.kernel_w; ++s, xs += tap, ws += B) {
      const Vec wv = V::loadu(ws);
      for (int u = 0; u < U; ++u) acc[u] = V::fmadd(V::loadu(xs + u * step), wv, acc[u]);
    }
  }
  nchwc_store<V, U>(acc, row.out + ox * B, row.res ? row.res + ox * B : nullptr,
                    p.activation, masked, mask);
}

// One border output pixel: taps outside the image skipped.
template <class V>
inline void nchwc_border(const DepthwiseConv2dNchwcParams& p, const NchwcRow& row, int64_t ox,
                         typename V::Vec bias, bool masked, typename V::Vec mask) {
  using Vec = typename V::Vec;
  constexpr int64_t B = V::kLanes;
  Vec acc[1] = {bias};
  const int64_t ix0 = ox * p.stride_w - p.pad_w;
  for (int64_t r = row.r0; r < row.r1; ++r) {
    const float* xr = row.x + (row.iy0 + r * p.dilation_h) * p.in_w * B;
    const float* ws = row.w + r * p.kernel_w * B;
    for (int64_t s = 0; s < p.kernel_w; ++s) {
      const int64_t ix = ix0 + s * p.dilation_w;
      if (ix < 0 || ix >= p.in_w) continue;
      acc[0] = V::fmadd(V::loadu(xr + ix * B), V::loadu(ws + s * B), acc[0]);
    }
  }
  nchwc_store<V, 1>(acc, row.out + ox * B, row.res ? row.res + ox * B : nullptr,
                    p.activation, masked, mask);
}

// floor(a / b) for b > 0 and any a.
inline int64_t nchwc_floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// The whole convolution; p.block == V::kLanes.
template <class V>
void depthwise_conv2d_nchwc_simd(const DepthwiseConv2dNchwcParams& p) {
  using Vec = typename V::Vec;
  constexpr int64_t B = V::kLanes;
  const int64_t cb_count = p.channel_blocks();
  // With fewer images than threads, each thread takes one band of rows of every channel
  // block (items in (image, band, block) order), as the blocked 1x1 convolutions around
  // it split such layers (conv2d_nchwc_tile.h): each layer then reads what the same core
  // wrote. Split by channel blocks, the projection after it read half its input from the
  // other core's L2.
  const int64_t threads = p.exec.max_threads;
  const bool spatial = p.exec.parallel_for && threads > 1 && p.batch < threads &&
                       p.out_h >= threads;
  const int64_t rows =
      spatial ? ceil_div(p.out_h, threads) : depthwise_nchwc_rows_per_item(p);
  const int64_t chunks = ceil_div(p.out_h, rows);
  const int64_t in_plane = p.in_h * p.in_w * B;
  const int64_t out_plane = p.out_plane();
  const int64_t tail = p.channels - (cb_count - 1) * B;  // real lanes of the last block
  // Interior columns [ox_lo, ox_hi): the first and last taps inside the row.
  const int64_t ox_lo = std::min(ceil_div(p.pad_w, p.stride_w), p.out_w);
  const int64_t ox_hi = std::clamp(
      nchwc_floor_div(p.in_w - 1 + p.pad_w - (p.kernel_w - 1) * p.dilation_w, p.stride_w) + 1,
      ox_lo, p.out_w);
  run_parallel(p.exec, 0, p.batch * cb_count * chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t chunk = spatial ? item / cb_count % chunks : item % chunks;
      const int64_t plane =  // n * Cb + cb
          spatial ? item / (cb_count * chunks) * cb_count + item % cb_count : item / chunks;
      const int64_t cb = plane % cb_count;
      const int64_t y0 = chunk * rows;
      const int64_t y1 = std::min(y0 + rows, p.out_h);
      const bool masked = cb == cb_count - 1 && tail < B;
      const Vec mask = V::lane_mask(masked ? tail : B);
      const Vec bias = p.bias ? V::loadu(p.bias + cb * B) : V::zero();
      NchwcRow row;
      row.x = p.input + plane * in_plane;
      row.w = p.weight + cb * p.kernel_h * p.kernel_w * B;
      for (int64_t oy = y0; oy < y1; ++oy) {
        row.iy0 = oy * p.stride_h - p.pad_h;
        row.r0 = std::clamp<int64_t>(ceil_div(-row.iy0, p.dilation_h), 0, p.kernel_h);
        row.r1 = std::clamp<int64_t>(nchwc_floor_div(p.in_h - 1 - row.iy0, p.dilation_h) + 1,
                                     row.r0, p.kernel_h);
        row.out = p.output + plane * out_plane + oy * p.out_w * B;
        row.res = p.residual ? p.residual + plane * out_plane + oy * p.out_w * B : nullptr;
        int64_t ox = 0;
        for (; ox < ox_lo; ++ox) nchwc_border<V>(p, row, ox, bias, masked, mask);
        for (; ox + 8 <= ox_hi; ox += 8) nchwc_interior<V, 8>(p, row, ox, bias, masked, mask);
        // The rest in one tile: its pixels are independent chains of FMAs, and fewer than
        // the FMA latency times the pipes (8) leave the pipes waiting. The 4 + 1 + 1 + 1
        // tiles this replaced ran a 7-wide row as 4 chains, then 1 three times.
        switch (ox_hi - ox) {
          case 7: nchwc_interior<V, 7>(p, row, ox, bias, masked, mask); break;
          case 6: nchwc_interior<V, 6>(p, row, ox, bias, masked, mask); break;
          case 5: nchwc_interior<V, 5>(p, row, ox, bias, masked, mask); break;
          case 4: nchwc_interior<V, 4>(p, row, ox, bias, masked, mask); break;
          case 3: nchwc_interior<V, 3>(p, row, ox, bias, masked, mask); break;
          case 2: nchwc_interior<V, 2>(p, row, ox, bias, masked, mask); break;
          case 1: nchwc_interior<V, 1>(p, row, ox, bias, masked, mask); break;
          default: break;
        }
        ox = std::max(ox, ox_hi);
        for (; ox < p.out_w; ++ox) nchwc_border<V>(p, row, ox, bias, masked, mask);
      }
    }
  });
}

}  // namespace
