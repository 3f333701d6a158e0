// The SIMD NCHW pooling, written once over the vector traits of
// depthwise_conv2d/depthwise_conv2d_vec.h and instantiated by pool2d_avx2.cpp (Ymm) and
// pool2d_avx512.cpp (Zmm). NOT a normal header: it is included INSIDE an ISA target
// region (isa/*_begin.h), after the traits, so its functions are compiled for that ISA
// and land in the including file's anonymous namespace; it includes nothing itself.
//
// A work item is one output row of one plane, pooled in two passes over row buffers, as
// the blocked pooling does (pool2d_nchwc_simd.h), because windows are separable:
//  1. vertical: the row window's taps (input rows) combined column by column, a vector
//     of L = kLanes columns at a time, whatever the stride;
//  2. horizontal: every output's window columns in that buffer, L outputs a vector.
// Pass 2 wants the taps of L consecutive outputs as one contiguous vector, which a stride
// s > 1 spreads s apart. So pass 1 leaves its row in s phases: padded column q (input
// column + pad_w) at index q / s of phase q % s. Tap t of outputs ox .. ox+L-1 is then
// phase (t*dilation) % s from index ox + (t*dilation) / s, one unaligned load. Stride 1
// is the row itself; stride 2 (AlexNet's, VGG's, GoogLeNet's, ResNet's 3x3 / 2x2 s2)
// deinterleaves pairs of vectors with two permutes (Ymm/Zmm::deinterleave); larger
// strides (a global pooling taken as kernel = stride = the whole row) scatter scalars.
//
// Padding costs nothing in the hot loops: the phase columns outside the input hold the
// identity (-inf for max, 0 for avg: a window's max / sum over its padded taps is then
// its max / sum over its inside taps, the NaN rule included; a dilated max window with
// no inside tap gives -inf, as PyTorch's), written once per task, and pass 1 only writes
// inside columns. Reads stay inside the input: pass 1 reads the
// window's inside rows (the row windows) and columns [0, in_w) with masked tail loads.
// Average divisors (pool_divisor) come from a row of floats rebuilt only when the row
// window's extent changes, and are divided, not multiplied by a reciprocal.
//
// Narrow rows (in_w and out_w at most L: the 7, 13 and 14 wide planes of GoogLeNet, AlexNet
// and VGG) skip the buffer: pass 1's vector stays in a register and pass 2 takes each tap
// with one permute (lanes whose input column is padding take the identity), from index
// and lane tables built once per call. Through memory, pass 2's loads read what pass 1
// had just stored at other offsets, which store forwarding cannot serve: a third of the
// time of GoogLeNet's 7x7 3x3 s1 pooling sat on that first reload.
//
// Adaptive pooling: rows run pass 1 through their windows like any other; columns take
// the phase path when in_w is a multiple of out_w (uniform windows: kernel = stride =
// in_w / out_w, no padding: global pooling, AlexNet's 6x6 -> 6x6, 14 -> 7), else window
// by window in scalar code (windows of varying start and size).
namespace {

template <class V>
struct PoolIo {
  using Vec = typename V::Vec;
  // A whole vector.
  struct Full {
    Vec load(const float* p) const { return V::loadu(p); }
    void store(float* p, Vec v) const { V::storeu(p, v); }
  };
  // The first n < kLanes lanes: masked, so nothing past them is read or written.
  struct Part {
    typename V::Mask m;
    Vec load(const float* p) const { return V::maskload(p, m); }
    void store(float* p, Vec v) const { V::maskstore(p, m, v); }
  };
  // f(i, io) for the vectors of [0, n): io is Full, or Part for the last, partial one.
  template <class F>
  static void for_each(int64_t n, F&& f) {
    int64_t i = 0;
    for (; i + V::kLanes <= n; i += V::kLanes) f(i, Full{});
    if (i < n) f(i, Part{V::mask(n - i)});
  }
};

template <class V, bool kMax>
typename V::Vec pool_combine(typename V::Vec acc, typename V::Vec v) {
  if constexpr (kMax) {
    return V::max_nan(acc, v);
  } else {
    return V::add(acc, v);
  }
}

template <class V, bool kMax>
void pool2d_simd_mode(const Pool2dParams& p) {
  using Vec = typename V::Vec;
  using Io = PoolIo<V>;
  constexpr int64_t L = V::kLanes;
  constexpr auto combine = &pool_combine<V, kMax>;
  const std::vector<PoolWindow> row_windows = p.row_windows(), col_windows = p.col_windows();
  // The horizontal geometry: the phase path for ordinary pooling and uniform adaptive
  // windows (see above); else window by window.
  const bool phased = !p.adaptive || p.in_w % p.out_w == 0;
  const int64_t kw = !p.adaptive ? p.kernel_w : phased ? p.in_w / p.out_w : 1;
  const int64_t sw = p.adaptive ? kw : p.stride_w;
  const int64_t pw = p.adaptive ? 0 : p.pad_w;
  const int64_t dw = p.adaptive ? 1 : p.dilation_w;
  // Padded columns [0, padded): the input and its left padding, and every tap of every
  // output (ceil_mode's last window may hang past the right padding).
  const int64_t padded = std::max(pw + p.in_w, (p.out_w - 1) * sw + (kw - 1) * dw + 1);
  // + L: pass 2 loads whole vectors up to L - 1 outputs past out_w (their lanes are not
  // stored), at most index ceil(padded / s) + L - 2 of a phase.
  const int64_t phase_len = ceil_div(padded, sw) + L;
  std::vector<int64_t> taps(static_cast<size_t>(kw));  // tap t: offset in the phases
  for (int64_t t = 0; t < kw; ++t) taps[t] = (t * dw) % sw * phase_len + (t * dw) / sw;
  // Narrow rows (see above): tap t of output lane ox reads register lane
  // narrow_index[t][ox] where narrow_on[t][ox], else the identity.
  const bool narrow = phased && p.in_w <= L && p.out_w <= L;
  std::vector<int32_t> narrow_index, narrow_on;
  if (narrow) {
    narrow_index.assign(static_cast<size_t>(kw * L), 0);
    narrow_on.assign(static_cast<size_t>(kw * L), 0);
    for (int64_t t = 0; t < kw; ++t) {
      for (int64_t ox = 0; ox < p.out_w; ++ox) {
        const int64_t ix = ox * sw + t * dw - pw;
        if (ix < 0 || ix >= p.in_w) continue;
        narrow_index[static_cast<size_t>(t * L + ox)] = static_cast<int32_t>(ix);
        narrow_on[static_cast<size_t>(t * L + ox)] = 1;
      }
    }
  }

  const int64_t threads = std::max<int64_t>(1, p.exec.max_threads);
  // Global pooling: one output a plane, whose window is the whole plane (adaptive to 1x1,
  // the classifiers' average pools). The plane is then one contiguous run of floats,
  // reduced in two vector accumulators and a tree across lanes: row by row it was a row
  // and a bit of work for one output, 2x slower than ATen's mean on ResNet's
  // 8 x 512 x 7 x 7.
  const PoolWindow& rw0 = row_windows[0];
  const PoolWindow& cw0 = col_windows[0];
  const bool dense = p.adaptive || (p.dilation_h == 1 && p.dilation_w == 1);
  if (p.out_h == 1 && p.out_w == 1 && rw0.first == 0 && rw0.taps == p.in_h &&
      cw0.first == 0 && cw0.taps == p.in_w && dense) {
    const int64_t n = p.in_h * p.in_w;
    const float divisor = static_cast<float>(
        pool_divisor(rw0, cw0, p.count_include_pad, p.divisor_override));
    // Lane tables: row 0 the identity permutation (a masked tail's lanes), row k lane
    // i ^ (L >> k) (the k-th step of the tree reduction across lanes).
    int32_t lane_table[6][L];
    int reduce_steps = 0;
    for (int64_t i = 0; i < L; ++i) lane_table[0][i] = static_cast<int32_t>(i);
    for (int64_t shift = L / 2; shift >= 1; shift /= 2) {
      ++reduce_steps;
      for (int64_t i = 0; i < L; ++i) lane_table[reduce_steps][i] = static_cast<int32_t>(i ^ shift);
    }
    const int64_t grain =
        std::clamp<int64_t>(16384 / n, 1, std::max<int64_t>(1, p.planes / threads));
    run_parallel(p.exec, 0, p.planes, grain, [&](int64_t begin, int64_t end) {
      const float* const input = p.input;
      float* const output = p.output;
      const Vec identity_vec =
          V::set1(kMax ? -std::numeric_limits<float>::infinity() : 0.0f);
      const auto all = V::mask(L);
      const int64_t rem = n % L;
      const auto tail = V::mask(rem);
      alignas(64) float first[L];
      for (int64_t plane = begin; plane < end; ++plane) {
        const float* const x = input + plane * n;
        Vec a = identity_vec, b = identity_vec;
        int64_t i = 0;
        for (; i + 2 * L <= n; i += 2 * L) {
          a = combine(a, V::loadu(x + i));
          b = combine(b, V::loadu(x + i + L));
        }
        if (i + L <= n) {
          a = combine(a, V::loadu(x + i));
          i += L;
        }
        if (rem != 0) {  // lanes past the plane: the identity (nothing read there)
          b = combine(b, V::permute(identity_vec, tail, V::load_index(lane_table[0]),
                                    V::maskload(x + i, tail)));
        }
        Vec v = combine(a, b);
        for (int k = 1; k <= reduce_steps; ++k) {
          v = combine(v, V::permute(v, all, V::load_index(lane_table[k]), v));
        }
        V::storeu(first, v);
        output[plane] = kMax ? first[0] : first[0] / divisor;
      }
    });
    return;
  }

  const int64_t rows = p.planes * p.out_h;
  // About 4096 outputs per task, but at least one task per thread (as the blocked pooling).
  const int64_t grain = std::clamp<int64_t>(4096 / std::max<int64_t>(1, p.out_w), 1,
                                            std::max<int64_t>(1, rows / threads));
  run_parallel(p.exec, 0, rows, grain, [&](int64_t begin, int64_t end) {
    // Everything the loops read, as locals: a vector store (through a may_alias type)
    // could alias any field of `p`, so the compiler would reload each after every store.
    const int64_t in_w = p.in_w, in_h = p.in_h, out_w = p.out_w, out_h = p.out_h;
    const int64_t dil_row = p.dilation_h * in_w;
    const float* const input = p.input;
    float* const output = p.output;
    const bool include_pad = p.count_include_pad;
    const int64_t divisor_override = p.divisor_override;
    const int64_t* const tap = taps.data();
    const float identity = kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
    const Vec identity_vec = V::set1(identity);
    // Two of each row buffer (see the pipeline below): the phases, and a plain row for
    // stride > 1 and the windowed path (+ 2L for the stride-2 deinterleave's whole-vector
    // loads).
    const int64_t phase_size = phased && !narrow ? sw * phase_len : 0;
    const int64_t row_size = narrow ? 0 : in_w + 2 * L;
    std::vector<float> phase_buffers(static_cast<size_t>(2 * phase_size), identity);
    std::vector<float> row_buffers(static_cast<size_t>(2 * row_size));
    std::vector<float> divisors(static_cast<size_t>(kMax ? 0 : out_w + L));
    int64_t divisor_span = -1, divisor_taps = -1;  // the row window `divisors` was built for

    // The divisors of row window rw's outputs, unless they are the last ones built.
    const auto update_divisors = [&](const PoolWindow& rw) {
      if (kMax || (rw.span == divisor_span && rw.taps == divisor_taps)) return;
      for (int64_t ox = 0; ox < out_w; ++ox) {
        divisors[static_cast<size_t>(ox)] = static_cast<float>(pool_divisor(
            rw, col_windows[static_cast<size_t>(ox)], include_pad, divisor_override));
      }
      divisor_span = rw.span;
      divisor_taps = rw.taps;
    };
    // Pass 1 of columns i .. i + L - 1 of the output row `item`: its window's input rows
    // combined. Fixed tap counts get straight-line code; a loop over taps inside the loop
    // over columns ran 2x slower in the blocked pooling. A dilated window can hold no
    // input row (PyTorch then gives -inf): the identity, nothing read.
    const auto vertical_vector = [&](const float* x, int64_t row_taps, auto io)
        __attribute__((always_inline)) {
      if (row_taps == 0) return identity_vec;
      Vec acc = io.load(x);
      if (row_taps == 2) {
        acc = combine(acc, io.load(x + dil_row));
      } else if (row_taps == 3) {
        acc = combine(combine(acc, io.load(x + dil_row)), io.load(x + 2 * dil_row));
      } else {
        for (int64_t r = 1; r < row_taps; ++r) acc = combine(acc, io.load(x + r * dil_row));
      }
      return acc;
    };
    // The first input row of output row `item` = (plane, oy)'s window, and the window.
    const auto row_start = [&](int64_t plane, int64_t oy, PoolWindow& rw) {
      rw = row_windows[static_cast<size_t>(oy)];
      return input + (plane * in_h + rw.first) * in_w;
    };

    if (narrow) {
      const int32_t* const index = narrow_index.data();
      const int32_t* const on = narrow_on.data();
      int64_t plane = begin / out_h, oy = begin % out_h;
      for (int64_t item = begin; item < end; ++item) {
        PoolWindow rw;
        const float* const r0 = row_start(plane, oy, rw);
        update_divisors(rw);
        // The row stays in a register; each tap is a permute of it.
        const Vec row = in_w == L ? vertical_vector(r0, rw.taps, typename Io::Full{})
                                  : vertical_vector(r0, rw.taps, typename Io::Part{V::mask(in_w)});
        Vec acc = V::permute(identity_vec, V::mask_of(on), V::load_index(index), row);
        for (int64_t t = 1; t < kw; ++t) {
          acc = combine(acc, V::permute(identity_vec, V::mask_of(on + t * L),
                                        V::load_index(index + t * L), row));
        }
        if constexpr (!kMax) acc = V::div(acc, V::loadu(divisors.data()));
        float* const out = output + item * out_w;
        if (out_w == L) {
          V::storeu(out, acc);
        } else {
          V::maskstore(out, V::mask(out_w), acc);
        }
        if (++oy == out_h) {
          oy = 0;
          ++plane;
        }
      }
      return;
    }

    // Pass 1 of output row (plane, oy) into buffer set `buf`.
    const auto pass1 = [&](int64_t plane, int64_t oy, int64_t buf)
        __attribute__((always_inline)) {
      PoolWindow rw;
      const float* const r0 = row_start(plane, oy, rw);
      float* const phase = phase_buffers.data() + buf * phase_size;
      float* const row = row_buffers.data() + buf * row_size;
      // Stride 1 writes the phase itself.
      float* const dst = phased && sw == 1 ? phase + pw : row;
      Io::for_each(in_w, [&](int64_t i, auto io) {
        io.store(dst + i, vertical_vector(r0 + i, rw.taps, io));
      });
      if (phased && sw == 2) {
        // Input column ix is padded column ix + pw: even ix go to phase pw % 2.
        float* const even = phase + (pw % 2) * phase_len + pw / 2;
        float* const odd = phase + (1 - pw % 2) * phase_len + (pw + 1) / 2;
        for (int64_t j = 0; 2 * j < in_w; j += L) {
          Vec e, o;
          V::deinterleave(V::loadu(row + 2 * j), V::loadu(row + 2 * j + L), e, o);
          const int64_t left = in_w - 2 * j;  // columns from 2j on
          if (left >= 2 * L) {
            V::storeu(even + j, e);
            V::storeu(odd + j, o);
          } else {
            V::maskstore(even + j, V::mask((left + 1) / 2), e);
            if (left > 1) V::maskstore(odd + j, V::mask(left / 2), o);
          }
        }
      } else if (phased && sw > 2) {
        for (int64_t ix = 0; ix < in_w; ++ix) {
          const int64_t q = ix + pw;
          phase[q % sw * phase_len + q / sw] = row[ix];
        }
      }
    };
    // Pass 2 of output row `item` = (any plane, oy) from buffer set `buf`.
    const auto pass2 = [&](int64_t item, int64_t oy, int64_t buf)
        __attribute__((always_inline)) {
      update_divisors(row_windows[static_cast<size_t>(oy)]);
      float* const out = output + item * out_w;
      if (!phased) {
        const float* const src = row_buffers.data() + buf * row_size;
        for (int64_t ox = 0; ox < out_w; ++ox) {
          const PoolWindow cw = col_windows[static_cast<size_t>(ox)];
          float acc = src[cw.first];
          for (int64_t s = 1; s < cw.taps; ++s) {
            const float v = src[cw.first + s];
            if constexpr (kMax) {
              if (v > acc || std::isnan(v)) acc = v;  // a NaN acc compares false: stays
            } else {
              acc += v;
            }
          }
          if constexpr (!kMax) acc /= divisors[static_cast<size_t>(ox)];
          out[ox] = acc;
        }
        return;
      }
      const float* const phase = phase_buffers.data() + buf * phase_size;
      Io::for_each(out_w, [&](int64_t ox, auto io) {
        const float* const b = phase + ox;
        Vec acc = V::loadu(b + tap[0]);
        if (kw == 2) {
          acc = combine(acc, V::loadu(b + tap[1]));
        } else if (kw == 3) {
          acc = combine(combine(acc, V::loadu(b + tap[1])), V::loadu(b + tap[2]));
        } else {
          for (int64_t t = 1; t < kw; ++t) acc = combine(acc, V::loadu(b + tap[t]));
        }
        if constexpr (!kMax) acc = V::div(acc, V::loadu(divisors.data() + ox));
        io.store(out + ox, acc);
      });
    };
    // A row's pass 2 runs after the next row's pass 1: its loads then find pass 1's stores
    // in the cache, where right after them they waited for the stores to drain (loads at
    // other offsets than the stores get nothing from store forwarding).
    int64_t plane = begin / out_h, oy = begin % out_h, previous_oy = 0;
    for (int64_t item = begin; item < end; ++item) {
      pass1(plane, oy, item & 1);
      if (item > begin) pass2(item - 1, previous_oy, (item - 1) & 1);
      previous_oy = oy;
      if (++oy == out_h) {
        oy = 0;
        ++plane;
      }
    }
    pass2(end - 1, previous_oy, (end - 1) & 1);
  });
}

template <class V>
void pool2d_simd(const Pool2dParams& p) {
  if (p.mode == PoolMode::max) {
    pool2d_simd_mode<V, true>(p);
  } else {
    pool2d_simd_mode<V, false>(p);
  }
}

}  // namespace
