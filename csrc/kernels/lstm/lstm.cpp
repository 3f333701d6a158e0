// ISA dispatch, weight packing and the sequence driver of the LSTM kernels.
#include "lstm/lstm.h"

#include <algorithm>
#include <cstring>

namespace pybench::kernels::cpu {

int64_t lstm_pack_block(CpuIsa isa) { return isa == CpuIsa::avx2 ? 8 : 16; }

LstmKBlocking lstm_k_blocking(const CpuCaches& c, CpuIsa isa) {
  // As k_blocking() in lstm_simd.h: AVX2's tile reads its weights as memory operands.
  if (isa == CpuIsa::avx2) return lstm_k_blocking_l1(c, lstm_pack_block(isa));
  const int64_t rows = isa == CpuIsa::avx2 ? kLstmTileRowsAvx2 : kLstmTileRowsAvx512;
  return lstm_k_blocking(c, lstm_pack_block(isa), lstm_max_group_rows(rows));
}

void lstm_pack_weights(const float* w, int64_t ldw, int64_t hidden, int64_t k, int64_t block,
                       float* out, const ParallelFor& parallel_for) {
  const int64_t panels = ceil_div(hidden, block);
  const int64_t panel_floats = k * 4 * block;
  // One panel per work item: a panel reads 4*block rows of W, each contiguous in k.
  run_parallel(parallel_for, 0, panels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      float* dst = out + p * panel_floats;
      for (int64_t g = 0; g < 4; ++g) {
        for (int64_t j = 0; j < block; ++j) {
          const int64_t unit = p * block + j;
          float* d = dst + g * block + j;
          if (unit >= hidden) {
            for (int64_t kk = 0; kk < k; ++kk) d[kk * 4 * block] = 0.0f;
            continue;
          }
          const float* src = w + (g * hidden + unit) * ldw;
          for (int64_t kk = 0; kk < k; ++kk) d[kk * 4 * block] = src[kk];
        }
      }
    }
  });
}

void lstm_pack_hh_columns(const float* w_hh, int64_t hidden, int64_t block, float* out) {
  const int64_t G = 4 * hidden;
  for (int64_t p = 0; p < ceil_div(hidden, block); ++p) {
    for (int64_t k = 0; k < G; ++k) {
      float* d = out + (p * G + k) * block;
      for (int64_t j = 0; j < block; ++j) {
        const int64_t col = p * block + j;
        d[j] = col < hidden ? w_hh[k * hidden + col] : 0.0f;
      }
    }
  }
}

void lstm_backward_step_isa(const LstmBackwardStepParams& p, CpuIsa isa) {
  switch (isa) {
    case CpuIsa::avx512: return lstm_backward_step_avx512(p);
    case CpuIsa::avx2: return lstm_backward_step_avx2(p);
    case CpuIsa::scalar: return lstm_backward_step_ref(p);
  }
}

void lstm_cell(const LstmCellParams& p) { lstm_cell_isa(p, active_cpu_isa()); }

void lstm_cell_isa(const LstmCellParams& p, CpuIsa isa) {
  switch (isa) {
    case CpuIsa::avx512: return lstm_cell_avx512(p);
    case CpuIsa::avx2: return lstm_cell_avx2(p);
    case CpuIsa::scalar: return lstm_cell_ref(p);
  }
}

void lstm_input_gemm(const LstmInputGemmParams& p) {
  switch (active_cpu_isa()) {
    case CpuIsa::avx512: return lstm_input_gemm_avx512(p);
    case CpuIsa::avx2: return lstm_input_gemm_avx2(p);
    case CpuIsa::scalar: return lstm_input_gemm_ref(p);
  }
}

void lstm_sequence(const LstmSequenceParams& p) { lstm_sequence_isa(p, active_cpu_isa()); }

void lstm_sequence_isa(const LstmSequenceParams& p, CpuIsa isa) {
  const int64_t T = p.seq_len, B = p.batch, H = p.hidden_size;
  if (B <= 0 || H <= 0) return;
  const size_t state_bytes = sizeof(float) * static_cast<size_t>(B * H);
  std::memcpy(p.c_n, p.c0, state_bytes);
  if (T <= 0) {
    std::memcpy(p.h_n, p.h0, state_bytes);
    return;
  }

  LstmInputGemmParams g;
  g.seq_len = T;
  g.batch = B;
  g.input_size = p.input_size;
  g.hidden_size = H;
  g.x = p.x;
  g.x_stride_t = p.x_stride_t;
  g.x_stride_b = p.x_stride_b;
  g.w_ih = p.w_ih;
  g.packed_ih = p.packed_ih;
  g.bias = p.bias;
  g.gates_x = p.gates_scratch;
  g.exec = p.exec;
  switch (isa) {
    case CpuIsa::avx512: lstm_input_gemm_avx512(g); break;
    case CpuIsa::avx2: lstm_input_gemm_avx2(g); break;
    case CpuIsa::scalar: lstm_input_gemm_ref(g); break;
  }

  // Step t reads h_{t-1} straight from the output rows of step t-1 and updates the cell
  // state in c_n in place (training: writes c_t to its own rows of `cells`, read back by
  // step t + 1 and by the backward).
  LstmCellParams s;
  s.batch = B;
  s.input_size = p.input_size;
  s.hidden_size = H;
  s.w_hh = p.w_hh;
  s.packed_hh = p.packed_hh;
  s.c = p.c_n;
  s.ldc = H;
  s.c_out = p.c_n;
  s.ld_c_out = H;
  s.ld_gates_x = 4 * H;
  s.ld_h_out = p.out_stride_b;
  s.exec = p.exec;
  for (int64_t t = 0; t < T; ++t) {
    s.h = t == 0 ? p.h0 : p.output + (t - 1) * p.out_stride_t;
    s.ldh = t == 0 ? H : p.out_stride_b;
    s.gates_x = p.gates_scratch + t * B * 4 * H;
    s.h_out = p.output + t * p.out_stride_t;
    if (p.cells != nullptr) {
      s.c = t == 0 ? p.c0 : p.cells + (t - 1) * B * H;
      s.c_out = p.cells + t * B * H;
      s.gates_out = p.gates_out + t * B * 4 * H;
      s.ld_gates_out = 4 * H;
    }
    switch (isa) {
      case CpuIsa::avx512: lstm_cell_avx512(s); break;
      case CpuIsa::avx2: lstm_cell_avx2(s); break;
      case CpuIsa::scalar: lstm_cell_ref(s); break;
    }
  }
  if (p.cells != nullptr) std::memcpy(p.c_n, p.cells + (T - 1) * B * H, state_bytes);
  const float* last = p.output + (T - 1) * p.out_stride_t;
  for (int64_t b = 0; b < B; ++b) {
    std::memcpy(p.h_n + b * H, last + b * p.out_stride_b, sizeof(float) * static_cast<size_t>(H));
  }
}

}  // namespace pybench::kernels::cpu
