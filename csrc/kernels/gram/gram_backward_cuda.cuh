#pragma once
// CUDA kernel body of the Gram backward: dF[b] = scale * (dG[b] + dG[b]^T) * F[b].
//
// Torch-free and CUDA-runtime-free like gram_cuda.cuh (CUDA keywords only), so
// gram_backward_cuda.cu launches it with nvcc and the SIMT emulator runs the very same code
// on the CPU (tests/simt/gram_backward_simt_test.cc). The host's launch geometry and kernel
// arguments are here too, as plain host code the emulator test shares.
//
// Layout (GramBackwardParams): grad dG a dense (batch, C, C) array; features
// F[b][j][l] at features + b*batch_stride + j*row_stride + l, rows contiguous along l;
// grad_features dF a dense (batch, C, L) array.
//
// Blocking: one (C x C) x (C x L) product per map, a classic shared-memory tiled GEMM.
// - Output tile 64 rows (i) x 64 columns (l) per block: grid x walks L, grid y C, grid z
//   the batch, so blocks running side by side share the 64-row panel of dG in L2.
// - 256 threads, each a 4 x 4 register tile (rows 4*ty.., columns 4*tx..): per k step
//   one broadcast LDS.128 of S and one LDS.128 of F feed 16 FFMA.
// - K (= j over C) in chunks of 16 staged in shared memory as [k][i] and [k][l], so the
//   compute phase reads float4s. Two buffers: the next chunk is loaded from global into
//   registers while this one is computed, one __syncthreads per chunk; 16 KiB static
//   shared memory per block.
// - S = dG + dG^T is formed while staging, never stored: a loader thread owns (i, j) and
//   reads both dG[j][i] (consecutive i across the warp: coalesced) and dG[i][j] (one row
//   per lane). The second read touches 32 rows per warp instruction, but the 16 reads a
//   row gets per chunk (4 warps x 4 j) fall in the same 64 bytes, so it moves no more
//   bytes from L2 than the coalesced half; only L1 sees more requests. One thread owning
//   both halves is what lets the sum be formed without a second barrier.
// - `scale` multiplies the 16 results of a thread once in the epilogue rather than every
//   staged S element.
// - Scalar global loads throughout: any row_stride, batch_stride and base alignment work,
//   and a warp's F loads are already 32 consecutive floats (128 bytes).
// - No split-K: every output element is written once by one block, in a fixed summation
//   order, so results are reproducible run to run.
#include <cstdint>

#include "common/index_math.h"
#include "gram/gram.h"

#if defined(__CUDACC__)
#define PYBENCH_GRAM_BWD_LAUNCH_BOUNDS(threads, blocks) __launch_bounds__(threads, blocks)
#define PYBENCH_GRAM_BWD_UNROLL _Pragma("unroll")
#else  // the emulator: plain C++
#define PYBENCH_GRAM_BWD_LAUNCH_BOUNDS(threads, blocks)
#define PYBENCH_GRAM_BWD_UNROLL
#endif

namespace pybench::kernels::cuda {

inline constexpr int kGramBwdTileRows = 64;   // output rows i (channels) per block
inline constexpr int kGramBwdTileCols = 64;   // output columns l per block
inline constexpr int kGramBwdBlockK = 16;     // j per shared-memory chunk
inline constexpr int kGramBwdThreads = 256;   // 16 x 16 threads
inline constexpr int kGramBwdThreadRows = 4;  // register tile rows (i)
inline constexpr int kGramBwdThreadCols = 4;  // register tile columns (l)
// Launch bound: 3 resident blocks of 256 threads (24 warps to hide the global loads), which
// caps registers at 80. ptxas fits the kernel in that without spills; left free it takes
// ~114, room for only 2 blocks. 4 blocks (64 registers) spill on sm_80.
inline constexpr int kGramBwdMinBlocksPerSm = 3;
inline constexpr int64_t kGramBwdMaxGridX = 2147483647;
inline constexpr int64_t kGramBwdMaxGridYZ = 65535;
// Each thread stages this many S and F elements per chunk: one per 64-wide row of the
// chunk, rows tid / 64 + 4 * r.
inline constexpr int kGramBwdLoadRows = kGramBwdThreads / kGramBwdTileRows;            // 4
inline constexpr int kGramBwdLoadsPerThread = kGramBwdBlockK / kGramBwdLoadRows;       // 4
inline constexpr int kGramBwdThreadsX = kGramBwdTileCols / kGramBwdThreadCols;         // 16
static_assert(kGramBwdTileRows == kGramBwdTileCols,
              "the loaders use one 64-wide index for both S rows (i) and F columns (l)");
static_assert(kGramBwdThreadsX * (kGramBwdTileRows / kGramBwdThreadRows) == kGramBwdThreads,
              "the register tiles must cover the output tile exactly");
static_assert(kGramBwdLoadRows * kGramBwdLoadsPerThread == kGramBwdBlockK,
              "the loaders must cover every row of a chunk exactly once");

// Launch shape, plain integers (no dim3) so tests can check it anywhere.
struct GramBackwardLaunchGeometry {
  int64_t row_tiles = 0;  // 64-row tiles of C
  int64_t col_tiles = 0;  // 64-column tiles of L
  int grid_x = 0;         // col_tiles, clamped; the kernel loops over the rest
  int grid_y = 0;         // row_tiles, clamped to 65535; the kernel loops
  int grid_z = 0;         // batch, clamped to 65535; the kernel loops
  int threads = kGramBwdThreads;
  int dynamic_smem_bytes = 0;  // shared memory is static (16 KiB)

  bool empty() const { return grid_x == 0 || grid_y == 0 || grid_z == 0; }
};

inline int64_t gram_bwd_min(int64_t a, int64_t b) { return a < b ? a : b; }

// Host only (GramBackwardParams holds a std::function). Empty when any extent is 0: then
// dF has no elements (C or L is 0) or every product is an empty sum over no map.
inline GramBackwardLaunchGeometry gram_backward_launch_geometry(const GramBackwardParams& p) {
  GramBackwardLaunchGeometry g;
  if (p.batch <= 0 || p.channels <= 0 || p.length <= 0) return g;
  g.row_tiles = ceil_div(p.channels, kGramBwdTileRows);
  g.col_tiles = ceil_div(p.length, kGramBwdTileCols);
  g.grid_x = static_cast<int>(gram_bwd_min(g.col_tiles, kGramBwdMaxGridX));
  g.grid_y = static_cast<int>(gram_bwd_min(g.row_tiles, kGramBwdMaxGridYZ));
  g.grid_z = static_cast<int>(gram_bwd_min(p.batch, kGramBwdMaxGridYZ));
  return g;
}

// What the kernel takes by value: GramBackwardParams minus its std::function, plus the
// tile counts its block-stride loops run to.
struct GramBackwardKernelArgs {
  const float* grad;
  const float* features;
  float* grad_features;
  int64_t batch, channels, length, batch_stride, row_stride;
  int64_t row_tiles, col_tiles;
  float scale;
};

inline GramBackwardKernelArgs make_gram_backward_kernel_args(
    const GramBackwardParams& p, const GramBackwardLaunchGeometry& g) {
  GramBackwardKernelArgs a{};
  a.grad = p.grad;
  a.features = p.features;
  a.grad_features = p.grad_features;
  a.batch = p.batch;
  a.channels = p.channels;
  a.length = p.length;
  a.batch_stride = p.batch_stride;
  a.row_stride = p.row_stride;
  a.row_tiles = g.row_tiles;
  a.col_tiles = g.col_tiles;
  a.scale = p.scale;
  return a;
}

// A thread's share of one chunk, held in registers from the global loads until the
// previous chunk's FMAs are done: the two halves of S stay apart so the loads are not
// waited for until the store.
struct GramBwdStage {
  float upper[kGramBwdLoadsPerThread];  // dG[i][j]
  float lower[kGramBwdLoadsPerThread];  // dG[j][i]
  float f[kGramBwdLoadsPerThread];      // F[j][l]
};

// Loads the chunk starting at j0: row j = j0 + load_k + 4*r of the chunk, S column i and
// F column l (both this thread's 64-wide index). Zeros past C or L, so tails add nothing.
__device__ inline void gram_bwd_load(const float* __restrict__ dg, const float* __restrict__ f,
                                     int64_t C, int64_t row_stride, int64_t i, bool i_ok,
                                     int64_t l, bool l_ok, int64_t j0, int load_k,
                                     GramBwdStage& st) {
  PYBENCH_GRAM_BWD_UNROLL
  for (int r = 0; r < kGramBwdLoadsPerThread; ++r) {
    const int64_t j = j0 + load_k + kGramBwdLoadRows * r;
    const bool j_ok = j < C;
    st.upper[r] = i_ok && j_ok ? dg[i * C + j] : 0.0f;
    st.lower[r] = i_ok && j_ok ? dg[j * C + i] : 0.0f;
    st.f[r] = j_ok && l_ok ? f[j * row_stride + l] : 0.0f;
  }
}

// Writes a staged chunk into one buffer: S[k][i] and F[k][l]. Lanes of a warp write 32
// consecutive floats of one row: conflict-free.
__device__ inline void gram_bwd_store(float4 (*s_tile)[kGramBwdTileRows / 4],
                                      float4 (*f_tile)[kGramBwdTileCols / 4], int load_k,
                                      int load_x, const GramBwdStage& st) {
  float* s = reinterpret_cast<float*>(&s_tile[0][0]);
  float* f = reinterpret_cast<float*>(&f_tile[0][0]);
  PYBENCH_GRAM_BWD_UNROLL
  for (int r = 0; r < kGramBwdLoadsPerThread; ++r) {
    const int k = load_k + kGramBwdLoadRows * r;
    s[k * kGramBwdTileRows + load_x] = st.upper[r] + st.lower[r];
    f[k * kGramBwdTileCols + load_x] = st.f[r];
  }
}

// One block: output tiles (blockIdx.y, blockIdx.x) (+ gridDim strides) of map blockIdx.z
// (+ gridDim.z ...). Expects blockDim = (kGramBwdThreads, 1, 1).
__global__ void PYBENCH_GRAM_BWD_LAUNCH_BOUNDS(kGramBwdThreads, kGramBwdMinBlocksPerSm)
    gram_backward_kernel(const GramBackwardKernelArgs args) {
  __shared__ float4 s_tile[2][kGramBwdBlockK][kGramBwdTileRows / 4];
  __shared__ float4 f_tile[2][kGramBwdBlockK][kGramBwdTileCols / 4];

  const int64_t C = args.channels;
  const int64_t L = args.length;
  const int64_t chunks = ceil_div(C, kGramBwdBlockK);
  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % kGramBwdThreadsX;  // columns l0 + 4*tx ..
  const int ty = tid / kGramBwdThreadsX;  // rows i0 + 4*ty ..
  // Loaders: S column / F column load_x of chunk rows load_k + 4*r.
  const int load_x = tid % kGramBwdTileRows;
  const int load_k = tid / kGramBwdTileRows;

  for (int64_t b = blockIdx.z; b < args.batch; b += gridDim.z) {
    const float* __restrict__ dg = args.grad + b * C * C;
    const float* __restrict__ fmap = args.features + b * args.batch_stride;
    float* __restrict__ dfmap = args.grad_features + b * C * L;
    for (int64_t ti = blockIdx.y; ti < args.row_tiles; ti += gridDim.y) {
      const int64_t i0 = ti * kGramBwdTileRows;
      const int64_t load_i = i0 + load_x;
      const bool i_ok = load_i < C;
      for (int64_t tl = blockIdx.x; tl < args.col_tiles; tl += gridDim.x) {
        const int64_t l0 = tl * kGramBwdTileCols;
        const int64_t load_l = l0 + load_x;
        const bool l_ok = load_l < L;

        float acc[kGramBwdThreadRows][kGramBwdThreadCols];
        PYBENCH_GRAM_BWD_UNROLL
        for (int r = 0; r < kGramBwdThreadRows; ++r) {
          PYBENCH_GRAM_BWD_UNROLL
          for (int c = 0; c < kGramBwdThreadCols; ++c) acc[r][c] = 0.0f;
        }

        // Prologue: chunk 0 into buffer 0 (C >= 1, so there is one).
        GramBwdStage st;
        gram_bwd_load(dg, fmap, C, args.row_stride, load_i, i_ok, load_l, l_ok, 0, load_k, st);
        gram_bwd_store(s_tile[0], f_tile[0], load_k, load_x, st);
        __syncthreads();

        for (int64_t chunk = 0; chunk < chunks; ++chunk) {
          const int buf = static_cast<int>(chunk & 1);
          const bool more = chunk + 1 < chunks;
          // Issue the next chunk's global loads now; they land during the FMAs below.
          if (more) {
            gram_bwd_load(dg, fmap, C, args.row_stride, load_i, i_ok, load_l, l_ok,
                          (chunk + 1) * kGramBwdBlockK, load_k, st);
          }
          PYBENCH_GRAM_BWD_UNROLL
          for (int k = 0; k < kGramBwdBlockK; ++k) {
            // S: 2 distinct float4s per warp (broadcast); F: 16 consecutive float4s.
            const float4 sv = s_tile[buf][k][ty];
            const float4 fv = f_tile[buf][k][tx];
            const float a[kGramBwdThreadRows] = {sv.x, sv.y, sv.z, sv.w};
            const float bb[kGramBwdThreadCols] = {fv.x, fv.y, fv.z, fv.w};
            PYBENCH_GRAM_BWD_UNROLL
            for (int r = 0; r < kGramBwdThreadRows; ++r) {
              PYBENCH_GRAM_BWD_UNROLL
              for (int c = 0; c < kGramBwdThreadCols; ++c) acc[r][c] = fmaf(a[r], bb[c], acc[r][c]);
            }
          }
          // The other buffer was last read before the previous barrier: safe to fill.
          if (more) gram_bwd_store(s_tile[buf ^ 1], f_tile[buf ^ 1], load_k, load_x, st);
          // Also guards the buffers against the next tile's prologue.
          __syncthreads();
        }

        PYBENCH_GRAM_BWD_UNROLL
        for (int r = 0; r < kGramBwdThreadRows; ++r) {
          const int64_t i = i0 + kGramBwdThreadRows * ty + r;
          if (i >= C) continue;
          float* __restrict__ row = dfmap + i * L;
          PYBENCH_GRAM_BWD_UNROLL
          for (int c = 0; c < kGramBwdThreadCols; ++c) {
            const int64_t l = l0 + kGramBwdThreadCols * tx + c;
            if (l < L) row[l] = acc[r][c] * args.scale;
          }
        }
      }
    }
  }
}

}  // namespace pybench::kernels::cuda
