// The SIMD LSTM variants against lstm_*_ref (double accumulation and activations, the
// oracle): one cell step with and without bias and with precomputed input gates, the input
// GEMM, and whole sequences in both layouts, on shapes with every tail (batch 1 and not a
// multiple of the row tile, H not a multiple of the 8 / 16 unit panel, odd I), serial and
// through a threaded parallel-for; and the accuracy of the vector sigmoid / tanh on dense
// sweeps (the documented bound: 1e-6 relative).
//
// Outputs start as NaN and carry NaN guard zones before and after them, so a missed store
// fails the error check and a stray store fails the guard check.
#include "lstm/lstm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <limits>
#include <tuple>
#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "common/cpu_isa.h"
#include "test_util.h"

namespace {

using pybench::kernels::LstmCellParams;
using pybench::kernels::LstmInputGemmParams;
using pybench::kernels::LstmPackedWeights;
using pybench::kernels::LstmSequenceParams;
using pybench::kernels::ParallelBody;
using pybench::kernels::ParallelFor;
using pybench::kernels::cpu::CpuIsa;
using pybench::kernels::cpu::cpu_isa_name;
using pybench::kernels::cpu::cpu_supports;
namespace kcpu = pybench::kernels::cpu;
namespace pt = pybench::testing;

constexpr double kCellAtol = 2e-6;  // float32 products vs double, |values| ~ 1
constexpr int64_t kGuard = 16;

using CellFn = void (*)(const LstmCellParams&);
using GemmFn = void (*)(const LstmInputGemmParams&);

CellFn cell_for(CpuIsa isa) {
  return isa == CpuIsa::avx512 ? kcpu::lstm_cell_avx512
         : isa == CpuIsa::avx2 ? kcpu::lstm_cell_avx2
                               : kcpu::lstm_cell_ref;
}
GemmFn gemm_for(CpuIsa isa) {
  return isa == CpuIsa::avx512 ? kcpu::lstm_input_gemm_avx512
         : isa == CpuIsa::avx2 ? kcpu::lstm_input_gemm_avx2
                               : kcpu::lstm_input_gemm_ref;
}

// A buffer of n floats with NaN guard zones; data() is past the leading guard.
struct Guarded {
  std::vector<float> v;
  explicit Guarded(int64_t n) : v(static_cast<size_t>(n + 2 * kGuard), pt::kNaN) {}
  float* data() { return v.data() + kGuard; }
  bool guards_intact() const {
    for (int64_t i = 0; i < kGuard; ++i) {
      if (!std::isnan(v[i]) || !std::isnan(v[v.size() - 1 - i])) return false;
    }
    return true;
  }
};

std::vector<float> randn(int64_t n, uint64_t seed, float scale = 1.0f) {
  std::vector<float> v(static_cast<size_t>(n));
  pt::fill_normal(v.data(), v.size(), seed);
  for (float& x : v) x *= scale;
  return v;
}

struct Packed {
  std::vector<float> data;
  LstmPackedWeights view;
  Packed(const std::vector<float>& w, int64_t hidden, int64_t k, CpuIsa isa) {
    const int64_t block = kcpu::lstm_pack_block(isa);
    data.assign(static_cast<size_t>(kcpu::lstm_packed_floats(hidden, k, block)), pt::kNaN);
    kcpu::lstm_pack_weights(w.data(), k, hidden, k, block, data.data());
    view = {data.data(), k, hidden, block};
  }
};

struct CellCase {
  int64_t batch, input, hidden;
  bool bias;
  bool gates_x;  // precomputed input gates instead of x
  int threads;
};

void PrintTo(const CellCase& c, std::ostream* os) {
  *os << "{B " << c.batch << ", I " << c.input << ", H " << c.hidden << (c.bias ? ", bias" : "")
      << (c.gates_x ? ", gates_x" : "") << ", threads " << c.threads << "}";
}

double max_abs_diff(const float* a, const float* b, int64_t n) {
  double m = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (!(d <= m)) m = d;  // NaN sticks
  }
  return m;
}

class LstmCellTest : public ::testing::TestWithParam<std::tuple<CpuIsa, CellCase>> {};

TEST_P(LstmCellTest, MatchesReference) {
  const auto [isa, c] = GetParam();
  if (!cpu_supports(isa)) GTEST_SKIP() << "CPU lacks " << cpu_isa_name(isa);
  const int64_t B = c.batch, I = c.input, H = c.hidden;
  const uint64_t seed = static_cast<uint64_t>(B * 1000003 + I * 1009 + H);
  // x and h with a row padding the kernel must skip (NaN).
  const int64_t ldx = I + 3, ldh = H + 5;
  std::vector<float> x(static_cast<size_t>(B * ldx), pt::kNaN), h(static_cast<size_t>(B * ldh), pt::kNaN);
  const auto xv = randn(B * I, seed), hv = randn(B * H, seed + 1);
  for (int64_t b = 0; b < B; ++b) {
    std::copy_n(xv.begin() + b * I, I, x.begin() + b * ldx);
    std::copy_n(hv.begin() + b * H, H, h.begin() + b * ldh);
  }
  const auto cv = randn(B * H, seed + 2, 2.0f);
  // Pre-activations of O(1) whatever I + H, so one absolute tolerance fits every shape.
  const float k = 1.0f / std::sqrt(static_cast<float>(I + H));
  const auto w_ih = randn(4 * H * I, seed + 3, k), w_hh = randn(4 * H * H, seed + 4, k);
  const auto bias = randn(4 * H, seed + 5, k);
  const auto gx = randn(B * 4 * H, seed + 6);
  Packed p_ih(w_ih, H, I, isa), p_hh(w_hh, H, H, isa);

  auto run = [&](CellFn fn, Guarded& ho, Guarded& co, int threads) {
    LstmCellParams p;
    p.batch = B;
    p.input_size = I;
    p.hidden_size = H;
    p.x = x.data();
    p.ldx = ldx;
    p.h = h.data();
    p.ldh = ldh;
    p.c = cv.data();
    p.ldc = H;
    p.w_ih = w_ih.data();
    p.w_hh = w_hh.data();
    p.packed_ih = p_ih.view;
    p.packed_hh = p_hh.view;
    p.bias = c.bias ? bias.data() : nullptr;
    if (c.gates_x) {
      p.gates_x = gx.data();
      p.ld_gates_x = 4 * H;
    }
    p.h_out = ho.data();
    p.ld_h_out = H;
    p.c_out = co.data();
    p.ld_c_out = H;
    if (threads > 1) p.exec.parallel_for = pt::std_thread_for(threads);
    p.exec.max_threads = threads;
    fn(p);
  };
  Guarded h_ref(B * H), c_ref(B * H), h_out(B * H), c_out(B * H);
  run(kcpu::lstm_cell_ref, h_ref, c_ref, 1);
  run(cell_for(isa), h_out, c_out, c.threads);
  EXPECT_LE(max_abs_diff(h_out.data(), h_ref.data(), B * H), kCellAtol);
  EXPECT_LE(max_abs_diff(c_out.data(), c_ref.data(), B * H), kCellAtol);
  EXPECT_TRUE(h_out.guards_intact() && c_out.guards_intact()) << "store outside the outputs";
}

std::vector<CellCase> cell_cases() {
  std::vector<CellCase> v;
  for (auto [b, i, h] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {1, 1, 1}, {1, 7, 5}, {1, 300, 40}, {1, 64, 256}, {2, 16, 16}, {3, 17, 129},
           {6, 33, 8}, {7, 12, 24}, {13, 5, 33}, {16, 100, 95}, {19, 31, 47},
           // K past direct_max_k (AVX-512: 640 with an L2 of 1 MiB or more; AVX2: 160-240,
           // by the L1d; lstm_k_blocking): the
           // K-blocked path; batch > 96: several row groups
           {7, 300, 400}, {1, 650, 33}, {13, 1100, 20}, {200, 5, 9}}) {
    v.push_back({b, i, h, true, false, 1});
    v.push_back({b, i, h, false, false, 1});
    v.push_back({b, i, h, false, true, 1});
    v.push_back({b, i, h, true, false, 3});
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(
    AllVariants, LstmCellTest,
    ::testing::Combine(::testing::Values(CpuIsa::scalar, CpuIsa::avx2, CpuIsa::avx512),
                       ::testing::ValuesIn(cell_cases())),
    [](const auto& info) {
      const CellCase& c = std::get<1>(info.param);
      return std::string(cpu_isa_name(std::get<0>(info.param))) + "_b" + std::to_string(c.batch) +
             "_i" + std::to_string(c.input) + "_h" + std::to_string(c.hidden) +
             (c.bias ? "_bias" : "") + (c.gates_x ? "_gx" : "") + "_t" + std::to_string(c.threads);
    });

// A sequence's operands (nn.LSTM's init scale), its packs for an ISA, and the kernel's
// params over them writing `out`, `hn`, `cn`, (T, B) or (B, T) rows.
struct SequenceOperands {
  int64_t T, B, I, H;
  std::vector<float> x, h0, c0, w_ih, w_hh, bias;
  Packed p_ih, p_hh;
  SequenceOperands(int64_t T_, int64_t B_, int64_t I_, int64_t H_, uint64_t seed, CpuIsa isa)
      : T(T_), B(B_), I(I_), H(H_), x(randn(T * B * I, seed)), h0(randn(B * H, seed + 1)),
        c0(randn(B * H, seed + 2)),
        w_ih(randn(4 * H * I, seed + 3, 1.0f / std::sqrt(static_cast<float>(H)))),
        w_hh(randn(4 * H * H, seed + 4, 1.0f / std::sqrt(static_cast<float>(H)))),
        bias(randn(4 * H, seed + 5, 1.0f / std::sqrt(static_cast<float>(H)))),
        p_ih(w_ih, H, I, isa), p_hh(w_hh, H, H, isa) {}

  LstmSequenceParams params(bool batch_first, Guarded& out, Guarded& hn, Guarded& cn) const {
    LstmSequenceParams p;
    p.seq_len = T;
    p.batch = B;
    p.input_size = I;
    p.hidden_size = H;
    p.x = x.data();
    p.x_stride_t = batch_first ? I : B * I;
    p.x_stride_b = batch_first ? T * I : I;
    p.h0 = h0.data();
    p.c0 = c0.data();
    p.w_ih = w_ih.data();
    p.w_hh = w_hh.data();
    p.packed_ih = p_ih.view;
    p.packed_hh = p_hh.view;
    p.bias = bias.data();
    p.output = out.data();
    p.out_stride_t = batch_first ? H : B * H;
    p.out_stride_b = batch_first ? T * H : H;
    p.h_n = hn.data();
    p.c_n = cn.data();
    p.exec = {pt::std_thread_for(2), 2};
    return p;
  }
};

class LstmSequenceTest : public ::testing::TestWithParam<CpuIsa> {};

// Whole sequences through lstm_sequence_isa (input GEMM + steps) in (T, B) and (B, T)
// layouts against the reference path, and the input GEMM alone.
TEST_P(LstmSequenceTest, MatchesReference) {
  const CpuIsa isa = GetParam();
  if (!cpu_supports(isa)) GTEST_SKIP() << "CPU lacks " << cpu_isa_name(isa);
  for (auto [T, B, I, H] : std::vector<std::array<int64_t, 4>>{
           {1, 1, 3, 5}, {70, 1, 7, 9}, {30, 4, 30, 40}, {9, 16, 33, 17}, {5, 3, 1, 129},
           {3, 5, 700, 24}, {4, 2, 10, 700}}) {
    for (bool batch_first : {false, true}) {
      SCOPED_TRACE("T " + std::to_string(T) + " B " + std::to_string(B) + " I " +
                   std::to_string(I) + " H " + std::to_string(H) +
                   (batch_first ? " batch_first" : ""));
      const SequenceOperands ops(T, B, I, H, static_cast<uint64_t>(T * 7 + B * 11 + I * 13 + H),
                                 isa);
      auto run = [&](CpuIsa variant, Guarded& out, Guarded& hn, Guarded& cn) {
        std::vector<float> scratch(static_cast<size_t>(pybench::kernels::lstm_sequence_scratch_floats(T, B, H)));
        LstmSequenceParams p = ops.params(batch_first, out, hn, cn);
        p.gates_scratch = scratch.data();
        kcpu::lstm_sequence_isa(p, variant);
      };
      Guarded o_ref(T * B * H), h_ref(B * H), c_ref(B * H), o(T * B * H), hn(B * H), cn(B * H);
      run(CpuIsa::scalar, o_ref, h_ref, c_ref);
      run(isa, o, hn, cn);
      // Errors of a step feed the next; 70 steps stay well inside the 1e-4.
      EXPECT_LE(max_abs_diff(o.data(), o_ref.data(), T * B * H), 2e-5);
      EXPECT_LE(max_abs_diff(hn.data(), h_ref.data(), B * H), 2e-5);
      EXPECT_LE(max_abs_diff(cn.data(), c_ref.data(), B * H), 2e-5);
      EXPECT_TRUE(o.guards_intact() && hn.guards_intact() && cn.guards_intact());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllVariants, LstmSequenceTest,
                         ::testing::Values(CpuIsa::scalar, CpuIsa::avx2, CpuIsa::avx512),
                         [](const auto& info) { return std::string(cpu_isa_name(info.param)); });

// ---- activations ----------------------------------------------------------------------
using ActFn = void (*)(const float*, float*, int64_t);

// Max relative error over x in [lo, hi] (n points, plus +-tiny values), vs double.
double max_rel_error(ActFn fn, bool tanh, double lo, double hi, int64_t n) {
  std::vector<float> x;
  for (int64_t i = 0; i < n; ++i) x.push_back(static_cast<float>(lo + (hi - lo) * i / (n - 1)));
  for (float t = 1e-30f; t < 1.0f; t *= 1.37f) {
    x.push_back(t);
    x.push_back(-t);
  }
  std::vector<float> y(x.size());
  fn(x.data(), y.data(), static_cast<int64_t>(x.size()));
  double worst = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = tanh ? std::tanh(static_cast<double>(x[i]))
                             : 1.0 / (1.0 + std::exp(-static_cast<double>(x[i])));
    if (std::fabs(want) < 1.1754943508222875e-38) continue;  // below FLT_MIN: see lstm.h
    const double rel = std::fabs(y[i] - want) / std::fabs(want);
    if (!(rel <= worst)) worst = rel;
  }
  return worst;
}

TEST(LstmActivations, SigmoidAndTanhWithin1e6Relative) {
  struct Variant {
    CpuIsa isa;
    ActFn sigmoid, tanh;
  };
  for (const Variant& v : {Variant{CpuIsa::avx2, kcpu::lstm_sigmoid_avx2, kcpu::lstm_tanh_avx2},
                           Variant{CpuIsa::avx512, kcpu::lstm_sigmoid_avx512, kcpu::lstm_tanh_avx512}}) {
    if (!cpu_supports(v.isa)) continue;
    SCOPED_TRACE(cpu_isa_name(v.isa));
    // 4M points on the range where the gates live, and the far tails.
    const double s = max_rel_error(v.sigmoid, false, -87.0, 90.0, 4000001);
    const double t = max_rel_error(v.tanh, true, -12.0, 12.0, 4000001);
    const double t_small = max_rel_error(v.tanh, true, -0.6, 0.6, 1000001);
    EXPECT_LE(s, 1e-6);
    EXPECT_LE(t, 1e-6);
    EXPECT_LE(t_small, 1e-6);
    std::printf("[%s] max relative error: sigmoid %.3g, tanh %.3g (|x| < 0.6: %.3g)\n",
                cpu_isa_name(v.isa), s, t, t_small);
  }
}

TEST(LstmActivations, SaturateAndPropagateNaN) {
  for (auto [isa, sig, th] :
       {std::tuple<CpuIsa, ActFn, ActFn>{CpuIsa::avx2, kcpu::lstm_sigmoid_avx2, kcpu::lstm_tanh_avx2},
        std::tuple<CpuIsa, ActFn, ActFn>{CpuIsa::avx512, kcpu::lstm_sigmoid_avx512,
                                         kcpu::lstm_tanh_avx512}}) {
    if (!cpu_supports(isa)) continue;
    const float inf = std::numeric_limits<float>::infinity();
    const std::vector<float> x = {-inf, -1e30f, -200.0f, 200.0f, 1e30f, inf, pt::kNaN};
    std::vector<float> s(x.size()), t(x.size());
    sig(x.data(), s.data(), static_cast<int64_t>(x.size()));
    th(x.data(), t.data(), static_cast<int64_t>(x.size()));
    for (int i = 0; i < 3; ++i) {
      EXPECT_GE(s[i], 0.0f);
      EXPECT_LE(s[i], 1.2e-38f);
      EXPECT_NEAR(t[i], -1.0f, 1e-6);
      EXPECT_GE(t[i], -1.0f);
    }
    for (int i = 3; i < 6; ++i) {
      EXPECT_NEAR(s[i], 1.0f, 1e-6);
      EXPECT_LE(s[i], 1.0f);
      EXPECT_NEAR(t[i], 1.0f, 1e-6);
      EXPECT_LE(t[i], 1.0f);
    }
    EXPECT_TRUE(std::isnan(s[6]) && std::isnan(t[6]));
  }
}

}  // namespace

// ---- training: the forward's kept gates and cells, and the backward step ---------------

namespace {

using pybench::kernels::LstmBackwardStepParams;
using BackwardFn = void (*)(const LstmBackwardStepParams&);

BackwardFn backward_for(CpuIsa isa) {
  return isa == CpuIsa::avx512 ? kcpu::lstm_backward_step_avx512
         : isa == CpuIsa::avx2 ? kcpu::lstm_backward_step_avx2
                               : kcpu::lstm_backward_step_ref;
}

class LstmBackwardTest : public ::testing::TestWithParam<CpuIsa> {};

// One backward step (with and without the next step's dG, with and without an outside
// gradient, then the dh-only form) against the reference, serial and on 2 threads, on
// batches of 1 and past the 8-row tile, H below, at and past both vector widths.
TEST_P(LstmBackwardTest, StepMatchesReference) {
  const CpuIsa isa = GetParam();
  if (!cpu_supports(isa)) GTEST_SKIP() << "CPU lacks " << cpu_isa_name(isa);
  for (auto [B, H] : std::vector<std::array<int64_t, 2>>{
           {1, 1}, {1, 16}, {3, 17}, {9, 40}, {13, 8}, {8, 33}, {20, 129}}) {
    for (int variant = 0; variant < 4; ++variant) {
      const bool has_next = variant & 1, has_grad = variant & 2;
      for (int threads : {1, 2}) {
        SCOPED_TRACE("B " + std::to_string(B) + " H " + std::to_string(H) + " next " +
                     std::to_string(has_next) + " grad " + std::to_string(has_grad) +
                     " threads " + std::to_string(threads));
        const uint64_t seed = static_cast<uint64_t>(B * 31 + H * 7 + variant);
        const int64_t G = 4 * H;
        auto gates = randn(B * G, seed);
        for (int64_t b = 0; b < B; ++b) {  // activations: sigmoid for i, f, o; tanh for g
          for (int64_t k = 0; k < G; ++k) {
            float& a = gates[static_cast<size_t>(b * G + k)];
            a = (k / H == 2) ? std::tanh(a) : 1.0f / (1.0f + std::exp(-a));
          }
        }
        const auto c = randn(B * H, seed + 1), c_prev = randn(B * H, seed + 2);
        const auto dc0 = randn(B * H, seed + 3), grad = randn(B * H, seed + 4);
        const auto next = randn(B * G, seed + 5);
        const auto w_hh = randn(G * H, seed + 6, 1.0f / std::sqrt(static_cast<float>(H)));
        std::vector<float> packed;
        LstmBackwardStepParams p;
        p.batch = B;
        p.hidden_size = H;
        p.w_hh = w_hh.data();
        const int64_t block = kcpu::lstm_pack_block(isa);
        packed.assign(static_cast<size_t>(pybench::kernels::lstm_hh_columns_floats(H, block)),
                      pt::kNaN);
        kcpu::lstm_pack_hh_columns(w_hh.data(), H, block, packed.data());
        p.packed_hh_t = {packed.data(), G, H, block};
        p.dgates_next = has_next ? next.data() : nullptr;
        p.grad_h = has_grad ? grad.data() : nullptr;
        p.ld_grad_h = H;
        p.gates = gates.data();
        p.c = c.data();
        p.c_prev = c_prev.data();
        p.exec = {pt::std_thread_for(threads), threads};
        auto run = [&](BackwardFn fn, Guarded& dg, Guarded& dc, Guarded& dh) {
          std::copy(dc0.begin(), dc0.end(), dc.data());
          LstmBackwardStepParams q = p;
          q.dc = dc.data();
          q.dgates = dg.data();
          fn(q);
          q.gates = nullptr;  // the dh-only form: d(h_0)
          q.dgates_next = next.data();
          q.dh_out = dh.data();
          fn(q);
        };
        Guarded dg_ref(B * G), dc_ref(B * H), dh_ref(B * H), dg(B * G), dc(B * H), dh(B * H);
        run(kcpu::lstm_backward_step_ref, dg_ref, dc_ref, dh_ref);
        run(backward_for(isa), dg, dc, dh);
        // float32 products over K = 4H <= 516 against double, |values| ~ 1 to 10.
        const double tol = 4e-6 * std::sqrt(static_cast<double>(G));
        EXPECT_LE(max_abs_diff(dg.data(), dg_ref.data(), B * G), tol);
        EXPECT_LE(max_abs_diff(dc.data(), dc_ref.data(), B * H), tol);
        EXPECT_LE(max_abs_diff(dh.data(), dh_ref.data(), B * H), tol);
        EXPECT_TRUE(dg.guards_intact() && dc.guards_intact() && dh.guards_intact());
      }
    }
  }
}

// The training forward: the same outputs as inference, plus every step's activated gates
// and cell state, against the reference's.
TEST_P(LstmBackwardTest, TrainingForwardKeepsGatesAndCells) {
  const CpuIsa isa = GetParam();
  if (!cpu_supports(isa)) GTEST_SKIP() << "CPU lacks " << cpu_isa_name(isa);
  for (auto [T, B, I, H] : std::vector<std::array<int64_t, 4>>{
           {1, 1, 3, 5}, {9, 7, 30, 40}, {4, 13, 5, 17}, {3, 2, 700, 24}}) {
    SCOPED_TRACE("T " + std::to_string(T) + " B " + std::to_string(B) + " I " +
                 std::to_string(I) + " H " + std::to_string(H));
    const SequenceOperands ops(T, B, I, H, static_cast<uint64_t>(T * 5 + B * 3 + I + H * 11), isa);
    auto run = [&](CpuIsa variant, Guarded& out, Guarded& gates, Guarded& cells, Guarded& hn,
                   Guarded& cn) {
      LstmSequenceParams p = ops.params(false, out, hn, cn);
      p.gates_scratch = gates.data();  // the op's arrangement: one buffer for both
      p.gates_out = gates.data();
      p.cells = cells.data();
      kcpu::lstm_sequence_isa(p, variant);
    };
    Guarded o_ref(T * B * H), g_ref(T * B * 4 * H), c_ref(T * B * H), hn_ref(B * H), cn_ref(B * H);
    Guarded o(T * B * H), g(T * B * 4 * H), cl(T * B * H), hn(B * H), cn(B * H);
    run(CpuIsa::scalar, o_ref, g_ref, c_ref, hn_ref, cn_ref);
    run(isa, o, g, cl, hn, cn);
    EXPECT_LE(max_abs_diff(o.data(), o_ref.data(), T * B * H), 2e-5);
    EXPECT_LE(max_abs_diff(g.data(), g_ref.data(), T * B * 4 * H), 2e-5);
    EXPECT_LE(max_abs_diff(cl.data(), c_ref.data(), T * B * H), 2e-5);
    EXPECT_LE(max_abs_diff(cn.data(), cl.data() + (T - 1) * B * H, B * H), 0.0);
    EXPECT_TRUE(o.guards_intact() && g.guards_intact() && cl.guards_intact() &&
                hn.guards_intact() && cn.guards_intact());
  }
}

INSTANTIATE_TEST_SUITE_P(AllVariants, LstmBackwardTest,
                         ::testing::Values(CpuIsa::scalar, CpuIsa::avx2, CpuIsa::avx512),
                         [](const auto& info) { return std::string(cpu_isa_name(info.param)); });

}  // namespace
