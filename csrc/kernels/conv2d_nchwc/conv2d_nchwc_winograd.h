// The SIMD body of the blocked Winograd convolution (conv2d_nchwc.h, WinogradPlan), included
// INSIDE an ISA target region after conv2d_nchwc_tile.h, whose 1x1 register tile
// (nchwc_tile) runs the 36 per-(xi, nu) products. Needs Isa::sub besides the tile's traits.
//
// F(4x4, 3x3): Y = A^T [(G g G^T) . (B^T d B)] A, with d a 6x6 input tile, g the 3x3
// filter and the interpolation points 0, +-1, +-2, +-1/2 (Lavin & Gray): B^T has entries up
// to 5, A^T up to 8, so the float32 rounding of the transforms grows the error of a sum of
// products by about 10x over the direct kernel's (tests/ops/test_winograd_nchwc.py states
// the bound it checks).
namespace {

// r = B^T d for one column (or row) of 6 values.
template <class Isa>
[[gnu::always_inline]] inline void wino_bt(const typename Isa::Vec (&d)[6],
                                           typename Isa::Vec (&r)[6]) {
  using Vec = typename Isa::Vec;
  const Vec c4 = Isa::set1(4.0f), cm4 = Isa::set1(-4.0f), cm5 = Isa::set1(-5.0f),
            c2 = Isa::set1(2.0f);
  r[0] = Isa::fmadd(c4, d[0], Isa::fmadd(cm5, d[2], d[4]));
  r[1] = Isa::fmadd(cm4, Isa::add(d[1], d[2]), Isa::add(d[3], d[4]));
  r[2] = Isa::fmadd(c4, Isa::sub(d[1], d[2]), Isa::sub(d[4], d[3]));
  r[3] = Isa::fmadd(c2, Isa::sub(d[3], d[1]), Isa::sub(d[4], d[2]));
  r[4] = Isa::fmadd(c2, Isa::sub(d[1], d[3]), Isa::sub(d[4], d[2]));
  r[5] = Isa::fmadd(c4, d[1], Isa::fmadd(cm5, d[3], d[5]));
}

// o = A^T m for one column (or row) of 6 values.
template <class Isa>
[[gnu::always_inline]] inline void wino_at(const typename Isa::Vec (&m)[6],
                                           typename Isa::Vec (&o)[4]) {
  using Vec = typename Isa::Vec;
  const Vec sum12 = Isa::add(m[1], m[2]), dif12 = Isa::sub(m[1], m[2]);
  const Vec sum34 = Isa::add(m[3], m[4]), dif34 = Isa::sub(m[3], m[4]);
  o[0] = Isa::add(Isa::add(m[0], sum12), sum34);
  o[1] = Isa::fmadd(Isa::set1(2.0f), dif34, dif12);
  o[2] = Isa::fmadd(Isa::set1(4.0f), sum34, sum12);
  o[3] = Isa::add(Isa::fmadd(Isa::set1(8.0f), dif34, dif12), m[5]);
}

// V[xi * 6 + nu] (xi_stride floats apart) = (B^T d B)[xi][nu] of the 6x6 input tile whose
// top-left input pixel is (y0, x0) of one channel block's plane; pixels outside it are the
// padding's zeros.
template <class Isa>
void wino_input_tile(const float* plane, int64_t in_h, int64_t in_w, int64_t y0, int64_t x0,
                     float* v, int64_t xi_stride) {
  using Vec = typename Isa::Vec;
  constexpr int64_t B = Isa::kLanes;
  const bool inside = y0 >= 0 && x0 >= 0 && y0 + 6 <= in_h && x0 + 6 <= in_w;
  Vec t[6][6];
#pragma GCC unroll 6
  for (int i = 0; i < 6; ++i) {
    const int64_t iy = y0 + i;
    const bool row_in = iy >= 0 && iy < in_h;
    Vec d[6];
#pragma GCC unroll 6
    for (int j = 0; j < 6; ++j) {
      const int64_t ix = x0 + j;
      d[j] = inside || (row_in && ix >= 0 && ix < in_w) ? Isa::load(plane + (iy * in_w + ix) * B)
                                                        : Isa::zero();
    }
    wino_bt<Isa>(d, t[i]);
  }
#pragma GCC unroll 6
  for (int nu = 0; nu < 6; ++nu) {
    Vec d[6], r[6];
#pragma GCC unroll 6
    for (int i = 0; i < 6; ++i) d[i] = t[i][nu];
    wino_bt<Isa>(d, r);
#pragma GCC unroll 6
    for (int xi = 0; xi < 6; ++xi) Isa::store(v + (xi * 6 + nu) * xi_stride, r[xi]);
  }
}

struct WinoOutput {
  float* out;             // the output block's plane (out_h x out_w x B)
  const float* residual;  // the residual's, or nullptr
  int64_t out_h, out_w;
  Activation act;
  int64_t lanes;          // valid lanes of the block (< B: the last block's padding)
};

// The 4x4 outputs of the tile at (y0, x0) from its 36 products m (xi_stride floats apart),
// with the epilogue; outputs past the image's edge are not written.
template <class Isa>
void wino_output_tile(const float* m, int64_t xi_stride, typename Isa::Vec bias,
                      const WinoOutput& o, int64_t y0, int64_t x0) {
  using Vec = typename Isa::Vec;
  constexpr int64_t B = Isa::kLanes;
  Vec s[6][4];
#pragma GCC unroll 6
  for (int xi = 0; xi < 6; ++xi) {
    Vec row[6];
#pragma GCC unroll 6
    for (int nu = 0; nu < 6; ++nu) row[nu] = Isa::load(m + (xi * 6 + nu) * xi_stride);
    wino_at<Isa>(row, s[xi]);
  }
  const int64_t rows = std::min<int64_t>(4, o.out_h - y0), cols = std::min<int64_t>(4, o.out_w - x0);
#pragma GCC unroll 4
  for (int x = 0; x < 4; ++x) {
    if (x >= cols) break;
    Vec col[6], y[4];
#pragma GCC unroll 6
    for (int xi = 0; xi < 6; ++xi) col[xi] = s[xi][x];
    wino_at<Isa>(col, y);
    for (int r = 0; r < rows; ++r) {
      const int64_t at = ((y0 + r) * o.out_w + x0 + x) * B;
      Vec v = Isa::add(y[r], bias);
      if (o.residual) v = Isa::add(v, Isa::load(o.residual + at));
      v = activate_vec<Isa>(v, o.act);
      if (o.lanes < B) v = Isa::keep_lanes(v, o.lanes);
      Isa::store(o.out + at, v);
      if (o.act == Activation::sigmoid) sigmoid_in_place(o.out + at, o.lanes);
    }
  }
}

template <class Isa>
void conv2d_nchwc_winograd_simd(const Conv2dNchwcParams& p) {
  constexpr int64_t B = Isa::kLanes;
  constexpr int OCB = Isa::kOcBlocks;
  constexpr int P = Isa::kPixels;
  // The 1x1 register tiles of a blocked input, interior variant: [oc blocks - 1][pixels - 1].
  static constexpr auto kTiles =
      nchwc_tile_table<Isa, B, false>(std::make_integer_sequence<int, OCB>{});
  const WinogradPlan d = winograd_plan(p, cpu_caches(), OCB, P);
  if (d.tiles == 0) return;
  const int64_t cb = p.in_blocks(), kb_count = p.out_blocks(), T = d.tile_block;
  const int64_t in_plane = p.in_h * p.in_w * B, out_plane = p.out_h * p.out_w * B;
  const int64_t tail = p.out_channels - (kb_count - 1) * B;
  const int64_t kg_base = kb_count / d.kgroups, kg_wider = kb_count % d.kgroups;
  // V: [36][Cb][T][B]; M: [36][OCB][T][B].
  const int64_t v_xi = cb * T * B, m_xi = OCB * T * B;
  run_parallel(p.exec, 0, d.blocks * d.parts, 1, [&](int64_t begin, int64_t end) {
    // Grown once per thread and kept: a fresh buffer of this size would be a fresh mmap,
    // page-faulted on every call.
    static thread_local std::vector<float> scratch;
    if (static_cast<int64_t>(scratch.size()) < d.v_floats + d.m_floats) {
      scratch.resize(d.v_floats + d.m_floats);
    }
    float* const vbuf = scratch.data();
    float* const mbuf = vbuf + d.v_floats;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t block = item / d.parts, part = item % d.parts;
      const int64_t t0 = block * T, count = std::min(T, d.tiles - t0);
      auto tile_origin = [&](int64_t t, int64_t& n, int64_t& oy, int64_t& ox) {
        const int64_t g = t0 + t;
        n = g / (d.tiles_h * d.tiles_w);
        const int64_t rest = g % (d.tiles_h * d.tiles_w);
        oy = rest / d.tiles_w * 4;
        ox = rest % d.tiles_w * 4;
      };
      for (int64_t t = 0; t < count; ++t) {
        int64_t n, oy, ox;
        tile_origin(t, n, oy, ox);
        for (int64_t c = 0; c < cb; ++c) {
          wino_input_tile<Isa>(p.input + (n * cb + c) * in_plane, p.in_h, p.in_w, oy - p.pad_h,
                               ox - p.pad_w, vbuf + (c * T + t) * B, v_xi);
        }
      }
      const int64_t kg_lo = part * d.kgroups / d.parts, kg_hi = (part + 1) * d.kgroups / d.parts;
      for (int64_t kg = kg_lo; kg < kg_hi; ++kg) {
        const int64_t kb0 = kg * kg_base + std::min(kg, kg_wider);
        const int ocb = static_cast<int>(kg_base + (kg < kg_wider ? 1 : 0));
        // The 36 products: per (xi, nu) a 1x1 convolution of the tiles (as pixels).
        NchwcTileArgs a{};
        a.in_group = T * B;
        a.w_group = B * B;
        a.in_row = 0;
        a.dil_row = 0;
        a.px_step = B;
        a.dil_col = 0;
        a.in_px = B;
        a.r0 = 0;
        a.r1 = 1;
        a.in_w = T;
        a.stride_w = 1;
        a.dilation_w = 1;
        a.kernel_w = 1;
        a.w_block = cb * B * B;
        a.bias = nullptr;
        a.residual = nullptr;
        a.out_plane = T * B;
        a.act = Activation::none;
        a.tail_lanes = B;
        a.tail_block = -1;
        const int64_t n_tiles = (count + P - 1) / P;
        const int64_t base = count / n_tiles, wider = count % n_tiles;
        for (int64_t xi = 0; xi < 36; ++xi) {
          for (int64_t g = 0; g < cb; g += d.group_batch) {
            a.groups = std::min(d.group_batch, cb - g);
            a.in = vbuf + xi * v_xi + g * T * B;
            a.w = p.weight + ((xi * kb_count + kb0) * cb + g) * B * B;
            a.first = g == 0;
            a.last = g + a.groups == cb;
            for (int64_t s = 0, t = 0; s < n_tiles; ++s) {
              const int64_t cnt = base + (s < wider ? 1 : 0);
              a.ix0 = t;
              a.out = mbuf + xi * m_xi + t * B;
              kTiles[ocb - 1][cnt - 1](a);
              t += cnt;
            }
          }
        }
        for (int j = 0; j < ocb; ++j) {
          const int64_t kb = kb0 + j;
          const typename Isa::Vec bias = p.bias ? Isa::load(p.bias + kb * B) : Isa::zero();
          for (int64_t t = 0; t < count; ++t) {
            int64_t n, oy, ox;
            tile_origin(t, n, oy, ox);
            WinoOutput o;
            o.out = p.output + (n * p.output_blocks + kb) * out_plane;
            o.residual = p.residual ? p.residual + (n * kb_count + kb) * out_plane : nullptr;
            o.out_h = p.out_h;
            o.out_w = p.out_w;
            o.act = p.activation;
            o.lanes = kb == kb_count - 1 ? tail : B;
            wino_output_tile<Isa>(mbuf + (j * T + t) * B, m_xi, bias, o, oy, ox);
          }
        }
      }
    }
  });
}

}  // namespace
