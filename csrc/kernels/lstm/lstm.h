#pragma once
// LSTM cell and single-layer LSTM sequence (torch.nn.LSTMCell / torch.nn.LSTM semantics,
// gate order i, f, g, o), the torch-free kernel core.
//
//   gates = x W_ih^T + b_ih + h W_hh^T + b_hh            (batch, 4H), columns [i | f | g | o]
//   c'    = sigmoid(f) * c + sigmoid(i) * tanh(g)
//   h'    = sigmoid(o) * tanh(c')
//
// Layout. Raw weights are PyTorch's: w_ih (4H, I), w_hh (4H, H), row-major, contiguous.
// Activations are row-major with a row stride (ld*) per operand, so a step of a sequence
// can read and write rows of a (T, B, H) or (B, T, H) tensor in place.
//
// Packed weights (the SIMD variants). W (4H, K) is cut into panels of `block` hidden units
// (16 for AVX-512, 8 for AVX2: one vector): panel p holds, for every k, the 4 gates' rows
// p*block .. p*block+block-1 of that column, [p][k][gate][block] floats, hidden units past H
// zero-filled. A micro-kernel then reads one panel row (4 vectors) per k and accumulates
// the i, f, g and o pre-activations of the same hidden units side by side, so the gate
// non-linearities and the cell update run in its epilogue while the accumulators are still
// in registers: the (batch, 4H) gate matrix never goes to memory. A panel is K*4*block
// floats (256 KiB at K = 1024 on AVX-512) and stays in L2 while every row tile of the batch
// streams past it; longer K runs in chunks sized by the L2 (lstm_k_blocking).
//
// Accuracy. The SIMD variants evaluate sigmoid and tanh with their own vector code
// (exp by Cody-Waite range reduction and a degree-6 polynomial, tanh by an odd degree-17
// Taylor polynomial below |x| = 0.55 and 1 - 2 / (exp(2|x|) + 1) above): maximum relative
// error <= 1e-6 for every float input whose result is a normal float (sigmoid below
// x = -87.3 returns a result within 1.2e-38 absolute), checked by tests/cpp/lstm_test.cc
// on dense sweeps; lstm_sigmoid_* / lstm_tanh_* below expose them for that test.
#include <algorithm>
#include <cstdint>

#include "common/cpu_caches.h"
#include "common/cpu_isa.h"
#include "common/index_math.h"
#include "common/parallel.h"

namespace pybench::kernels {

// A weight matrix packed by lstm_pack_weights.
struct LstmPackedWeights {
  const float* data = nullptr;
  int64_t k = 0;       // reduction length: input_size for W_ih, hidden_size for W_hh
  int64_t hidden = 0;  // H
  int64_t block = 0;   // hidden units per panel (lstm_pack_block of the ISA)
};

// One step: (h_out, c_out) from (x, h, c).
struct LstmCellParams {
  int64_t batch = 0;
  int64_t input_size = 0;
  int64_t hidden_size = 0;
  const float* x = nullptr;  // (batch, input_size), row stride ldx; unused with gates_x
  int64_t ldx = 0;
  const float* h = nullptr;  // (batch, hidden), row stride ldh
  int64_t ldh = 0;
  const float* c = nullptr;  // (batch, hidden), row stride ldc
  int64_t ldc = 0;
  const float* w_ih = nullptr;  // raw (4H, I): the reference variant
  const float* w_hh = nullptr;  // raw (4H, H): the reference variant
  LstmPackedWeights packed_ih;  // the SIMD variants
  LstmPackedWeights packed_hh;
  const float* bias = nullptr;  // (4H) = b_ih + b_hh, or nullptr; unused with gates_x
  // Precomputed x W_ih^T + b_ih + b_hh, (batch, 4H) with row stride ld_gates_x (a step of a
  // sequence); nullptr: the kernel computes the input product itself from x.
  const float* gates_x = nullptr;
  int64_t ld_gates_x = 0;
  // Outputs. h_out must not overlap h (every thread reads all of h); c_out may be c
  // itself (each entry is read, then written, by one thread).
  float* h_out = nullptr;
  int64_t ld_h_out = 0;
  float* c_out = nullptr;
  int64_t ld_c_out = 0;
  // Training: the activated gates sigmoid(i), sigmoid(f), tanh(g), sigmoid(o) of every row,
  // [i | f | g | o] with row stride ld_gates_out, for the backward (nullptr: not kept).
  float* gates_out = nullptr;
  int64_t ld_gates_out = 0;
  CpuExecution exec;  // threading of the CPU kernels; the CUDA launcher ignores it
};

// The input product of a whole sequence, one GEMM over T*B rows:
// gates_x[t*B + b] = x[t][b] W_ih^T + bias, dense (T*B, 4H).
struct LstmInputGemmParams {
  int64_t seq_len = 0;
  int64_t batch = 0;
  int64_t input_size = 0;
  int64_t hidden_size = 0;
  const float* x = nullptr;  // row (t, b) at x + t*x_stride_t + b*x_stride_b, contiguous in I
  int64_t x_stride_t = 0;
  int64_t x_stride_b = 0;
  const float* w_ih = nullptr;  // raw, the reference variant
  LstmPackedWeights packed_ih;  // the SIMD variants
  const float* bias = nullptr;  // (4H) or nullptr
  float* gates_x = nullptr;     // (T*B, 4H)
  CpuExecution exec;
};

// A single-layer unidirectional LSTM over T steps.
struct LstmSequenceParams {
  int64_t seq_len = 0;
  int64_t batch = 0;
  int64_t input_size = 0;
  int64_t hidden_size = 0;
  const float* x = nullptr;  // row (t, b) at x + t*x_stride_t + b*x_stride_b
  int64_t x_stride_t = 0;
  int64_t x_stride_b = 0;
  const float* h0 = nullptr;  // (batch, H) contiguous
  const float* c0 = nullptr;  // (batch, H) contiguous
  const float* w_ih = nullptr;
  const float* w_hh = nullptr;
  LstmPackedWeights packed_ih;
  LstmPackedWeights packed_hh;
  const float* bias = nullptr;  // (4H) = b_ih + b_hh, or nullptr
  float* output = nullptr;      // h_t of row (t, b) at output + t*out_stride_t + b*out_stride_b
  int64_t out_stride_t = 0;
  int64_t out_stride_b = 0;
  float* h_n = nullptr;  // (batch, H) contiguous
  float* c_n = nullptr;  // (batch, H) contiguous; also the running cell state
  float* gates_scratch = nullptr;  // (T*B, 4H) floats, lstm_sequence_scratch_floats
  // Training (both or neither): the activated gates of every step, (T*B, 4H) -- written
  // over gates_scratch's pre-activations when they are the same buffer -- and every cell
  // state c_t, (T*B, H); the backward reads them instead of recomputing the forward.
  float* gates_out = nullptr;
  float* cells = nullptr;
  CpuExecution exec;
};

// One step of back-propagation through time, t = T-1 down to 0, from what the training
// forward kept (activated gates a = [i | f | g | o] and cell states):
//   dh_t      = grad_h_t + dG_{t+1} W_hh               (a (B, 4H) x (4H, H) product)
//   dc        = dc_t + dh_t * o * (1 - tanh(c_t)^2)     (dc_t: dc_{t+1} * f_{t+1}, carried)
//   dG_t      = [dc g i(1-i) | dc c_{t-1} f(1-f) | dc i (1-g^2) | dh_t tanh(c_t) o(1-o)]
//   dc_{t-1}  = dc * f
// The product's output tile (rows x hidden units) is exactly what the gate arithmetic
// needs, so the arithmetic runs in the product's epilogue from registers and dh never goes
// to memory. The weight and input gradients are GEMMs over all T*B rows of dG at once,
// done by the caller (nothing to fuse there). With gates == nullptr the step only forms
// dh = grad_h + dG_next W_hh into dh_out: d(h_0) after the last step.
struct LstmBackwardStepParams {
  int64_t batch = 0;
  int64_t hidden_size = 0;
  const float* dgates_next = nullptr;  // (B, 4H) dense, dG_{t+1}; nullptr: none (t = T-1)
  const float* w_hh = nullptr;         // raw (4H, H): the reference variant
  LstmPackedWeights packed_hh_t;  // W_hh by column panels (lstm_pack_hh_columns): SIMD
  const float* grad_h = nullptr;  // (B, H) row stride ld_grad_h, the gradient from outside
  int64_t ld_grad_h = 0;          // the recurrence; nullptr: zero
  const float* gates = nullptr;   // (B, 4H) dense, the step's activated gates
  const float* c = nullptr;       // (B, H) dense, c_t
  const float* c_prev = nullptr;  // (B, H) dense, c_{t-1} (c_0 at t = 0)
  float* dc = nullptr;            // (B, H) dense: in dc_t, out dc_{t-1} (in place)
  float* dgates = nullptr;        // (B, 4H) dense out, dG_t
  float* dh_out = nullptr;        // (B, H) dense out, the gates == nullptr form only
  CpuExecution exec;
};

// W_hh (4H, H) packed for the backward product: panel p holds columns [p*block,
// p*block + block) of every row k, [p][k][block] floats, columns past H zero.
inline int64_t lstm_hh_columns_floats(int64_t hidden, int64_t block) {
  return ceil_div(hidden, block) * 4 * hidden * block;
}

inline int64_t lstm_sequence_scratch_floats(int64_t seq_len, int64_t batch, int64_t hidden) {
  return seq_len * batch * 4 * hidden;
}

// Multiply-adds times two of the two products (B x 4H x (I + H)); the gate epilogue is not
// counted -- the count DeepBench uses, credited to every implementation alike.
inline double lstm_cell_flops(int64_t batch, int64_t input_size, int64_t hidden) {
  return 2.0 * static_cast<double>(batch) * 4.0 * static_cast<double>(hidden) *
         static_cast<double>(input_size + hidden);
}

inline double lstm_sequence_flops(int64_t seq_len, int64_t batch, int64_t input_size,
                                  int64_t hidden) {
  return static_cast<double>(seq_len) * lstm_cell_flops(batch, input_size, hidden);
}

namespace cpu {

// Hidden units per packed panel for an ISA's kernels (16, 8, and 16 for scalar, which
// does not read packed weights but accepts them).
int64_t lstm_pack_block(CpuIsa isa);

// Batch rows of the SIMD variants' GEMM tile (V::MR of lstm_avx512.cpp / lstm_avx2.cpp),
// and the most rows one work item holds: 16 tiles.
inline constexpr int64_t kLstmTileRowsAvx512 = 6;
inline constexpr int64_t kLstmTileRowsAvx2 = 3;
inline constexpr int64_t lstm_max_group_rows(int64_t tile_rows) { return 16 * tile_rows; }

// K blocking of the SIMD variants (lstm_simd.h). A work item whose reduction is longer
// than direct_max_k runs it in chunks of chunk_k: the panel's chunk (chunk_k x 4 gates x
// block floats) and the chunk of the item's rows (<= lstm_max_group_rows) stay in L2
// while every row tile passes over them, where a whole panel and all rows (2 MiB at
// H = 2048, batch 64) would thrash it. direct_max_k = 5/4 chunk_k, so a K just past one
// chunk is not split into a chunk and a sliver.
struct LstmKBlocking {
  int64_t chunk_k = 0;
  int64_t direct_max_k = 0;
};
// chunk_k: one chunk's panel and rows in a third of the L2 (the rest holds gates_x, the
// h / c rows of the epilogue, and the next chunk arriving), a multiple of 64, capped at
// 512, the size the kernels were tuned with. Per k the chunk holds (4 x block + group_rows) floats: 640
// bytes on AVX-512 (16-unit panels, 96 rows), 320 on AVX2. Sapphire Rapids (2 MiB L2;
// 1088 uncapped, never measured) and Zen 4 (1 MiB: 546) get 512 on AVX-512, as before
// the sizes were read at run time; a 512 KiB L2 gets 256 (the AVX2 kernels block by the
// L1d: lstm_k_blocking_l1 below). The chunk boundaries are
// where partial sums go through memory (exactly) and, for a single row, where its four
// k phases are added: they move float32 rounding only (within the tests' tolerances).
inline LstmKBlocking lstm_k_blocking(const CpuCaches& c, int64_t block, int64_t group_rows) {
  const int64_t k_bytes = (4 * block + group_rows) * int64_t{4};
  LstmKBlocking b;
  b.chunk_k = std::clamp<int64_t>(c.l2 / 3 / k_bytes / 64 * 64, 64, 512);
  b.direct_max_k = b.chunk_k + b.chunk_k / 4;
  return b;
}
// The AVX2 kernels' chunk is sized by the L1d instead: their tile reads its four weight
// vectors per k as FMA memory operands (16 ymm registers hold 12 accumulators, the three
// rows' broadcasts and nothing more), so every row tile re-reads the panel chunk, and only
// an L1-resident chunk (half the L1d: 128 k on a 32 KiB L1d, 192 on 48 KiB) keeps those
// loads off the L2. Capped-AVX2 runs on a Zen 5 host (2 threads, interleaved): the
// sequence at H = 512, B = 16-64 went from 0.77x oneDNN (chunk 512) to 1.09-1.11x (128),
// the char-RNN's (H = 256, B = 32) from 0.72x to 1.19x; H = 1024 / 2048 unchanged. The
// AVX-512 tile keeps its weights in registers across 6 rows: there smaller chunks measured
// the same or slower.
inline LstmKBlocking lstm_k_blocking_l1(const CpuCaches& c, int64_t block) {
  LstmKBlocking b;
  b.chunk_k = std::clamp<int64_t>(c.l1d / 2 / (4 * block * 4) / 64 * 64, 64, 512);
  b.direct_max_k = b.chunk_k + b.chunk_k / 4;
  return b;
}
// The blocking of an ISA's kernels (the scalar reference does not block: its AVX-512
// shape is returned).
LstmKBlocking lstm_k_blocking(const CpuCaches& c, CpuIsa isa);
inline int64_t lstm_packed_floats(int64_t hidden, int64_t k, int64_t block) {
  return ceil_div(hidden, block) * k * 4 * block;
}
// Packs W (4H, K), row stride ldw, into `out` (lstm_packed_floats floats). Threads over panels.
void lstm_pack_weights(const float* w, int64_t ldw, int64_t hidden, int64_t k, int64_t block,
                       float* out, const ParallelFor& parallel_for = {});
// Packs W_hh (4H, H), contiguous, for lstm_backward_step (lstm_hh_columns_floats floats).
void lstm_pack_hh_columns(const float* w_hh, int64_t hidden, int64_t block, float* out);

// Dispatch on active_cpu_isa(). The SIMD variants need packed weights whose block is
// lstm_pack_block(isa) (the caller packs); the reference reads the raw ones.
void lstm_cell(const LstmCellParams& p);
void lstm_input_gemm(const LstmInputGemmParams& p);
// The input GEMM, then one fused recurrent step per time step.
void lstm_sequence(const LstmSequenceParams& p);

// The variants. lstm_*_ref accumulates in double and evaluates the activations in double:
// it is the oracle (and the scalar fallback), not a contender.
void lstm_cell_ref(const LstmCellParams& p);
void lstm_cell_avx2(const LstmCellParams& p);
void lstm_cell_avx512(const LstmCellParams& p);
void lstm_input_gemm_ref(const LstmInputGemmParams& p);
void lstm_input_gemm_avx2(const LstmInputGemmParams& p);
void lstm_input_gemm_avx512(const LstmInputGemmParams& p);
void lstm_sequence_isa(const LstmSequenceParams& p, CpuIsa isa);
// lstm_cell on a given ISA: the op reads the active ISA once per call and packs and runs
// with it, so a concurrent set_active_cpu_isa cannot pair one ISA's packs with another's
// kernel.
void lstm_cell_isa(const LstmCellParams& p, CpuIsa isa);
// A backward step on a given ISA (the SIMD variants read packed_hh_t, whose block must be
// lstm_pack_block(isa); the reference reads w_hh).
void lstm_backward_step_isa(const LstmBackwardStepParams& p, CpuIsa isa);
void lstm_backward_step_ref(const LstmBackwardStepParams& p);
void lstm_backward_step_avx2(const LstmBackwardStepParams& p);
void lstm_backward_step_avx512(const LstmBackwardStepParams& p);

// The vector activations of the SIMD variants over arrays (n any), for the accuracy tests.
void lstm_sigmoid_avx2(const float* x, float* y, int64_t n);
void lstm_tanh_avx2(const float* x, float* y, int64_t n);
void lstm_sigmoid_avx512(const float* x, float* y, int64_t n);
void lstm_tanh_avx512(const float* x, float* y, int64_t n);

}  // namespace cpu
}  // namespace pybench::kernels
