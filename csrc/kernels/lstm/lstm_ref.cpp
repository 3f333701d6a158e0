// Scalar reference LSTM kernels: the fallback on CPUs without AVX2 and the oracle the C++
// tests hold the SIMD variants to. Products accumulate in double and the activations are
// evaluated in double from raw (unpacked) PyTorch-layout weights, so the reference's own
// error is one float rounding of each output.
#include <cmath>
#include <limits>
#include <vector>

#include "lstm/lstm.h"

namespace pybench::kernels::cpu {
namespace {

// In double, but 0 where float's e^-v overflows, as PyTorch's float sigmoid: a tiny
// non-zero forget gate times an infinite cell state would give Inf where PyTorch gives NaN.
inline double sigmoid(double v) {
  const double e = std::exp(-v);
  return e > std::numeric_limits<float>::max() ? 0.0 : 1.0 / (1.0 + e);
}

}  // namespace

void lstm_cell_ref(const LstmCellParams& p) {
  const int64_t H = p.hidden_size, I = p.input_size;
  run_parallel(p.exec, 0, p.batch, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> gates(static_cast<size_t>(4 * H));
    for (int64_t b = begin; b < end; ++b) {
      const float* h = p.h + b * p.ldh;
      for (int64_t r = 0; r < 4 * H; ++r) {
        double acc = 0.0;
        if (p.gates_x != nullptr) {
          acc = p.gates_x[b * p.ld_gates_x + r];
        } else {
          if (p.bias != nullptr) acc = p.bias[r];
          const float* x = p.x + b * p.ldx;
          const float* w = p.w_ih + r * I;
          for (int64_t k = 0; k < I; ++k) acc += static_cast<double>(x[k]) * w[k];
        }
        const float* w = p.w_hh + r * H;
        for (int64_t k = 0; k < H; ++k) acc += static_cast<double>(h[k]) * w[k];
        gates[static_cast<size_t>(r)] = acc;
      }
      for (int64_t j = 0; j < H; ++j) {
        const double i = sigmoid(gates[j]), f = sigmoid(gates[H + j]);
        const double g = std::tanh(gates[2 * H + j]), o = sigmoid(gates[3 * H + j]);
        if (p.gates_out != nullptr) {
          float* a = p.gates_out + b * p.ld_gates_out + j;
          a[0] = static_cast<float>(i);
          a[H] = static_cast<float>(f);
          a[2 * H] = static_cast<float>(g);
          a[3 * H] = static_cast<float>(o);
        }
        const double c = f * p.c[b * p.ldc + j] + i * g;
        p.c_out[b * p.ld_c_out + j] = static_cast<float>(c);
        p.h_out[b * p.ld_h_out + j] = static_cast<float>(o * std::tanh(c));
      }
    }
  });
}

void lstm_input_gemm_ref(const LstmInputGemmParams& p) {
  const int64_t B = p.batch, I = p.input_size, G = 4 * p.hidden_size;
  run_parallel(p.exec, 0, p.seq_len * B, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const float* x = p.x + (row / B) * p.x_stride_t + (row % B) * p.x_stride_b;
      for (int64_t r = 0; r < G; ++r) {
        double acc = p.bias != nullptr ? p.bias[r] : 0.0;
        const float* w = p.w_ih + r * I;
        for (int64_t k = 0; k < I; ++k) acc += static_cast<double>(x[k]) * w[k];
        p.gates_x[row * G + r] = static_cast<float>(acc);
      }
    }
  });
}

void lstm_backward_step_ref(const LstmBackwardStepParams& p) {
  const int64_t H = p.hidden_size, G = 4 * H;
  run_parallel(p.exec, 0, p.batch, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      for (int64_t j = 0; j < H; ++j) {
        double dh = p.grad_h != nullptr ? p.grad_h[b * p.ld_grad_h + j] : 0.0;
        if (p.dgates_next != nullptr) {
          for (int64_t k = 0; k < G; ++k) {
            dh += static_cast<double>(p.dgates_next[b * G + k]) * p.w_hh[k * H + j];
          }
        }
        if (p.gates == nullptr) {
          p.dh_out[b * H + j] = static_cast<float>(dh);
          continue;
        }
        const float* a = p.gates + b * G + j;
        const double i = a[0], f = a[H], g = a[2 * H], o = a[3 * H];
        const double tc = std::tanh(static_cast<double>(p.c[b * H + j]));
        const double dc = p.dc[b * H + j] + dh * o * (1.0 - tc * tc);
        float* d = p.dgates + b * G + j;
        d[0] = static_cast<float>(dc * g * i * (1.0 - i));
        d[H] = static_cast<float>(dc * p.c_prev[b * H + j] * f * (1.0 - f));
        d[2 * H] = static_cast<float>(dc * i * (1.0 - g * g));
        d[3 * H] = static_cast<float>(dh * tc * o * (1.0 - o));
        p.dc[b * H + j] = static_cast<float>(dc * f);
      }
    }
  });
}

}  // namespace pybench::kernels::cpu
