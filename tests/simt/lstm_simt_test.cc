// The CUDA LSTM kernel (csrc/kernels/lstm/lstm_cuda.cuh) under the SIMT emulator, against
// a float64 reference, under every scheduling seed:
// - one step, with the bias, without it, and with precomputed input gates (a sequence
//   step), on random shapes with tails (batch not a multiple of the 16-row tile, H not a
//   multiple of the 32-unit tile, I and H not multiples of the 16-deep K chunk), padded
//   row strides, and c_out == c (in place, as the sequence does);
// - whole sequences through launch_lstm_steps' loop (lstm_cuda.cu), step for step, with
//   the input product precomputed in double as the adapter's addmm would;
// - training: a step's kept activated gates (over its gates_x rows, as the sequence does),
//   and the backward step kernel (dh = grad + dG_next W_hh and the gate derivatives; with
//   and without dG_next and the outside gradient; the dh-only form), on the same tails.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "simt/simt.h"
#include "simt_test_util.h"

#include "lstm/lstm_cuda.cuh"

namespace pybench::kernels::cuda {
namespace {

namespace simt = pybench::simt;

double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

enum class Mode { bias, no_bias, gates_x };

struct CellShape {
  int64_t batch, input, hidden;
  Mode mode;
};

std::string describe(const CellShape& s) {
  const char* m = s.mode == Mode::bias ? "bias" : s.mode == Mode::no_bias ? "no bias" : "gates_x";
  return "B " + std::to_string(s.batch) + " I " + std::to_string(s.input) + " H " +
         std::to_string(s.hidden) + " " + m;
}

void emulate_cell(const LstmCudaArgs& a, uint64_t seed) {
  const LstmLaunchGeometry g = lstm_launch_geometry(a.batch, a.hidden);
  if (g.empty()) return;
  simt::launch(simt::test::config_for(seed), dim3(g.grid_x, g.grid_y), dim3(g.threads_x, g.threads_y),
               0, lstm_cell_kernel, a);
}

void check_cell(const CellShape& s, uint64_t seed) {
  SCOPED_TRACE(describe(s) + ", seed " + std::to_string(seed));
  const int64_t B = s.batch, I = s.input, H = s.hidden;
  const int64_t ldx = I + 2, ldh = H + 3, ldg = 4 * H + 1;
  const uint64_t data_seed = static_cast<uint64_t>(B * 131 + I * 17 + H);
  const float k = 1.0f / std::sqrt(static_cast<float>(H));
  const auto x = simt::test::random_vector(B * ldx, data_seed);
  const auto h = simt::test::random_vector(B * ldh, data_seed + 1);
  const auto c = simt::test::random_vector(B * H, data_seed + 2, -2.0f, 2.0f);
  const auto w_ih = simt::test::random_vector(4 * H * I, data_seed + 3, -k, k);
  const auto w_hh = simt::test::random_vector(4 * H * H, data_seed + 4, -k, k);
  const auto bias = simt::test::random_vector(4 * H, data_seed + 5, -k, k);
  const auto gx = simt::test::random_vector(B * ldg, data_seed + 6);
  simt::DeviceArray<float> dx(x), dh(h), dc(c), dwi(w_ih), dwh(w_hh), db(bias), dg(gx);
  simt::DeviceArray<float> h_out(static_cast<size_t>(B * H));

  LstmCudaArgs a;
  a.x = dx.data();
  a.ldx = ldx;
  a.h = dh.data();
  a.ldh = ldh;
  a.c = dc.data();
  a.ldc = H;
  a.w_ih = dwi.data();
  a.w_hh = dwh.data();
  a.bias = s.mode == Mode::bias ? db.data() : nullptr;
  if (s.mode == Mode::gates_x) {
    a.gates_x = dg.data();
    a.ld_gates_x = ldg;
  }
  a.h_out = h_out.data();
  a.ld_h_out = H;
  a.c_out = dc.data();  // in place
  a.ld_c_out = H;
  a.batch = B;
  a.input_size = I;
  a.hidden = H;
  emulate_cell(a, seed);

  std::vector<double> want_h, want_c;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t j = 0; j < H; ++j) {
      double gate[4];
      for (int g = 0; g < 4; ++g) {
        const int64_t r = g * H + j;
        double acc = s.mode == Mode::gates_x ? gx[b * ldg + r] : s.mode == Mode::bias ? bias[r] : 0.0;
        if (s.mode != Mode::gates_x) {
          for (int64_t q = 0; q < I; ++q) acc += static_cast<double>(x[b * ldx + q]) * w_ih[r * I + q];
        }
        for (int64_t q = 0; q < H; ++q) acc += static_cast<double>(h[b * ldh + q]) * w_hh[r * H + q];
        gate[g] = acc;
      }
      const double cn = sigmoid(gate[1]) * c[b * H + j] + sigmoid(gate[0]) * std::tanh(gate[2]);
      want_c.push_back(cn);
      want_h.push_back(sigmoid(gate[3]) * std::tanh(cn));
    }
  }
  EXPECT_TRUE(simt::test::all_close(h_out.to_vector(), want_h, 1e-5, 1e-5));
  EXPECT_TRUE(simt::test::all_close(dc.to_vector(), want_c, 1e-5, 1e-5));
}

std::vector<CellShape> cell_shapes() {
  std::vector<CellShape> v = {{1, 1, 1, Mode::bias},   {1, 7, 5, Mode::no_bias}, {16, 16, 32, Mode::bias},
                              {17, 33, 40, Mode::gates_x}, {3, 0, 9, Mode::bias}, {5, 17, 65, Mode::no_bias}};
  std::mt19937_64 rng(606);
  for (int i = 0; i < 6; ++i) {
    v.push_back({static_cast<int64_t>(rng() % 40 + 1), static_cast<int64_t>(rng() % 50 + 1),
                 static_cast<int64_t>(rng() % 70 + 1), static_cast<Mode>(i % 3)});
  }
  return v;
}

TEST(LstmSimt, CellMatchesFloat64) {
  for (const CellShape& s : cell_shapes()) {
    for (uint64_t seed : simt::test::seeds()) check_cell(s, seed);
  }
}

// launch_lstm_steps' loop, step for step: h_{t-1} from the output rows, c in place.
TEST(LstmSimt, SequenceMatchesFloat64) {
  struct Seq {
    int64_t T, B, I, H;
    bool batch_first;
  };
  for (const Seq& s : {Seq{4, 3, 5, 9, false}, Seq{6, 18, 7, 33, true}, Seq{3, 1, 20, 17, false}}) {
    for (uint64_t seed : simt::test::seeds()) {
      SCOPED_TRACE("T " + std::to_string(s.T) + " B " + std::to_string(s.B) + " H " +
                   std::to_string(s.H) + ", seed " + std::to_string(seed));
      const int64_t T = s.T, B = s.B, I = s.I, H = s.H;
      const float k = 1.0f / std::sqrt(static_cast<float>(H));
      const auto x = simt::test::random_vector(T * B * I, 11);
      const auto h0 = simt::test::random_vector(B * H, 12);
      const auto c0 = simt::test::random_vector(B * H, 13);
      const auto w_ih = simt::test::random_vector(4 * H * I, 14, -k, k);
      const auto w_hh = simt::test::random_vector(4 * H * H, 15, -k, k);
      const auto bias = simt::test::random_vector(4 * H, 16, -k, k);
      // x is (T, B, I) here; the output layout follows batch_first.
      std::vector<float> gates(static_cast<size_t>(T * B * 4 * H));
      for (int64_t r = 0; r < T * B; ++r) {
        for (int64_t q = 0; q < 4 * H; ++q) {
          double acc = bias[q];
          for (int64_t i = 0; i < I; ++i) acc += static_cast<double>(x[r * I + i]) * w_ih[q * I + i];
          gates[r * 4 * H + q] = static_cast<float>(acc);
        }
      }
      simt::DeviceArray<float> dg(gates), dh0(h0), dc(c0), dwh(w_hh);
      simt::DeviceArray<float> out(static_cast<size_t>(T * B * H));
      const int64_t out_t = s.batch_first ? H : B * H, out_b = s.batch_first ? T * H : H;
      LstmCudaArgs a;
      a.w_hh = dwh.data();
      a.c = dc.data();
      a.ldc = H;
      a.c_out = dc.data();
      a.ld_c_out = H;
      a.ld_gates_x = 4 * H;
      a.ld_h_out = out_b;
      a.batch = B;
      a.input_size = I;
      a.hidden = H;
      for (int64_t t = 0; t < T; ++t) {
        a.h = t == 0 ? dh0.data() : out.data() + (t - 1) * out_t;
        a.ldh = t == 0 ? H : out_b;
        a.gates_x = dg.data() + t * B * 4 * H;
        a.h_out = out.data() + t * out_t;
        emulate_cell(a, seed + static_cast<uint64_t>(t));
      }
      // float64 reference of the whole sequence.
      std::vector<double> h(h0.begin(), h0.end()), c(c0.begin(), c0.end());
      std::vector<double> want(static_cast<size_t>(T * B * H));
      for (int64_t t = 0; t < T; ++t) {
        std::vector<double> hn(h.size());
        for (int64_t b = 0; b < B; ++b) {
          for (int64_t j = 0; j < H; ++j) {
            double gate[4];
            for (int g = 0; g < 4; ++g) {
              const int64_t q = g * H + j;
              double acc = bias[q];
              for (int64_t i = 0; i < I; ++i) acc += static_cast<double>(x[(t * B + b) * I + i]) * w_ih[q * I + i];
              for (int64_t i = 0; i < H; ++i) acc += h[b * H + i] * w_hh[q * H + i];
              gate[g] = acc;
            }
            c[b * H + j] = sigmoid(gate[1]) * c[b * H + j] + sigmoid(gate[0]) * std::tanh(gate[2]);
            hn[b * H + j] = sigmoid(gate[3]) * std::tanh(c[b * H + j]);
            want[t * out_t + b * out_b + j] = hn[b * H + j];
          }
        }
        h = hn;
      }
      EXPECT_TRUE(simt::test::all_close(out.to_vector(), want, 1e-4, 1e-4));
      EXPECT_TRUE(simt::test::all_close(dc.to_vector(), c, 1e-4, 1e-4));
    }
  }
}

// The training forward keeps the activated gates over the gates_x rows it read.
TEST(LstmSimt, TrainingStepKeepsGates) {
  for (const CellShape& s : cell_shapes()) {
    if (s.mode != Mode::gates_x || s.hidden == 0) continue;
    for (uint64_t seed : simt::test::seeds()) {
      SCOPED_TRACE(describe(s) + ", seed " + std::to_string(seed));
      const int64_t B = s.batch, H = s.hidden;
      const auto h = simt::test::random_vector(B * H, 71);
      const auto c = simt::test::random_vector(B * H, 72);
      const auto w_hh = simt::test::random_vector(4 * H * H, 73, -0.3f, 0.3f);
      const auto gx = simt::test::random_vector(B * 4 * H, 74, -3.0f, 3.0f);
      simt::DeviceArray<float> dh(h), dc(c), dwh(w_hh), dg(gx);
      simt::DeviceArray<float> h_out(static_cast<size_t>(B * H));
      LstmCudaArgs a;
      a.h = dh.data();
      a.ldh = H;
      a.c = dc.data();
      a.ldc = H;
      a.w_hh = dwh.data();
      a.gates_x = dg.data();
      a.ld_gates_x = 4 * H;
      a.gates_out = dg.data();  // in place, as launch_lstm_steps in training
      a.ld_gates_out = 4 * H;
      a.h_out = h_out.data();
      a.ld_h_out = H;
      a.c_out = dc.data();
      a.ld_c_out = H;
      a.batch = B;
      a.input_size = s.input;
      a.hidden = H;
      emulate_cell(a, seed);
      std::vector<double> want(static_cast<size_t>(B * 4 * H));
      for (int64_t b = 0; b < B; ++b) {
        for (int64_t q = 0; q < 4 * H; ++q) {
          double acc = gx[b * 4 * H + q];
          for (int64_t i = 0; i < H; ++i) acc += static_cast<double>(h[b * H + i]) * w_hh[q * H + i];
          want[b * 4 * H + q] = q / H == 2 ? std::tanh(acc) : sigmoid(acc);
        }
      }
      EXPECT_TRUE(simt::test::all_close(dg.to_vector(), want, 1e-5, 1e-6));
    }
  }
}

void emulate_backward(const LstmBackwardCudaArgs& a, uint64_t seed) {
  const LstmLaunchGeometry g = lstm_launch_geometry(a.batch, a.hidden);
  if (g.empty()) return;
  simt::launch(simt::test::config_for(seed), dim3(g.grid_x, g.grid_y),
               dim3(g.threads_x, g.threads_y), 0, lstm_backward_step_kernel, a);
}

TEST(LstmSimt, BackwardStepMatchesFloat64) {
  struct Shape {
    int64_t B, H;
  };
  for (const Shape& sh : {Shape{1, 1}, Shape{1, 5}, Shape{16, 32}, Shape{17, 40}, Shape{3, 65},
                          Shape{33, 7}}) {
    for (int variant = 0; variant < 4; ++variant) {
      const bool has_next = variant & 1, has_grad = variant & 2;
      for (uint64_t seed : simt::test::seeds()) {
        const int64_t B = sh.B, H = sh.H, G = 4 * H, ldg = H + 2;
        SCOPED_TRACE("B " + std::to_string(B) + " H " + std::to_string(H) + " next " +
                     std::to_string(has_next) + " grad " + std::to_string(has_grad) +
                     ", seed " + std::to_string(seed));
        const uint64_t ds = static_cast<uint64_t>(B * 37 + H * 3 + variant);
        auto gates = simt::test::random_vector(B * G, ds, 0.02f, 0.98f);
        for (int64_t b = 0; b < B; ++b) {  // g is a tanh: (-1, 1)
          for (int64_t j = 0; j < H; ++j) gates[b * G + 2 * H + j] = 2.0f * gates[b * G + 2 * H + j] - 1.0f;
        }
        const auto c = simt::test::random_vector(B * H, ds + 1, -2.0f, 2.0f);
        const auto c_prev = simt::test::random_vector(B * H, ds + 2, -2.0f, 2.0f);
        const auto dc0 = simt::test::random_vector(B * H, ds + 3);
        const auto grad = simt::test::random_vector(B * ldg, ds + 4);
        const auto next = simt::test::random_vector(B * G, ds + 5);
        const float k = 1.0f / std::sqrt(static_cast<float>(H));
        const auto w_hh = simt::test::random_vector(G * H, ds + 6, -k, k);
        simt::DeviceArray<float> d_gates(gates), d_c(c), d_cp(c_prev), d_dc(dc0), d_grad(grad),
            d_next(next), d_w(w_hh);
        simt::DeviceArray<float> d_dg(static_cast<size_t>(B * G)), d_dh(static_cast<size_t>(B * H));
        LstmBackwardCudaArgs a;
        a.dgates_next = has_next ? d_next.data() : nullptr;
        a.w_hh = d_w.data();
        a.grad_h = has_grad ? d_grad.data() : nullptr;
        a.ld_grad_h = ldg;
        a.gates = d_gates.data();
        a.c = d_c.data();
        a.c_prev = d_cp.data();
        a.dc = d_dc.data();
        a.dgates = d_dg.data();
        a.batch = B;
        a.hidden = H;
        emulate_backward(a, seed);
        LstmBackwardCudaArgs only = a;  // the dh-only form, always with dG_next
        only.gates = nullptr;
        only.dgates_next = d_next.data();
        only.dh_out = d_dh.data();
        emulate_backward(only, seed + 1);

        std::vector<double> want_dg(static_cast<size_t>(B * G)), want_dc(static_cast<size_t>(B * H));
        std::vector<double> want_dh(static_cast<size_t>(B * H));
        for (int64_t b = 0; b < B; ++b) {
          for (int64_t j = 0; j < H; ++j) {
            double prod = 0.0;
            for (int64_t q = 0; q < G; ++q) prod += static_cast<double>(next[b * G + q]) * w_hh[q * H + j];
            const double outside = has_grad ? grad[b * ldg + j] : 0.0;
            want_dh[b * H + j] = outside + prod;
            const double dh = outside + (has_next ? prod : 0.0);
            const double i = gates[b * G + j], f = gates[b * G + H + j];
            const double g = gates[b * G + 2 * H + j], o = gates[b * G + 3 * H + j];
            const double tc = std::tanh(static_cast<double>(c[b * H + j]));
            const double dc = dc0[b * H + j] + dh * o * (1.0 - tc * tc);
            want_dg[b * G + j] = dc * g * i * (1.0 - i);
            want_dg[b * G + H + j] = dc * c_prev[b * H + j] * f * (1.0 - f);
            want_dg[b * G + 2 * H + j] = dc * i * (1.0 - g * g);
            want_dg[b * G + 3 * H + j] = dh * tc * o * (1.0 - o);
            want_dc[b * H + j] = dc * f;
          }
        }
        EXPECT_TRUE(simt::test::all_close(d_dg.to_vector(), want_dg, 1e-5, 1e-5));
        EXPECT_TRUE(simt::test::all_close(d_dc.to_vector(), want_dc, 1e-5, 1e-5));
        EXPECT_TRUE(simt::test::all_close(d_dh.to_vector(), want_dh, 1e-5, 1e-5));
      }
    }
  }
}

}  // namespace
}  // namespace pybench::kernels::cuda
