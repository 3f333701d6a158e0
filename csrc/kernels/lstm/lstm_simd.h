// The LSTM micro-kernels, written once over a vector-traits type V and instantiated by
// lstm_avx2.cpp and lstm_avx512.cpp. NOT a normal header: it is included INSIDE an ISA's
// target region (isa/*_begin.h), after the file has defined `struct V`, and its helpers
// land in that file's anonymous namespace, so each ISA gets its own copies compiled for it
// (simdjson's generic/ code works the same way). It includes nothing itself.
//
// V provides: reg, mask, W (lanes = packed block), MR (rows per tile), kHoistW (keep the
// four weight vectors of a k step in registers: AVX-512, 32 registers; AVX2 instead
// folds them into the FMAs as memory operands, 12 accumulators + 1 broadcast of 16),
// zero/set1/load/loadm/storem/bcast/fmadd/fnmadd/add/sub/mul/rcp/min/max/abs/copysign/
// lt/blend/pow2n/round.
//
// Tiles. The GEMM tile is MR batch rows x one panel (4 gates x W hidden units): MR*4
// accumulators, per k step 4 weight vectors (shared by the MR rows) and MR broadcasts of
// the activations. A single row (batch 1, and a batch's last row) is a matrix-vector
// product, bound by the bandwidth of streaming the panel: it gets its own loop with four
// k phases of 4 accumulators each, so 16 independent FMA chains hide the FMA latency.
//
// Work split. Work items are (panel, row group) pairs, panel-major: a thread's contiguous
// range of items walks few panels and all their row tiles, so each panel is streamed from
// memory once per call and then read from L2. Row groups exist only when there are too
// few panels to keep every thread busy (H = 40 is 3 panels).

// ---- activations ---------------------------------------------------------------------
// exp(x) on [-87.3, 88.3] (inputs clamped to it; NaN passes through: min/max return their
// second operand when either is NaN): x = n ln2 + r, |r| <= ln2/2, ln2 split in two
// (Cody-Waite) so r is exact to float precision, e^r by Cephes' degree-6 polynomial,
// 2^n built in the exponent field (n in [-126, 127]: always a normal float).
inline V::reg vexp(V::reg x) {
  x = V::min(V::set1(88.3f), V::max(V::set1(-87.3f), x));
  const V::reg n = V::round(V::mul(x, V::set1(1.44269504088896341f)));
  V::reg r = V::fnmadd(n, V::set1(0.693359375f), x);
  r = V::fnmadd(n, V::set1(-2.12194440e-4f), r);
  V::reg p = V::set1(1.9875691500e-4f);
  p = V::fmadd(p, r, V::set1(1.3981999507e-3f));
  p = V::fmadd(p, r, V::set1(8.3334519073e-3f));
  p = V::fmadd(p, r, V::set1(4.1665795894e-2f));
  p = V::fmadd(p, r, V::set1(1.6666665459e-1f));
  p = V::fmadd(p, r, V::set1(5.0000001201e-1f));
  p = V::fmadd(p, V::mul(r, r), V::add(r, V::set1(1.0f)));
  return V::mul(p, V::pow2n(n));
}

// 1 / d for d >= 1 (both uses below): the hardware reciprocal estimate (2^-14 relative on
// AVX-512, 1.5 * 2^-12 on AVX2) and one Newton step, r' = r + r (1 - d r), which squares the
// estimate's error (<= 2^-23 here, within ~1 ulp after rounding) at a fraction of a
// division's cost: a step's epilogue runs 5 of these per vector, and at small K (H = 40)
// divisions were a third of the step. d beyond 2^126 gives 0 (sigmoid < 1.2e-38 there).
inline V::reg vrecip(V::reg d) {
  const V::reg r = V::rcp(d);
  return V::fmadd(r, V::fnmadd(d, r, V::set1(1.0f)), r);
}

// 1 / (1 + e^-x), exactly 0 where float's e^-x overflows (x < -ln(FLT_MAX)), as PyTorch's
// float sigmoid: vexp's clamp would give a denormal there instead, and a forget gate of
// 4e-39 times an infinite cell state is Inf where PyTorch's 0 * Inf is NaN.
inline V::reg vsigmoid(V::reg x) {
  const V::reg s = vrecip(V::add(V::set1(1.0f), vexp(V::sub(V::zero(), x))));
  return V::blend(V::lt(x, V::set1(-88.7228391f)), V::zero(), s);
}

// |x| < 0.55: x + x^3 P(x^2), tanh's Taylor series to x^17 (truncation < 5e-8 relative
// there); above: 1 - 2 / (e^{2|x|} + 1), whose result is >= 0.5, so the subtraction loses
// nothing; |x| clamped to 10, where 1 - 2 / (e^20 + 1) rounds to 1.
inline V::reg vtanh(V::reg x) {
  const V::reg a = V::abs(x);
  const V::reg x2 = V::mul(x, x);
  V::reg p = V::set1(5.90027440945586e-04f);
  p = V::fmadd(p, x2, V::set1(-1.4558343870513183e-03f));
  p = V::fmadd(p, x2, V::set1(3.592128036572481e-03f));
  p = V::fmadd(p, x2, V::set1(-8.863235529902197e-03f));
  p = V::fmadd(p, x2, V::set1(2.1869488536155203e-02f));
  p = V::fmadd(p, x2, V::set1(-5.396825396825397e-02f));
  p = V::fmadd(p, x2, V::set1(1.3333333333333333e-01f));
  p = V::fmadd(p, x2, V::set1(-3.333333333333333e-01f));
  const V::reg small = V::fmadd(V::mul(x, x2), p, x);
  const V::reg one = V::set1(1.0f);
  const V::reg e = vexp(V::add(V::min(V::set1(10.0f), a), V::min(V::set1(10.0f), a)));
  const V::reg large =
      V::copysign(V::fnmadd(V::set1(2.0f), vrecip(V::add(e, one)), one), x);
  return V::blend(V::lt(a, V::set1(0.55f)), small, large);
}

template <bool kTanh>
inline void map_array(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i += V::W) {
    const int64_t m = n - i < V::W ? n - i : V::W;
    const V::reg v = V::loadm(x + i, m);
    V::storem(y + i, kTanh ? vtanh(v) : vsigmoid(v), m);
  }
}

// ---- GEMM tiles ----------------------------------------------------------------------
// acc[r][g] += sum_k a[r][k] * panel[k][g][:], k in [0, k_len).
template <int M>
inline void accumulate(V::reg (&acc)[M][4], const float* const* a, const float* panel,
                       int64_t k_len) {
  for (int64_t k = 0; k < k_len; ++k) {
    const float* w = panel + k * 4 * V::W;
    if constexpr (V::kHoistW) {
      const V::reg w0 = V::load(w), w1 = V::load(w + V::W);
      const V::reg w2 = V::load(w + 2 * V::W), w3 = V::load(w + 3 * V::W);
      for (int r = 0; r < M; ++r) {
        const V::reg b = V::bcast(a[r] + k);
        acc[r][0] = V::fmadd(b, w0, acc[r][0]);
        acc[r][1] = V::fmadd(b, w1, acc[r][1]);
        acc[r][2] = V::fmadd(b, w2, acc[r][2]);
        acc[r][3] = V::fmadd(b, w3, acc[r][3]);
      }
    } else {
      for (int r = 0; r < M; ++r) {
        const V::reg b = V::bcast(a[r] + k);
        for (int g = 0; g < 4; ++g) acc[r][g] = V::fmadd(b, V::load(w + g * V::W), acc[r][g]);
      }
    }
  }
}

// The matrix-vector case: four k phases, summed at the end.
inline void accumulate_gemv(V::reg (&acc)[1][4], const float* a, const float* panel,
                            int64_t k_len) {
  V::reg s[4][4];
  for (int g = 0; g < 4; ++g) {
    s[0][g] = acc[0][g];
    s[1][g] = s[2][g] = s[3][g] = V::zero();
  }
  int64_t k = 0;
  for (; k + 4 <= k_len; k += 4) {
    const float* w = panel + k * 4 * V::W;
    for (int q = 0; q < 4; ++q) {
      const V::reg b = V::bcast(a + k + q);
      for (int g = 0; g < 4; ++g) {
        s[q][g] = V::fmadd(b, V::load(w + (q * 4 + g) * V::W), s[q][g]);
      }
    }
  }
  for (; k < k_len; ++k) {
    const float* w = panel + k * 4 * V::W;
    const V::reg b = V::bcast(a + k);
    for (int g = 0; g < 4; ++g) s[0][g] = V::fmadd(b, V::load(w + g * V::W), s[0][g]);
  }
  for (int g = 0; g < 4; ++g) {
    acc[0][g] = V::add(V::add(s[0][g], s[1][g]), V::add(s[2][g], s[3][g]));
  }
}

template <int M>
inline void accumulate_any(V::reg (&acc)[M][4], const float* const* a, const float* panel,
                           int64_t k_len) {
  if constexpr (M == 1) {
    accumulate_gemv(acc, a[0], panel, k_len);
  } else {
    accumulate<M>(acc, a, panel, k_len);
  }
}

// Initial accumulators: a row of precomputed gates, the bias, or zero.
template <int M>
inline void init_acc(V::reg (&acc)[M][4], const float* const* rows, const float* bias,
                     int64_t H, int64_t j0, int64_t n) {
  for (int r = 0; r < M; ++r) {
    const float* src = rows != nullptr ? rows[r] : bias;
    for (int g = 0; g < 4; ++g) {
      acc[r][g] = src != nullptr ? V::loadm(src + g * H + j0, n) : V::zero();
    }
  }
}

// The fused epilogue of one row: gates -> activations -> cell update, from registers.
inline void cell_epilogue_row(const LstmCellParams& p, int64_t row, int64_t j0, int64_t n,
                              V::reg gi, V::reg gf, V::reg gg, V::reg go) {
  const V::reg i = vsigmoid(gi), f = vsigmoid(gf), g = vtanh(gg), o = vsigmoid(go);
  if (p.gates_out != nullptr) {
    // After the reads of this row's pre-activations (init_acc, or the chunked epilogue's
    // loads): gates_out may be the sequence's gates_x buffer itself.
    float* a = p.gates_out + row * p.ld_gates_out + j0;
    const int64_t H = p.hidden_size;
    V::storem(a, i, n);
    V::storem(a + H, f, n);
    V::storem(a + 2 * H, g, n);
    V::storem(a + 3 * H, o, n);
  }
  const V::reg c_prev = V::loadm(p.c + row * p.ldc + j0, n);
  const V::reg c = V::fmadd(f, c_prev, V::mul(i, g));
  V::storem(p.c_out + row * p.ld_c_out + j0, c, n);
  V::storem(p.h_out + row * p.ld_h_out + j0, V::mul(o, vtanh(c)), n);
}

// One tile of a cell step: rows [r0, r0 + M) x hidden units [j0, j0 + n) of panel `panel`.
template <int M>
inline void cell_tile(const LstmCellParams& p, int64_t panel, int64_t r0) {
  const int64_t H = p.hidden_size;
  const int64_t j0 = panel * V::W;
  const int64_t n = H - j0 < V::W ? H - j0 : V::W;
  V::reg acc[M][4];
  const float* a[M];
  if (p.gates_x != nullptr) {
    for (int r = 0; r < M; ++r) a[r] = p.gates_x + (r0 + r) * p.ld_gates_x;
    init_acc<M>(acc, a, nullptr, H, j0, n);
  } else {
    init_acc<M>(acc, nullptr, p.bias, H, j0, n);
    if (p.input_size > 0) {
      for (int r = 0; r < M; ++r) a[r] = p.x + (r0 + r) * p.ldx;
      accumulate_any<M>(acc, a, p.packed_ih.data + panel * p.input_size * 4 * V::W,
                        p.input_size);
    }
  }
  for (int r = 0; r < M; ++r) a[r] = p.h + (r0 + r) * p.ldh;
  accumulate_any<M>(acc, a, p.packed_hh.data + panel * H * 4 * V::W, H);
  for (int r = 0; r < M; ++r) {
    cell_epilogue_row(p, r0 + r, j0, n, acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
  }
}

// One tile of the input GEMM: the raw pre-activations (+ bias) to gates_x.
template <int M>
inline void input_gemm_tile(const LstmInputGemmParams& p, int64_t panel, int64_t r0) {
  const int64_t H = p.hidden_size;
  const int64_t j0 = panel * V::W;
  const int64_t n = H - j0 < V::W ? H - j0 : V::W;
  V::reg acc[M][4];
  init_acc<M>(acc, nullptr, p.bias, H, j0, n);
  const float* a[M];
  for (int r = 0; r < M; ++r) {
    const int64_t row = r0 + r;
    a[r] = p.x + (row / p.batch) * p.x_stride_t + (row % p.batch) * p.x_stride_b;
  }
  accumulate_any<M>(acc, a, p.packed_ih.data + panel * p.input_size * 4 * V::W, p.input_size);
  for (int r = 0; r < M; ++r) {
    float* out = p.gates_x + (r0 + r) * 4 * H + j0;
    for (int g = 0; g < 4; ++g) V::storem(out + g * H, acc[r][g], n);
  }
}

// ---- K blocking ---------------------------------------------------------------------
// Past direct_max_k, a work item's K runs in chunks of chunk_k (lstm_k_blocking in lstm.h):
// with the weights hoisted into registers (AVX-512), a third of the L2, at most 512 -- the
// panel chunk (128 KiB at 512) and the activation chunk of the item's rows (<=
// kMaxGroupRows) stay in L2 while every row tile passes over them; with the weights read
// as FMA memory operands (AVX2), half the L1d (lstm_k_blocking_l1), which every row tile
// then reads the chunk from. The accumulators go through a per-item buffer between chunks (one
// store and load per chunk); gates_x / bias are added in the epilogue.
inline constexpr int64_t kMaxGroupRows = lstm_max_group_rows(V::MR);

inline LstmKBlocking k_blocking() {
  LstmKBlocking b = V::kHoistW ? lstm_k_blocking(cpu_caches(), V::W, kMaxGroupRows)
                                : lstm_k_blocking_l1(cpu_caches(), V::W);
#ifdef PYBENCH_LSTM_DIRECT_MAX_K  // a fixed threshold, for A/B measurements of the blocking
  b.direct_max_k = PYBENCH_LSTM_DIRECT_MAX_K;
#endif
  return b;
}

// buf[r][g][:] (+)= sum over k in [k0, k0 + kc) of rows(r0 + r)[k] * panel[k][g][:].
template <int M, typename Rows>
inline void chunk_tile(float* buf, bool first, const Rows& rows, int64_t r0, int64_t k0,
                       int64_t kc, const float* panel) {
  V::reg acc[M][4];
  for (int r = 0; r < M; ++r) {
    for (int g = 0; g < 4; ++g) {
      acc[r][g] = first ? V::zero() : V::load(buf + (r * 4 + g) * V::W);
    }
  }
  const float* a[M];
  for (int r = 0; r < M; ++r) a[r] = rows(r0 + r) + k0;
  accumulate_any<M>(acc, a, panel + k0 * 4 * V::W, kc);
  for (int r = 0; r < M; ++r) {
    for (int g = 0; g < 4; ++g) V::storem(buf + (r * 4 + g) * V::W, acc[r][g], V::W);
  }
}

// Adds one operand's product over rows [r0, r1) of a panel into buf, chunk by chunk.
template <typename Rows>
inline void chunked_segment(float* buf, bool& first, const Rows& rows, int64_t r0, int64_t r1,
                            const float* panel, int64_t k_len, int64_t chunk_k);

// Rows [r0, r1) of one panel, in tiles of MR rows and one tile of the remainder.
template <int M, typename Tile>
inline void tail_tile(int64_t rows, Tile&& tile, int64_t r) {
  if constexpr (M >= 1) {
    if (rows == M) {
      tile(std::integral_constant<int, M>{}, r);
    } else {
      tail_tile<M - 1>(rows, tile, r);
    }
  }
}

template <typename Tile>
inline void panel_rows(int64_t r0, int64_t r1, Tile&& tile) {
  int64_t r = r0;
  for (; r + V::MR <= r1; r += V::MR) tile(std::integral_constant<int, V::MR>{}, r);
  if (r < r1) tail_tile<V::MR - 1>(r1 - r, tile, r);
}

template <typename Rows>
inline void chunked_segment(float* buf, bool& first, const Rows& rows, int64_t r0, int64_t r1,
                            const float* panel, int64_t k_len, int64_t chunk_k) {
  for (int64_t k0 = 0; k0 < k_len; k0 += chunk_k) {
    const int64_t kc = k_len - k0 < chunk_k ? k_len - k0 : chunk_k;
    panel_rows(r0, r1, [&](auto m, int64_t r) {
      chunk_tile<decltype(m)::value>(buf + (r - r0) * 4 * V::W, first, rows, r, k0, kc, panel);
    });
    first = false;
  }
}

// The epilogues of a chunked item: the buffered sums plus gates_x / bias.
template <int M>
inline void cell_epilogue_tile(const LstmCellParams& p, int64_t panel, int64_t r0,
                               const float* buf) {
  const int64_t H = p.hidden_size, j0 = panel * V::W;
  const int64_t n = H - j0 < V::W ? H - j0 : V::W;
  for (int r = 0; r < M; ++r) {
    const int64_t row = r0 + r;
    const float* add = p.gates_x != nullptr ? p.gates_x + row * p.ld_gates_x : p.bias;
    V::reg g[4];
    for (int q = 0; q < 4; ++q) {
      g[q] = V::load(buf + (r * 4 + q) * V::W);
      if (add != nullptr) g[q] = V::add(g[q], V::loadm(add + q * H + j0, n));
    }
    cell_epilogue_row(p, row, j0, n, g[0], g[1], g[2], g[3]);
  }
}

template <int M>
inline void input_gemm_epilogue_tile(const LstmInputGemmParams& p, int64_t panel, int64_t r0,
                                     const float* buf) {
  const int64_t H = p.hidden_size, j0 = panel * V::W;
  const int64_t n = H - j0 < V::W ? H - j0 : V::W;
  for (int r = 0; r < M; ++r) {
    float* out = p.gates_x + (r0 + r) * 4 * H + j0;
    for (int q = 0; q < 4; ++q) {
      V::reg v = V::load(buf + (r * 4 + q) * V::W);
      if (p.bias != nullptr) v = V::add(v, V::loadm(p.bias + q * H + j0, n));
      V::storem(out + q * H, v, n);
    }
  }
}

// Runs tile(panel, row_begin, row_end) over every (panel, row group) work item.
template <typename F>
inline void for_each_panel_group(int64_t panels, int64_t rows, const CpuExecution& exec,
                                 F&& f) {
  if (panels <= 0 || rows <= 0) return;
  const int64_t max_threads = exec.max_threads;
  const int64_t target = 8 * (max_threads > 1 ? max_threads : 1);
  const int64_t row_tiles = ceil_div(rows, V::MR);
  int64_t groups = 1;
  if (panels < target && max_threads > 1) {
    groups = ceil_div(target, panels);
    if (groups > row_tiles) groups = row_tiles;
  }
  int64_t tiles_per_group = ceil_div(row_tiles, groups);
  if (tiles_per_group * V::MR > kMaxGroupRows) tiles_per_group = kMaxGroupRows / V::MR;
  const int64_t rows_per_group = tiles_per_group * V::MR;
  groups = ceil_div(rows, rows_per_group);
  run_parallel(exec, 0, panels * groups, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t panel = item / groups, group = item % groups;
      const int64_t r0 = group * rows_per_group;
      const int64_t r1 = r0 + rows_per_group < rows ? r0 + rows_per_group : rows;
      f(panel, r0, r1);
    }
  });
}

inline void cell_simd(const LstmCellParams& p) {
  if (p.batch <= 0 || p.hidden_size <= 0) return;
  const int64_t panels = ceil_div(p.hidden_size, V::W);
  const bool has_x = p.gates_x == nullptr && p.input_size > 0;
  const int64_t k_total = (has_x ? p.input_size : 0) + p.hidden_size;
  const LstmKBlocking kb = k_blocking();
  for_each_panel_group(panels, p.batch, p.exec,
                       [&](int64_t panel, int64_t r0, int64_t r1) {
    if (k_total <= kb.direct_max_k) {
      panel_rows(r0, r1, [&](auto m, int64_t r) { cell_tile<decltype(m)::value>(p, panel, r); });
      return;
    }
    alignas(64) float buf[kMaxGroupRows * 4 * V::W];
    bool first = true;
    if (has_x) {
      chunked_segment(buf, first, [&](int64_t row) { return p.x + row * p.ldx; }, r0, r1,
                      p.packed_ih.data + panel * p.input_size * 4 * V::W, p.input_size,
                      kb.chunk_k);
    }
    chunked_segment(buf, first, [&](int64_t row) { return p.h + row * p.ldh; }, r0, r1,
                    p.packed_hh.data + panel * p.hidden_size * 4 * V::W, p.hidden_size,
                    kb.chunk_k);
    panel_rows(r0, r1, [&](auto m, int64_t r) {
      cell_epilogue_tile<decltype(m)::value>(p, panel, r, buf + (r - r0) * 4 * V::W);
    });
  });
}

inline void input_gemm_simd(const LstmInputGemmParams& p) {
  const int64_t rows = p.seq_len * p.batch;
  if (rows <= 0 || p.hidden_size <= 0) return;
  const int64_t panels = ceil_div(p.hidden_size, V::W);
  const LstmKBlocking kb = k_blocking();
  for_each_panel_group(panels, rows, p.exec,
                       [&](int64_t panel, int64_t r0, int64_t r1) {
    if (p.input_size <= kb.direct_max_k) {
      panel_rows(r0, r1, [&](auto m, int64_t r) {
        input_gemm_tile<decltype(m)::value>(p, panel, r);
      });
      return;
    }
    alignas(64) float buf[kMaxGroupRows * 4 * V::W];
    bool first = true;
    chunked_segment(
        buf, first,
        [&](int64_t row) { return p.x + (row / p.batch) * p.x_stride_t + (row % p.batch) * p.x_stride_b; },
        r0, r1, p.packed_ih.data + panel * p.input_size * 4 * V::W, p.input_size, kb.chunk_k);
    panel_rows(r0, r1, [&](auto m, int64_t r) {
      input_gemm_epilogue_tile<decltype(m)::value>(p, panel, r, buf + (r - r0) * 4 * V::W);
    });
  });
}

// ---- backward through time -----------------------------------------------------------
// Tiles of the backward step: kBwdRows batch rows x one column panel of W_hh (V::W hidden
// units). One accumulator per row: per k a weight vector (shared by the rows) and a
// broadcast per row, so 8 rows give 8 independent FMA chains, enough to cover the FMA
// latency on both ISAs' two pipes, and 8 + 2 registers fit AVX2's 16. The product is
// small (H = 40: K = 160, 3 or 5 panels); the step is bound by its serial chain over T,
// not by FLOPs, so this tile is not tuned further.
inline constexpr int kBwdRows = 8;

template <int M>
inline void backward_tile(const LstmBackwardStepParams& p, int64_t panel, int64_t r0) {
  const int64_t H = p.hidden_size, G = 4 * H;
  const int64_t j0 = panel * V::W;
  const int64_t n = H - j0 < V::W ? H - j0 : V::W;
  V::reg acc[M];
  for (int r = 0; r < M; ++r) {
    acc[r] = p.grad_h != nullptr ? V::loadm(p.grad_h + (r0 + r) * p.ld_grad_h + j0, n)
                                 : V::zero();
  }
  if (p.dgates_next != nullptr) {
    const float* w = p.packed_hh_t.data + panel * G * V::W;
    const float* a = p.dgates_next + r0 * G;
    for (int64_t k = 0; k < G; ++k) {
      const V::reg wk = V::load(w + k * V::W);
      for (int r = 0; r < M; ++r) acc[r] = V::fmadd(V::bcast(a + r * G + k), wk, acc[r]);
    }
  }
  if (p.gates == nullptr) {
    for (int r = 0; r < M; ++r) V::storem(p.dh_out + (r0 + r) * H + j0, acc[r], n);
    return;
  }
  const V::reg one = V::set1(1.0f);
  for (int r = 0; r < M; ++r) {
    const int64_t row = r0 + r;
    const float* a = p.gates + row * G + j0;
    const V::reg i = V::loadm(a, n), f = V::loadm(a + H, n);
    const V::reg g = V::loadm(a + 2 * H, n), o = V::loadm(a + 3 * H, n);
    const V::reg tc = vtanh(V::loadm(p.c + row * H + j0, n));
    const V::reg dh = acc[r];
    // dc = dc_t + dh o (1 - tc^2)
    const V::reg dc = V::fmadd(V::mul(dh, o), V::fnmadd(tc, tc, one),
                               V::loadm(p.dc + row * H + j0, n));
    float* d = p.dgates + row * G + j0;
    V::storem(d, V::mul(V::mul(dc, g), V::mul(i, V::sub(one, i))), n);
    V::storem(d + H,
              V::mul(V::mul(dc, V::loadm(p.c_prev + row * H + j0, n)),
                     V::mul(f, V::sub(one, f))), n);
    V::storem(d + 2 * H, V::mul(V::mul(dc, i), V::fnmadd(g, g, one)), n);
    V::storem(d + 3 * H, V::mul(V::mul(dh, tc), V::mul(o, V::sub(one, o))), n);
    V::storem(p.dc + row * H + j0, V::mul(dc, f), n);
  }
}

template <int M>
inline void backward_rows(const LstmBackwardStepParams& p, int64_t panel, int64_t r0,
                          int64_t rows) {
  if constexpr (M >= 1) {
    if (rows == M) {
      backward_tile<M>(p, panel, r0);
    } else {
      backward_rows<M - 1>(p, panel, r0, rows);
    }
  }
}

// Work items are (row tile, panel) pairs; a step is ~1 MFLOP at the sentiment shape, so
// the split only has to keep both threads busy, and tiles of one row range share dG rows.
inline void backward_step_simd(const LstmBackwardStepParams& p) {
  if (p.batch <= 0 || p.hidden_size <= 0) return;
  const int64_t panels = ceil_div(p.hidden_size, V::W);
  const int64_t tiles = ceil_div(p.batch, int64_t{kBwdRows});
  run_parallel(p.exec, 0, tiles * panels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t r0 = (item / panels) * kBwdRows, panel = item % panels;
      const int64_t rows = p.batch - r0 < kBwdRows ? p.batch - r0 : kBwdRows;
      backward_rows<kBwdRows>(p, panel, r0, rows);
    }
  });
}
