// The SIMD blocked pooling, written once over the vector traits of
// depthwise_conv2d/depthwise_conv2d_vec.h and instantiated by pool2d_nchwc_avx2.cpp (Ymm:
// one pixel's 8 channels) and pool2d_nchwc_avx512.cpp (Zmm, Ymm). NOT a normal header: it
// is included INSIDE an ISA target region (isa/*_begin.h), after the traits, so its
// functions are compiled for that ISA and land in the including file's anonymous
// namespace; it includes nothing itself.
//
// A work item is one output row of one channel block of one image, pooled in two passes
// over a row buffer of in_w pixels: first every input column's window rows (max or sum of
// rows.taps input rows, column by column), then every output's window columns in that
// buffer. Each pass's innermost loop runs over pixels, whose results are independent: a
// window-at-a-time loop chains its 9 taps through one register and ran at the vector
// max's latency (4 cycles a tap, 130 us for GoogLeNet's 28x28x192 3x3 pooling on one
// thread).
namespace {

template <class Isa>
void pool2d_nchwc_simd(const Pool2dNchwcParams& p) {
  using Vec = typename Isa::Vec;
  constexpr int64_t L = Isa::kLanes;
  const int64_t rows = p.batch * p.blocks * p.out_h;
  // About 16 KiB of output per task, but at least one task per thread: a global average
  // pooling (one output row per channel block) is a single task at that size, and one
  // thread then read all 250 KB of MobileNet-v2's last activations, half of them from the
  // other core's L2 (60 us where the op alone takes 11).
  const int64_t threads = std::max<int64_t>(1, p.exec.max_threads);
  const int64_t grain = std::clamp<int64_t>(
      4096 / std::max<int64_t>(1, p.out_w * p.block), 1, std::max<int64_t>(1, rows / threads));
  run_parallel(p.exec, 0, rows, grain, [&p](int64_t begin, int64_t end) {
    // Everything the loops read, as locals: a vector store (_mm*_storeu_ps writes through a
    // may_alias type) could alias any field of `p` or of a window, so the compiler would
    // reload each one after every store -- half the loop's instructions, 2x the time.
    const int64_t B = p.block, out_h = p.out_h, out_w = p.out_w;
    const int64_t row_floats = p.in_w * B, in_plane = p.in_h * row_floats;
    const int64_t out_plane = p.out_plane();
    const int64_t dil_row = p.dilation_h * row_floats, dil_col = p.dilation_w * B;
    const float* const input = p.input;
    float* const output = p.output;
    const PoolWindow* const row_windows = p.rows;
    const PoolWindow* const col_windows = p.cols;
    const bool max = p.mode == PoolMode::max;
    const auto combine = [max](Vec a, Vec b) { return max ? Isa::max_nan(a, b) : Isa::add(a, b); };
    // (a . b) . c: the same order as the general loop, so a sum does not depend on which
    // path ran it.
    const auto combine3 = [&combine](Vec a, Vec b, Vec c) { return combine(combine(a, b), c); };
    std::vector<float> buffer(static_cast<size_t>(row_floats));
    float* const col = buffer.data();
    for (int64_t item = begin; item < end; ++item) {
      const int64_t oy = item % out_h;
      const float* const in = input + item / out_h * in_plane;
      float* const out = output + item / out_h * out_plane + oy * out_w * B;
      const PoolWindow rw = row_windows[oy];
      // Pass 1: the window's rows, per input column. Every output window holds at least
      // one tap (padding is at most half the window). Fixed tap counts get straight-line
      // code: a loop over taps inside the loop over pixels ran 2x slower.
      const float* const r0 = in + rw.first * row_floats;
      const float* const r1 = r0 + dil_row;
      const float* const r2 = r1 + dil_row;
      if (rw.taps == 3) {
        for (int64_t i = 0; i < row_floats; i += L) {
          Isa::storeu(col + i, combine3(Isa::loadu(r0 + i), Isa::loadu(r1 + i), Isa::loadu(r2 + i)));
        }
      } else if (rw.taps == 2) {
        for (int64_t i = 0; i < row_floats; i += L) {
          Isa::storeu(col + i, combine(Isa::loadu(r0 + i), Isa::loadu(r1 + i)));
        }
      } else {
        for (int64_t i = 0; i < row_floats; i += L) Isa::storeu(col + i, Isa::loadu(r0 + i));
        for (int64_t r = 1; r < rw.taps; ++r) {
          const float* const row = r0 + r * dil_row;
          for (int64_t i = 0; i < row_floats; i += L) {
            Isa::storeu(col + i, combine(Isa::loadu(col + i), Isa::loadu(row + i)));
          }
        }
      }
      // Pass 2: the window's columns, per output pixel.
      for (int64_t ox = 0; ox < out_w; ++ox) {
        const PoolWindow cw = col_windows[ox];
        const float* const c0 = col + cw.first * B;
        const Vec scale =
            max ? Isa::set1(1.0f) : Isa::set1(1.0f / static_cast<float>(p.divisor(rw, cw)));
        for (int64_t c = 0; c < B; c += L) {
          const float* const x = c0 + c;
          Vec acc;
          if (cw.taps == 3) {
            acc = combine3(Isa::loadu(x), Isa::loadu(x + dil_col), Isa::loadu(x + 2 * dil_col));
          } else {
            acc = Isa::loadu(x);
            for (int64_t s = 1; s < cw.taps; ++s) acc = combine(acc, Isa::loadu(x + s * dil_col));
          }
          Isa::storeu(out + ox * B + c, max ? acc : Isa::mul(acc, scale));
        }
      }
    }
  });
}

}  // namespace
