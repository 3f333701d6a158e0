#pragma once
// CUDA Gram kernel bodies: G[b] = scale * F[b] * F[b]^T, upper-triangle tiles only.
//
// Torch-free and CUDA-runtime-free on purpose: this header includes no CUDA header and
// uses only the CUDA keywords (__global__, __shared__, threadIdx, __syncthreads, float4,
// fmaf, atomicAdd), so gram_cuda.cu launches it with nvcc and a g++ SIMT emulator can
// run the very same code on the CPU. The index math the host needs (tile decode, launch
// geometry, kernel arguments) is here too, as __host__ __device__ or plain host code.
//
// Layout (GramParams): features[b][c][l] at features + b*batch_stride + c*row_stride + l,
// rows contiguous along l; gram is a dense (batch, C, C) array.
//
// Blocking:
// - Output tile 64 x 64 per block; only tiles (ti, tj) with tj >= ti are computed, the
//   lower triangle is written as a mirror, so the result is exactly symmetric. 64 keeps
//   C = 64 (a VGG stage) one tile with no waste and wastes little at C = 128..512.
// - 128 threads, each an 8 x 4 register tile (rows i = 8*ty.., columns j = 4*tx..):
//   per k step 3 LDS.128 feed 32 FFMA, so the loop is FMA-bound, not shared-bound.
// - K (= L) in chunks of 16 staged in shared memory transposed, [k][channel], so the
//   compute phase reads channels as float4. Two buffers: the next chunk is loaded from
//   global into registers while this one is computed, one __syncthreads per chunk.
//   16 KiB static shared memory per block.
// - Split-K: when there are too few tiles to fill the GPU (C = 64 at batch 1 is ONE
//   tile), L is cut into `splits` ranges along grid y; each block atomically adds its
//   unscaled partial sums into the zero-filled upper triangle and gram_finalize_kernel
//   then scales it and mirrors it. Summation order across splits (atomics) is not fixed,
//   so split results may differ run to run in the last bits; they stay exactly symmetric.
#include <math.h>

#include <cstdint>

#include "common/index_math.h"
#include "gram/gram.h"

#if defined(__CUDACC__)
#define PYBENCH_GRAM_LAUNCH_BOUNDS(threads, blocks) __launch_bounds__(threads, blocks)
#define PYBENCH_GRAM_UNROLL _Pragma("unroll")
#else  // the emulator: plain C++
#define PYBENCH_GRAM_LAUNCH_BOUNDS(threads, blocks)
#define PYBENCH_GRAM_UNROLL
#endif

namespace pybench::kernels::cuda {

inline constexpr int kGramTile = 64;         // output tile edge (channels)
inline constexpr int kGramBlockK = 16;       // L per shared-memory chunk
inline constexpr int kGramThreads = 128;     // 16 x 8 threads
inline constexpr int kGramThreadRows = 8;    // register tile rows (i)
inline constexpr int kGramThreadCols = 4;    // register tile columns (j)
inline constexpr int kGramMinBlocksPerSm = 4;  // launch bound: caps registers at 128
// Split-K: aim for this many blocks per SM, but give every split at least this much L,
// so the atomics (one per output entry per split) stay a small share of the FMAs.
inline constexpr int kGramSplitBlocksPerSm = 3;
inline constexpr int64_t kGramMinSplitLength = 256;
inline constexpr int kGramDefaultSmCount = 132;  // H100 SXM, when the caller has none
// gram_finalize_kernel: 32 x 32 tiles through a padded shared tile, 32 x 8 threads.
inline constexpr int kGramFinalizeTile = 32;
inline constexpr int kGramFinalizeRows = 8;
inline constexpr int64_t kGramMaxGridX = 2147483647;
inline constexpr int64_t kGramMaxGridYZ = 65535;

// Tiles of edge `tile` on and above the diagonal of a C x C matrix.
__host__ __device__ inline int64_t gram_tile_count(int64_t channels, int64_t tile) {
  const int64_t n = ceil_div(channels, tile);
  return n * (n + 1) / 2;
}

struct GramTilePair {
  int64_t ti;  // tile row
  int64_t tj;  // tile column, >= ti
};

// Decodes t in [0, tile count) over the upper triangle, column by column:
// t = tj*(tj+1)/2 + ti with 0 <= ti <= tj. The square-root estimate is corrected in
// integers, so the result is exact for any t.
__host__ __device__ inline GramTilePair gram_tile_pair(int64_t t) {
  int64_t tj = static_cast<int64_t>((sqrt(8.0 * static_cast<double>(t) + 1.0) - 1.0) * 0.5);
  while (tj > 0 && tj * (tj + 1) / 2 > t) --tj;
  while ((tj + 1) * (tj + 2) / 2 <= t) ++tj;
  return GramTilePair{t - tj * (tj + 1) / 2, tj};
}

// Launch shape of both passes, plain integers (no dim3) so tests can check it anywhere.
struct GramLaunchGeometry {
  int64_t tiles = 0;         // 64 x 64 upper tiles of one map
  int64_t splits = 1;        // ranges L is cut into (grid y)
  int64_t split_length = 0;  // L per split, a multiple of kGramBlockK
  int grid_x = 0;            // tiles, clamped; the kernel loops over the rest
  int grid_y = 0;            // splits
  int grid_z = 0;            // batch, clamped to 65535; the kernel loops
  int threads = kGramThreads;
  int dynamic_smem_bytes = 0;  // shared memory is static (16 KiB)
  // gram_finalize_kernel, launched only when splits > 1, after a zero fill of gram.
  int64_t finalize_tiles = 0;  // 32 x 32 upper tiles of one map
  int finalize_grid_x = 0;
  int finalize_grid_z = 0;
  int finalize_threads_x = kGramFinalizeTile;
  int finalize_threads_y = kGramFinalizeRows;

  bool empty() const { return grid_x == 0 || grid_z == 0; }
  bool split() const { return splits > 1; }
};

__host__ __device__ inline int64_t gram_min(int64_t a, int64_t b) { return a < b ? a : b; }
__host__ __device__ inline int64_t gram_max(int64_t a, int64_t b) { return a > b ? a : b; }

// Host only (GramParams holds a std::function). sm_count sizes the split-K decision.
inline GramLaunchGeometry gram_launch_geometry(const GramParams& p,
                                               int sm_count = kGramDefaultSmCount) {
  GramLaunchGeometry g;
  if (p.batch <= 0 || p.channels <= 0) return g;
  g.tiles = gram_tile_count(p.channels, kGramTile);
  const int64_t length = gram_max(p.length, 0);
  const int64_t chunks = ceil_div(length, kGramBlockK);
  const int64_t blocks = g.tiles * p.batch;
  const int64_t target = static_cast<int64_t>(gram_max(sm_count, 1)) * kGramSplitBlocksPerSm;
  int64_t splits = 1;
  if (blocks < target) {
    const int64_t most = gram_max(length / kGramMinSplitLength, 1);
    splits = gram_min(ceil_div(target, blocks), most);
  }
  // Whole chunks per split; recount so no split is empty.
  const int64_t chunks_per_split = gram_max(ceil_div(chunks, splits), 1);
  g.splits = gram_max(ceil_div(chunks, chunks_per_split), 1);
  g.split_length = chunks_per_split * kGramBlockK;
  g.grid_x = static_cast<int>(gram_min(g.tiles, kGramMaxGridX));
  g.grid_y = static_cast<int>(gram_min(g.splits, kGramMaxGridYZ));
  g.grid_z = static_cast<int>(gram_min(p.batch, kGramMaxGridYZ));
  if (g.split()) {
    g.finalize_tiles = gram_tile_count(p.channels, kGramFinalizeTile);
    g.finalize_grid_x = static_cast<int>(gram_min(g.finalize_tiles, kGramMaxGridX));
    g.finalize_grid_z = g.grid_z;
  }
  return g;
}

// What the kernels take by value: GramParams minus its std::function, plus geometry.
struct GramKernelArgs {
  const float* features;
  float* gram;
  int64_t batch, channels, length, batch_stride, row_stride;
  int64_t tiles, splits, split_length, finalize_tiles;
  float scale;
  int vector_loads;  // 1: every row start and chunk is 16-byte aligned (float4 loads)
  int accumulate;    // 1: split-K, atomicAdd unscaled sums into the zeroed upper triangle
};

inline GramKernelArgs make_gram_kernel_args(const GramParams& p, const GramLaunchGeometry& g) {
  GramKernelArgs a{};
  a.features = p.features;
  a.gram = p.gram;
  a.batch = p.batch;
  a.channels = p.channels;
  a.length = gram_max(p.length, 0);
  a.batch_stride = p.batch_stride;
  a.row_stride = p.row_stride;
  a.tiles = g.tiles;
  a.splits = g.splits;
  a.split_length = g.split_length;
  a.finalize_tiles = g.finalize_tiles;
  a.scale = p.scale;
  // Split starts are multiples of 16 floats and loads start at multiples of 4 within
  // them, so float4 is safe when the base and both strides keep rows 16-byte aligned.
  a.vector_loads = reinterpret_cast<uintptr_t>(p.features) % 16 == 0 &&
                   p.row_stride % 4 == 0 && (p.batch <= 1 || p.batch_stride % 4 == 0);
  a.accumulate = g.split() ? 1 : 0;
  return a;
}

// p[0 .. 3], where p is a row at position k and `remaining` = k_end - k; zeros past
// k_end or when the row is past C. The common case (remaining >= 4) is one float4 load
// or four unguarded scalar loads; only the last chunk of a split pays for the guards.
__device__ inline float4 gram_load4(const float* __restrict__ p, bool row_ok,
                                    int64_t remaining, bool vector_loads) {
  float4 v;
  v.x = v.y = v.z = v.w = 0.0f;
  if (!row_ok) return v;
  if (remaining >= 4) {
    if (vector_loads) return *reinterpret_cast<const float4*>(p);
    v.x = p[0];
    v.y = p[1];
    v.z = p[2];
    v.w = p[3];
    return v;
  }
  if (remaining > 0) v.x = p[0];
  if (remaining > 1) v.y = p[1];
  if (remaining > 2) v.z = p[2];
  return v;
}

// Shared chunk layout: tile[k][16 float4] holds channels 0..63 at column k. The float4
// holding channels 4u..4u+3 sits at slot u ^ gram_swizzle(k). The loaders write one k
// column per lane for 8 channels x 4 k per warp; without the XOR those 32 stores fall
// in 8 banks (4-way conflict), with it in 32. The XOR keeps 4-channel groups whole and
// pairs (2v, 2v+1) adjacent, so the compute phase still reads plain float4s.
__host__ __device__ inline int gram_swizzle(int k) { return (k >> 2) << 1; }

// Transposes v = row[k..k+3] of channel `row` into column k..k+3 of the chunk.
__device__ inline void gram_store4(float4 (*tile)[kGramTile / 4], int row, int k, float4 v) {
  const int slot = (row >> 2) ^ gram_swizzle(k);
  float* base = reinterpret_cast<float*>(&tile[0][0]) + 4 * slot + (row & 3);
  base[(k + 0) * kGramTile] = v.x;
  base[(k + 1) * kGramTile] = v.y;
  base[(k + 2) * kGramTile] = v.z;
  base[(k + 3) * kGramTile] = v.w;
}

// One block: tiles blockIdx.x (+ gridDim.x ...) of split blockIdx.y of map blockIdx.z.
// Expects blockDim = (kGramThreads, 1, 1).
__global__ void PYBENCH_GRAM_LAUNCH_BOUNDS(kGramThreads, kGramMinBlocksPerSm)
    gram_kernel(const GramKernelArgs args) {
  __shared__ float4 a_tile[2][kGramBlockK][kGramTile / 4];
  __shared__ float4 b_tile[2][kGramBlockK][kGramTile / 4];

  const int64_t C = args.channels;
  const bool vec = args.vector_loads != 0;
  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % 16;  // columns j0 + 4*tx ..
  const int ty = tid / 16;  // rows i0 + 8*ty ..
  // Loaders: channels load_row and load_row + 32, 4 floats from k = load_k.
  const int load_row = tid / 4;
  const int load_k = (tid % 4) * 4;

  for (int64_t b = blockIdx.z; b < args.batch; b += gridDim.z) {
    const float* __restrict__ fmap = args.features + b * args.batch_stride;
    float* __restrict__ gmap = args.gram + b * C * C;
    for (int64_t s = blockIdx.y; s < args.splits; s += gridDim.y) {
      const int64_t k_begin = s * args.split_length;
      const int64_t k_end = gram_min(args.length, k_begin + args.split_length);
      const int64_t chunks = k_end > k_begin ? (k_end - k_begin + kGramBlockK - 1) / kGramBlockK : 0;
      for (int64_t t = blockIdx.x; t < args.tiles; t += gridDim.x) {
        const GramTilePair tp = gram_tile_pair(t);
        const int64_t i0 = tp.ti * kGramTile;
        const int64_t j0 = tp.tj * kGramTile;
        // On a diagonal tile both operands are the same 64 rows: load them once.
        const bool diag = tp.ti == tp.tj;

        // Loader pointers: channel row + this thread's first k, advanced a chunk at a time.
        // A row past C is never read (its pointer stays on row 0).
        const float* a_ptr[2];
        const float* b_ptr[2];
        bool a_ok[2], b_ok[2];
        PYBENCH_GRAM_UNROLL
        for (int h = 0; h < 2; ++h) {
          const int64_t ci = i0 + load_row + 32 * h;
          const int64_t cj = j0 + load_row + 32 * h;
          a_ok[h] = ci < C;
          b_ok[h] = cj < C && !diag;
          a_ptr[h] = fmap + (a_ok[h] ? ci : 0) * args.row_stride + k_begin + load_k;
          b_ptr[h] = fmap + (b_ok[h] ? cj : 0) * args.row_stride + k_begin + load_k;
        }

        float acc[kGramThreadRows][kGramThreadCols];
        PYBENCH_GRAM_UNROLL
        for (int r = 0; r < kGramThreadRows; ++r) {
          PYBENCH_GRAM_UNROLL
          for (int c = 0; c < kGramThreadCols; ++c) acc[r][c] = 0.0f;
        }

        if (chunks > 0) {
          float4 a_next[2], b_next[2];
          // L left from this thread's first k of the chunk in flight.
          int64_t remaining = k_end - k_begin - load_k;
          // Prologue: chunk 0 into buffer 0.
          PYBENCH_GRAM_UNROLL
          for (int h = 0; h < 2; ++h) {
            a_next[h] = gram_load4(a_ptr[h], a_ok[h], remaining, vec);
            b_next[h] = gram_load4(b_ptr[h], b_ok[h], remaining, vec);
            gram_store4(a_tile[0], load_row + 32 * h, load_k, a_next[h]);
            if (!diag) gram_store4(b_tile[0], load_row + 32 * h, load_k, b_next[h]);
          }
          __syncthreads();

          for (int64_t chunk = 0; chunk < chunks; ++chunk) {
            const int buf = static_cast<int>(chunk & 1);
            const bool more = chunk + 1 < chunks;
            // Issue the next chunk's global loads now; they land during the FMAs below.
            if (more) {
              remaining -= kGramBlockK;
              PYBENCH_GRAM_UNROLL
              for (int h = 0; h < 2; ++h) {
                a_ptr[h] += kGramBlockK;
                b_ptr[h] += kGramBlockK;
                a_next[h] = gram_load4(a_ptr[h], a_ok[h], remaining, vec);
                b_next[h] = gram_load4(b_ptr[h], b_ok[h], remaining, vec);
              }
            }
            float4 (*as)[kGramTile / 4] = a_tile[buf];
            float4 (*bs)[kGramTile / 4] = diag ? a_tile[buf] : b_tile[buf];
            PYBENCH_GRAM_UNROLL
            for (int k = 0; k < kGramBlockK; ++k) {
              const int sw = gram_swizzle(k);
              // 2 broadcast reads (2 distinct ty per warp) and 1 read of 16 float4s.
              const float4 a_lo = as[k][(2 * ty) ^ sw];
              const float4 a_hi = as[k][(2 * ty + 1) ^ sw];
              const float4 bv = bs[k][tx ^ sw];
              const float a[kGramThreadRows] = {a_lo.x, a_lo.y, a_lo.z, a_lo.w,
                                                a_hi.x, a_hi.y, a_hi.z, a_hi.w};
              const float bb[kGramThreadCols] = {bv.x, bv.y, bv.z, bv.w};
              PYBENCH_GRAM_UNROLL
              for (int r = 0; r < kGramThreadRows; ++r) {
                PYBENCH_GRAM_UNROLL
                for (int c = 0; c < kGramThreadCols; ++c) acc[r][c] = fmaf(a[r], bb[c], acc[r][c]);
              }
            }
            // The other buffer was last read before the previous barrier: safe to fill.
            if (more) {
              PYBENCH_GRAM_UNROLL
              for (int h = 0; h < 2; ++h) {
                gram_store4(a_tile[buf ^ 1], load_row + 32 * h, load_k, a_next[h]);
                if (!diag) gram_store4(b_tile[buf ^ 1], load_row + 32 * h, load_k, b_next[h]);
              }
            }
            // Also guards the buffers against the next tile's prologue.
            __syncthreads();
          }
        }

        // Epilogue: entries with i <= j only; off the diagonal also the mirror (j, i).
        // With split-K, unscaled atomic adds to the upper triangle (finalize mirrors).
        PYBENCH_GRAM_UNROLL
        for (int r = 0; r < kGramThreadRows; ++r) {
          const int64_t i = i0 + kGramThreadRows * ty + r;
          PYBENCH_GRAM_UNROLL
          for (int c = 0; c < kGramThreadCols; ++c) {
            const int64_t j = j0 + kGramThreadCols * tx + c;
            if (i >= C || j >= C || j < i) continue;
            if (args.accumulate) {
              atomicAdd(gmap + i * C + j, acc[r][c]);
            } else {
              const float v = acc[r][c] * args.scale;
              gmap[i * C + j] = v;
              if (i != j) gmap[j * C + i] = v;
            }
          }
        }
      }
    }
  }
}

// Split-K second pass: G[i][j] *= scale for i <= j, then G[j][i] = G[i][j], over 32 x 32
// upper tiles staged in a padded shared tile (33 columns: the transposed read is
// conflict-free) so both the row and the mirrored column writes are coalesced.
// Expects blockDim = (kGramFinalizeTile, kGramFinalizeRows, 1), grid (tiles, 1, batch).
__global__ void PYBENCH_GRAM_LAUNCH_BOUNDS(kGramFinalizeTile * kGramFinalizeRows, 1)
    gram_finalize_kernel(const GramKernelArgs args) {
  __shared__ float tile[kGramFinalizeTile][kGramFinalizeTile + 1];
  const int64_t C = args.channels;
  const int x = static_cast<int>(threadIdx.x);
  const int y = static_cast<int>(threadIdx.y);
  for (int64_t b = blockIdx.z; b < args.batch; b += gridDim.z) {
    float* __restrict__ gmap = args.gram + b * C * C;
    for (int64_t t = blockIdx.x; t < args.finalize_tiles; t += gridDim.x) {
      const GramTilePair tp = gram_tile_pair(t);
      const int64_t i0 = tp.ti * kGramFinalizeTile;
      const int64_t j0 = tp.tj * kGramFinalizeTile;
      for (int r = y; r < kGramFinalizeTile; r += kGramFinalizeRows) {
        const int64_t i = i0 + r;
        const int64_t j = j0 + x;
        if (i < C && j < C && i <= j) {
          const float v = gmap[i * C + j] * args.scale;
          gmap[i * C + j] = v;
          tile[r][x] = v;
        }
      }
      __syncthreads();
      for (int r = y; r < kGramFinalizeTile; r += kGramFinalizeRows) {
        const int64_t i = i0 + x;  // G[j][i] with j = j0 + r mirrors G[i][j]
        const int64_t j = j0 + r;
        if (i < C && j < C && i < j) gmap[j * C + i] = tile[x][r];
      }
      __syncthreads();
    }
  }
}

}  // namespace pybench::kernels::cuda
