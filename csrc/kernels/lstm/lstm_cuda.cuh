#pragma once
// CUDA LSTM kernel body: one fused step, gates = [x | h] [W_ih | W_hh]^T (+ bias), or
// gates = gates_x + h W_hh^T for a step of a sequence whose input product was computed for
// all steps at once, then the gate non-linearities and the cell update in the epilogue.
//
// Torch-free and CUDA-runtime-free (CUDA keywords only), so lstm_cuda.cu launches it with
// nvcc and the SIMT emulator runs the same code on the CPU (tests/simt/lstm_simt_test.cc).
//
// Layout: raw PyTorch weights, w_ih (4H, I) and w_hh (4H, H) row-major, gate rows
// [i | f | g | o]; activations row-major with row strides; gates_x (batch, 4H).
//
// Blocking: a block owns 16 batch rows x 32 hidden units, all four gates of each unit, so
// the epilogue has i, f, g, o of a unit in one thread's registers. 128 threads = 32 units
// (threadIdx.x, consecutive units: coalesced epilogue loads and stores) x 4 row groups
// (threadIdx.y), each thread a 4-row x 4-gate register tile (16 accumulators). K runs in
// chunks of 16 staged in shared memory: the activation chunk [k][row] (1 KiB) and the
// weight chunk [k][gate][unit] (8 KiB, read by 16-float runs of a weight row: 64-byte
// segments). Per k a thread reads 4 activations (broadcast) and 4 weights (consecutive
// across the warp: conflict-free) for 16 FMAs. A grid row of blocks walks the batch when
// it has more than 65535 row tiles.
//
// Batch 1 uses 1 of the 16 rows of a tile: a GPU matrix-vector path, and a persistent
// kernel keeping W_hh on chip across steps, are not written (issue 6's stretch).
#include <math.h>

#include <cstdint>

#include "common/index_math.h"

#if defined(__CUDACC__)
#define PYBENCH_LSTM_LAUNCH_BOUNDS(threads, blocks) __launch_bounds__(threads, blocks)
#define PYBENCH_LSTM_UNROLL _Pragma("unroll")
#else  // the emulator: plain C++
#define PYBENCH_LSTM_LAUNCH_BOUNDS(threads, blocks)
#define PYBENCH_LSTM_UNROLL
#endif

namespace pybench::kernels::cuda {

inline constexpr int kLstmTileUnits = 32;  // hidden units per block (threadIdx.x)
inline constexpr int kLstmTileRows = 16;   // batch rows per block
inline constexpr int kLstmThreadRows = 4;  // rows per thread (threadIdx.y picks the group)
inline constexpr int kLstmBlockK = 16;     // K per shared-memory chunk
inline constexpr int kLstmThreadsY = kLstmTileRows / kLstmThreadRows;
inline constexpr int kLstmThreads = kLstmTileUnits * kLstmThreadsY;  // 128
inline constexpr int64_t kLstmMaxGridY = 65535;

// Kernel arguments: plain pointers and sizes (no std::function), passed by value.
struct LstmCudaArgs {
  const float* x = nullptr;  // (batch, I), row stride ldx; unused with gates_x
  int64_t ldx = 0;
  const float* h = nullptr;  // (batch, H), row stride ldh
  int64_t ldh = 0;
  const float* c = nullptr;  // (batch, H), row stride ldc
  int64_t ldc = 0;
  const float* w_ih = nullptr;  // (4H, I)
  const float* w_hh = nullptr;  // (4H, H)
  const float* bias = nullptr;  // (4H) = b_ih + b_hh, or nullptr; unused with gates_x
  const float* gates_x = nullptr;  // (batch, 4H), row stride ld_gates_x, or nullptr
  int64_t ld_gates_x = 0;
  float* h_out = nullptr;  // must not overlap h; c_out may be c
  int64_t ld_h_out = 0;
  float* c_out = nullptr;
  int64_t ld_c_out = 0;
  // Training: the activated gates [i | f | g | o] of every row, row stride ld_gates_out, or
  // nullptr. May be gates_x itself: each thread reads its unit's four entries of a row
  // before writing them, and no other thread touches them.
  float* gates_out = nullptr;
  int64_t ld_gates_out = 0;
  int64_t batch = 0;
  int64_t input_size = 0;
  int64_t hidden = 0;
};

struct LstmLaunchGeometry {
  int64_t grid_x = 0;  // hidden-unit tiles
  int64_t grid_y = 0;  // row tiles, clamped to kLstmMaxGridY (blocks then stride over them)
  int threads_x = kLstmTileUnits;
  int threads_y = kLstmThreadsY;
  bool empty() const { return grid_x == 0 || grid_y == 0; }
};

inline LstmLaunchGeometry lstm_launch_geometry(int64_t batch, int64_t hidden) {
  LstmLaunchGeometry g;
  if (batch <= 0 || hidden <= 0) return g;
  g.grid_x = ceil_div(hidden, kLstmTileUnits);
  const int64_t row_tiles = ceil_div(batch, kLstmTileRows);
  g.grid_y = row_tiles < kLstmMaxGridY ? row_tiles : kLstmMaxGridY;
  return g;
}

__device__ inline float lstm_sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

// acc[r][g] += sum_k a[row0 + r'][k] * w[g*H + unit0 + u][k] over one operand pair.
__device__ inline void lstm_accumulate(float (&acc)[kLstmThreadRows][4], const float* a,
                                       int64_t lda, const float* w, int64_t k_len, int64_t H,
                                       int64_t batch, int64_t row0, int64_t unit0,
                                       float (&a_tile)[kLstmBlockK][kLstmTileRows],
                                       float (&w_tile)[kLstmBlockK][4][kLstmTileUnits]) {
  const int tid = threadIdx.y * kLstmTileUnits + threadIdx.x;
  for (int64_t k0 = 0; k0 < k_len; k0 += kLstmBlockK) {
    __syncthreads();  // the previous chunk is no longer read
    // Activations: 16 rows x 16 k, 2 per thread, consecutive threads along k.
    for (int e = tid; e < kLstmTileRows * kLstmBlockK; e += kLstmThreads) {
      const int r = e / kLstmBlockK, kk = e % kLstmBlockK;
      const int64_t row = row0 + r, k = k0 + kk;
      a_tile[kk][r] = row < batch && k < k_len ? a[row * lda + k] : 0.0f;
    }
    // Weights: 4 gates x 32 units x 16 k, 16 per thread, runs of 16 k along a weight row.
    for (int e = tid; e < 4 * kLstmTileUnits * kLstmBlockK; e += kLstmThreads) {
      const int kk = e % kLstmBlockK, rest = e / kLstmBlockK;
      const int u = rest % kLstmTileUnits, g = rest / kLstmTileUnits;
      const int64_t unit = unit0 + u, k = k0 + kk;
      w_tile[kk][g][u] = unit < H && k < k_len ? w[(g * H + unit) * k_len + k] : 0.0f;
    }
    __syncthreads();
    PYBENCH_LSTM_UNROLL
    for (int kk = 0; kk < kLstmBlockK; ++kk) {
      float wv[4], av[kLstmThreadRows];
      PYBENCH_LSTM_UNROLL
      for (int g = 0; g < 4; ++g) wv[g] = w_tile[kk][g][threadIdx.x];
      PYBENCH_LSTM_UNROLL
      for (int r = 0; r < kLstmThreadRows; ++r) av[r] = a_tile[kk][threadIdx.y * kLstmThreadRows + r];
      PYBENCH_LSTM_UNROLL
      for (int r = 0; r < kLstmThreadRows; ++r) {
        PYBENCH_LSTM_UNROLL
        for (int g = 0; g < 4; ++g) acc[r][g] = fmaf(av[r], wv[g], acc[r][g]);
      }
    }
  }
}

__global__ void PYBENCH_LSTM_LAUNCH_BOUNDS(kLstmThreads, 4) lstm_cell_kernel(LstmCudaArgs p) {
  __shared__ float a_tile[kLstmBlockK][kLstmTileRows];
  __shared__ float w_tile[kLstmBlockK][4][kLstmTileUnits];
  const int64_t H = p.hidden;
  const int64_t unit0 = static_cast<int64_t>(blockIdx.x) * kLstmTileUnits;
  const int64_t unit = unit0 + threadIdx.x;
  const int64_t row_tiles = ceil_div(p.batch, kLstmTileRows);
  for (int64_t tile = blockIdx.y; tile < row_tiles; tile += gridDim.y) {
    const int64_t row0 = tile * kLstmTileRows;
    float acc[kLstmThreadRows][4];
    PYBENCH_LSTM_UNROLL
    for (int r = 0; r < kLstmThreadRows; ++r) {
      PYBENCH_LSTM_UNROLL
      for (int g = 0; g < 4; ++g) acc[r][g] = 0.0f;
    }
    if (p.gates_x == nullptr && p.input_size > 0) {
      lstm_accumulate(acc, p.x, p.ldx, p.w_ih, p.input_size, H, p.batch, row0, unit0, a_tile,
                      w_tile);
    }
    lstm_accumulate(acc, p.h, p.ldh, p.w_hh, H, H, p.batch, row0, unit0, a_tile, w_tile);
    if (unit >= H) continue;  // no barrier below: masked-off units may leave early
    PYBENCH_LSTM_UNROLL
    for (int r = 0; r < kLstmThreadRows; ++r) {
      const int64_t row = row0 + threadIdx.y * kLstmThreadRows + r;
      if (row >= p.batch) break;
      float gate[4];
      PYBENCH_LSTM_UNROLL
      for (int g = 0; g < 4; ++g) {
        const float add = p.gates_x != nullptr ? p.gates_x[row * p.ld_gates_x + g * H + unit]
                          : p.bias != nullptr  ? p.bias[g * H + unit]
                                               : 0.0f;
        gate[g] = acc[r][g] + add;
      }
      const float i = lstm_sigmoid(gate[0]), f = lstm_sigmoid(gate[1]);
      const float gg = tanhf(gate[2]), o = lstm_sigmoid(gate[3]);
      if (p.gates_out != nullptr) {
        float* a = p.gates_out + row * p.ld_gates_out + unit;
        a[0] = i;
        a[H] = f;
        a[2 * H] = gg;
        a[3 * H] = o;
      }
      const float c = fmaf(f, p.c[row * p.ldc + unit], i * gg);
      p.c_out[row * p.ld_c_out + unit] = c;
      p.h_out[row * p.ld_h_out + unit] = o * tanhf(c);
    }
  }
}

// ---- backward through time (lstm.h's LstmBackwardStepParams, the CPU kernels' math) ----
// dh = grad_h + dG_next W_hh, (batch, H) from (batch, 4H) x (4H, H), then the gate
// derivatives in the epilogue; the same blocking as the forward (32 units x 16 rows per
// block, 128 threads of 4 rows x 1 unit), K = 4H in chunks of 16 staged in shared memory:
// dG_next [k][row] and W_hh [k][unit], read along rows of W_hh (consecutive units:
// coalesced). 4 accumulators per thread: a step is small (B x H x 4H) and serial over T.
struct LstmBackwardCudaArgs {
  const float* dgates_next = nullptr;  // (batch, 4H) dense, or nullptr (the last step)
  const float* w_hh = nullptr;         // (4H, H)
  const float* grad_h = nullptr;       // (batch, H), row stride ld_grad_h, or nullptr
  int64_t ld_grad_h = 0;
  const float* gates = nullptr;   // (batch, 4H) dense activated gates; nullptr: dh only
  const float* c = nullptr;       // (batch, H) dense c_t
  const float* c_prev = nullptr;  // (batch, H) dense c_{t-1}
  float* dc = nullptr;            // (batch, H) dense, in dc_t, out dc_{t-1}
  float* dgates = nullptr;        // (batch, 4H) dense out
  float* dh_out = nullptr;        // (batch, H) dense out, the dh-only form
  int64_t batch = 0;
  int64_t hidden = 0;
};

__global__ void PYBENCH_LSTM_LAUNCH_BOUNDS(kLstmThreads, 4)
    lstm_backward_step_kernel(LstmBackwardCudaArgs p) {
  __shared__ float a_tile[kLstmBlockK][kLstmTileRows];
  __shared__ float w_tile[kLstmBlockK][kLstmTileUnits];
  const int64_t H = p.hidden, G = 4 * H;
  const int64_t unit0 = static_cast<int64_t>(blockIdx.x) * kLstmTileUnits;
  const int64_t unit = unit0 + threadIdx.x;
  const int tid = threadIdx.y * kLstmTileUnits + threadIdx.x;
  const int64_t row_tiles = ceil_div(p.batch, kLstmTileRows);
  for (int64_t tile = blockIdx.y; tile < row_tiles; tile += gridDim.y) {
    const int64_t row0 = tile * kLstmTileRows;
    float acc[kLstmThreadRows];
    PYBENCH_LSTM_UNROLL
    for (int r = 0; r < kLstmThreadRows; ++r) acc[r] = 0.0f;
    if (p.dgates_next != nullptr) {
      for (int64_t k0 = 0; k0 < G; k0 += kLstmBlockK) {
        __syncthreads();  // the previous chunk is no longer read
        for (int e = tid; e < kLstmTileRows * kLstmBlockK; e += kLstmThreads) {
          const int r = e / kLstmBlockK, kk = e % kLstmBlockK;
          const int64_t row = row0 + r, k = k0 + kk;
          a_tile[kk][r] = row < p.batch && k < G ? p.dgates_next[row * G + k] : 0.0f;
        }
        for (int e = tid; e < kLstmTileUnits * kLstmBlockK; e += kLstmThreads) {
          const int u = e % kLstmTileUnits, kk = e / kLstmTileUnits;
          const int64_t col = unit0 + u, k = k0 + kk;
          w_tile[kk][u] = col < H && k < G ? p.w_hh[k * H + col] : 0.0f;
        }
        __syncthreads();
        PYBENCH_LSTM_UNROLL
        for (int kk = 0; kk < kLstmBlockK; ++kk) {
          const float w = w_tile[kk][threadIdx.x];
          PYBENCH_LSTM_UNROLL
          for (int r = 0; r < kLstmThreadRows; ++r) {
            acc[r] = fmaf(a_tile[kk][threadIdx.y * kLstmThreadRows + r], w, acc[r]);
          }
        }
      }
    }
    if (unit >= H) continue;  // no barrier below: masked-off units may leave early
    PYBENCH_LSTM_UNROLL
    for (int r = 0; r < kLstmThreadRows; ++r) {
      const int64_t row = row0 + threadIdx.y * kLstmThreadRows + r;
      if (row >= p.batch) break;
      const float dh = acc[r] + (p.grad_h != nullptr ? p.grad_h[row * p.ld_grad_h + unit] : 0.0f);
      if (p.gates == nullptr) {
        p.dh_out[row * H + unit] = dh;
        continue;
      }
      const float* a = p.gates + row * G + unit;
      const float i = a[0], f = a[H], g = a[2 * H], o = a[3 * H];
      const float tc = tanhf(p.c[row * H + unit]);
      const float dc = fmaf(dh * o, 1.0f - tc * tc, p.dc[row * H + unit]);
      float* d = p.dgates + row * G + unit;
      d[0] = dc * g * (i * (1.0f - i));
      d[H] = dc * p.c_prev[row * H + unit] * (f * (1.0f - f));
      d[2 * H] = dc * i * (1.0f - g * g);
      d[3 * H] = dh * tc * (o * (1.0f - o));
      p.dc[row * H + unit] = dc * f;
    }
  }
}

}  // namespace pybench::kernels::cuda
