#pragma once
// Example kernel of the SIMT emulator, and the model its planted-bug copies start from
// (tests/simt/planted_bugs.cuh): out = in^T through a shared-memory tile, the classic
// coalesced transpose.
//
// in is rows x cols, out is cols x rows, both row-major and dense. A block of
// kTransposeTile x kTransposeRows threads moves one 32 x 32 tile: it reads 32 rows of
// `in` coalesced into the tile, waits for the whole tile, and writes it back transposed,
// again coalesced. The tile has 33 columns so the column reads hit 32 distinct banks.
// Grid: (ceil(cols / 32), ceil(rows / 32)); edge tiles are guarded on both sides.
// Plain CUDA: the same file compiles with nvcc.

namespace pybench::simt::examples {

inline constexpr int kTransposeTile = 32;
inline constexpr int kTransposeRows = 8;  // threads per block: 32 x 8, 4 rows each

__global__ void transpose_kernel(const float* __restrict__ in, float* __restrict__ out, int rows,
                                 int cols) {
  __shared__ float tile[kTransposeTile][kTransposeTile + 1];
  int x = blockIdx.x * kTransposeTile + threadIdx.x;  // column of `in`
  int y = blockIdx.y * kTransposeTile + threadIdx.y;  // row of `in`
  for (int j = 0; j < kTransposeTile; j += kTransposeRows) {
    if (x < cols && y + j < rows) tile[threadIdx.y + j][threadIdx.x] = in[(y + j) * cols + x];
  }
  __syncthreads();
  x = blockIdx.y * kTransposeTile + threadIdx.x;  // column of `out` (a row of `in`)
  y = blockIdx.x * kTransposeTile + threadIdx.y;  // row of `out`
  for (int j = 0; j < kTransposeTile; j += kTransposeRows) {
    if (x < rows && y + j < cols) out[(y + j) * rows + x] = tile[threadIdx.x][threadIdx.y + j];
  }
}

}  // namespace pybench::simt::examples
