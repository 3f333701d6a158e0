#pragma once
// CUDA conv2d kernel bodies: an implicit-GEMM convolution (FP32 SIMT) and a direct
// kernel for depthwise-like groups.
//
// Torch-free and CUDA-runtime-free on purpose, like gram_cuda.cuh: only CUDA keywords
// (__global__, __shared__, threadIdx, __syncthreads, float4, fmaf, atomicAdd, __ldg), so
// conv2d_cuda.cu launches it with nvcc and the SIMT emulator runs the same code on the
// CPU. The index math the host needs (reduction-index walk, batch slicing, launch
// geometry, kernel arguments) lives here too, as __host__ __device__ or host code.
//
// Layout: Conv2dParams (conv2d.h) -- NCHW input and output, OIHW weights, top/left
// padding in pad_h/pad_w, the bottom/right padding implied by out_h/out_w.
//
// The GEMM, per group g (Cg = in_channels / groups, Kg = out_channels / groups):
//   C[m][n] = sum_k A[m][k] * B[k][n]     M = Kg, N = batch * out_h * out_w, K = Cg * R * S
//   A[m][k] = weight[g*Kg + m][k]          OIHW rows are already k-contiguous: no packing
//   B[k][n] = input(image, g*Cg + c, oy*sh - ph + r*dh, ox*sw - pw + s*dw), zero outside,
//             with k = (c*R + r)*S + s and n = (image*out_h + oy)*out_w + ox
// B is never materialised: each stage gathers its slice from the input (im2col on the
// fly). k runs over (c, r, s) in OIHW order rather than CUTLASS's (r, s, c) so the
// channel count never pads the reduction: C = 3, 7x7 is K = 147, 10 stages of 16, not
// 49 stages each padded from 3 channels to 16.
//
// Blocking of conv2d_gemm_kernel:
// - Block tile 64 (M, output channels) x 64 (N, output pixels), 128 threads, each an 8 x 4
//   register tile (channels 8*ty.., pixels 4*tx..): per k step 3 LDS.128 feed 32 FFMA.
//   64 covers the 64-channel ResNet/VGG stages with no waste on M.
// - K in stages of 16, double-buffered in 16 KiB of static shared memory: the next
//   stage's global loads are issued into registers before this stage's FMAs and stored
//   to the other buffer after them, one __syncthreads per stage.
//   Both stages are [k][64]: A transposed ([k][channel]), B as gathered ([k][pixel]).
// - A loaders: thread t loads 4 consecutive k (a float4 when rows are 16-byte aligned) of
//   weight rows t % 32 and t % 32 + 32, so a warp's transposing stores cover 32
//   consecutive channels (conflict-free, no swizzle) at the price of 16-byte global
//   segments per lane; weights are small and stay in L1/L2 across the pixel tiles.
// - B loaders: thread t owns pixel column t % 64 for the whole tile (decoded once per
//   tile) and 8 consecutive k rows (t / 64) * 8 of every stage, so a warp reads 32
//   consecutive pixels of one (c, r, s): coalesced for stride 1. The thread walks its
//   rows with Conv2dWalk, mixed-radix digits with precomputed steps: no division in the
//   loop, and the walk is warp-uniform, so its carries never diverge.
// - 1x1 / stride 1 / no padding ("pointwise") is its own instantiation: B rows are plain
//   input channel planes, one offset add per element.
// - Split-K (grid z = groups x splits): when the output tiles cannot fill the GPU (batch 1
//   at 7x7 has ONE pixel tile) the reduction is cut into ranges of whole stages; the
//   launcher zero-fills the output and every split atomically adds its partial sums
//   (split 0 adds the bias and the residual). The summation order across splits is then
//   not fixed.
// - Epilogue (Conv2dParams: out = act(conv + bias + residual)): on the register tile
//   before its store. With split-K no split knows when the sum is complete, so the
//   activation is a pass of its own after the GEMM (conv2d_activation_kernel, launched
//   only for a split convolution with an activation); it reads and writes an output too
//   small to fill the GPU with tiles, by the split-K condition.
// - Grid (pixel tiles, channel tiles, groups x splits) clamped to the CUDA limits; every
//   axis is a block-stride loop, so any shape runs on a clamped grid.
// - 128 registers (4 blocks of 128 threads per SM), no spills: the index state is 32-bit
//   wherever conv2d_cuda_unsupported and the batch slicing below make that exact.
// conv2d_direct_kernel (Cg == 1 and Kg small: depthwise, channel multipliers) gives each
// thread one output and loops over its taps: the GEMM tile would be 1/64 useful there.
// Threads run over one image's flattened (channel, pixel) outputs (grid x; images on
// grid y), decoded with multiply-high divisions (Conv2dDivisor), so MobileNet's 7x7
// planes fill whole blocks. Its epilogue is the GEMM's, per output.
//
// Index widths: one input plane, one group's channels of an input image, one output
// plane, one reduction and the padded extents fit int32 (conv2d_cuda_unsupported); the
// launcher runs the batch in slices of at most kConv2dMaxPixelsPerLaunch output pixels
// (conv2d_images_per_launch), so pixel indices are int32 too. Image, channel-plane and
// weight-row offsets are int64.
#include <cstdint>

#include "common/activation.h"
#include "common/index_math.h"
#include "conv2d/conv2d.h"

#if defined(__CUDACC__)
#define PYBENCH_CONV2D_LAUNCH_BOUNDS(threads, blocks) __launch_bounds__(threads, blocks)
#define PYBENCH_CONV2D_UNROLL _Pragma("unroll")
#else  // the emulator: plain C++
#define PYBENCH_CONV2D_LAUNCH_BOUNDS(threads, blocks)
#define PYBENCH_CONV2D_UNROLL
#endif

namespace pybench::kernels::cuda {

inline constexpr int kConv2dTileM = 64;      // output channels per block tile
inline constexpr int kConv2dTileN = 64;      // output pixels per block tile
inline constexpr int kConv2dTileK = 16;      // reduction per shared-memory stage
inline constexpr int kConv2dThreads = 128;   // 16 x 8 threads
inline constexpr int kConv2dThreadRows = 8;  // register tile rows (output channels)
inline constexpr int kConv2dThreadCols = 4;  // register tile columns (output pixels)
inline constexpr int kConv2dMinBlocksPerSm = 4;  // launch bound: caps registers at 128
// B loader: rows of a stage per thread, (16 x 64) / 128.
inline constexpr int kConv2dLoadRows = kConv2dTileK * kConv2dTileN / kConv2dThreads;
// Split-K when the output tiles give fewer than this many blocks per SM (up to that many),
// giving every split at least kConv2dMinSplitLength of K so the atomics (one per output
// per split) stay a small share of the FMAs. Above it the zero fill and the atomics are
// assumed not to pay for the extra blocks; both constants are first guesses, to be tuned
// on a GPU (the emulator says nothing about speed).
inline constexpr int kConv2dSplitBlocksPerSm = 2;
inline constexpr int64_t kConv2dMinSplitLength = 256;
inline constexpr int kConv2dDefaultSmCount = 132;  // H100 SXM, when the caller has none
// conv2d_direct_kernel: one output per thread; used when Cg == 1 and Kg <= this (and one
// image's outputs, out_channels * out_h * out_w, fit int32).
inline constexpr int kConv2dDirectThreads = 256;
inline constexpr int64_t kConv2dDirectMaxOutPerGroup = 8;
inline constexpr int64_t kConv2dMaxGridX = 2147483647;
inline constexpr int64_t kConv2dMaxGridYZ = 65535;
inline constexpr int64_t kConv2dMaxInt = 2147483647;
// Output pixels (batch * out_h * out_w) of one launch: tile starts plus a tile stay int32.
inline constexpr int64_t kConv2dMaxPixelsPerLaunch = int64_t{1} << 30;

__host__ __device__ inline int64_t conv2d_min(int64_t a, int64_t b) { return a < b ? a : b; }
__host__ __device__ inline int64_t conv2d_max(int64_t a, int64_t b) { return a > b ? a : b; }

// Division by a run-time constant 1 <= d < 2^31 as a multiply-high, an add and a shift
// (Granlund & Montgomery 1994, round-up variant): with l = ceil(log2 d) and
// mul = floor(2^32 (2^l - d) / d) + 1, n / d = (mulhi(n, mul) + n) >> l exactly for every
// n < 2^31 (mulhi <= n, so the sum fits 32 bits). The direct kernel decodes each output's
// (channel, row, column) with three of these instead of ~20-instruction divisions.
struct Conv2dDivisor {
  unsigned d, mul, shift;
};

__host__ __device__ inline Conv2dDivisor conv2d_divisor(unsigned d) {
  unsigned shift = 0;
  while ((uint64_t{1} << shift) < d) ++shift;
  const uint64_t mul = (uint64_t{1} << 32) * ((uint64_t{1} << shift) - d) / d + 1;
  return Conv2dDivisor{d, static_cast<unsigned>(mul), shift};
}

// n / v.d for n < 2^31.
__host__ __device__ inline unsigned conv2d_div(unsigned n, const Conv2dDivisor& v) {
  const unsigned hi = static_cast<unsigned>((static_cast<uint64_t>(n) * v.mul) >> 32);
  return (hi + n) >> v.shift;
}

// A reduction index k = (c * R + r) * S + s as the B loaders see it: the tap's input
// coordinates relative to the pixel's tap (0, 0), ry = r * dh and sx = s * dw, and its
// offset off = c * H * W + ry * W + sx. off is unsigned: it wraps harmlessly when a tap
// far into the padding makes ry * W large; pixel offset + off is exact whenever the
// bounds check passes (the only time it is used).
struct Conv2dWalk {
  int ry, sx;
  unsigned off;
};

// What conv2d_walk_add needs besides the step: the radices ry < ry_end, sx < sx_end and
// what a carry out of each digit does to the offset.
struct Conv2dWalkRadix {
  int sx_end;           // S * dw
  int ry_end;           // R * dh
  int dh;               // a carry out of sx adds dh to ry ...
  unsigned carry_s;     // ... and dh * W - S * dw to off
  unsigned carry_r;     // a carry out of ry: H * W - R * dh * W (next channel)
};

// The walk at reduction index k (0 <= k < 2^31, R * S < 2^31, R * dh and S * dw < 2^31).
__host__ __device__ inline Conv2dWalk conv2d_walk_at(int k, int R, int S, int dh, int dw,
                                                     int in_w, int in_hw) {
  const int rs = R * S;
  const int c = k / rs;
  const int rem = k - c * rs;
  const int r = rem / S;
  const int s = rem - r * S;
  Conv2dWalk w;
  w.ry = r * dh;
  w.sx = s * dw;
  w.off = static_cast<unsigned>(c) * static_cast<unsigned>(in_hw) +
          static_cast<unsigned>(w.ry) * static_cast<unsigned>(in_w) + static_cast<unsigned>(w.sx);
  return w;
}

__host__ __device__ inline Conv2dWalkRadix conv2d_walk_radix(int R, int S, int dh, int dw,
                                                             int in_w, int in_hw) {
  Conv2dWalkRadix x;
  x.sx_end = S * dw;
  x.ry_end = R * dh;
  x.dh = dh;
  x.carry_s = static_cast<unsigned>(dh) * static_cast<unsigned>(in_w) -
              static_cast<unsigned>(x.sx_end);
  x.carry_r = static_cast<unsigned>(in_hw) -
              static_cast<unsigned>(x.ry_end) * static_cast<unsigned>(in_w);
  return x;
}

// w advanced by a constant d, given as step = conv2d_walk_at(d, ...): every digit of step
// is below its radix, so one conditional carry per digit is exact, for any d.
__host__ __device__ inline Conv2dWalk conv2d_walk_add(Conv2dWalk w, const Conv2dWalk& step,
                                                      const Conv2dWalkRadix& x) {
  w.sx += step.sx;
  w.ry += step.ry;
  w.off += step.off;
  if (w.sx >= x.sx_end) {
    w.sx -= x.sx_end;
    w.ry += x.dh;
    w.off += x.carry_s;
  }
  if (w.ry >= x.ry_end) {
    w.ry -= x.ry_end;
    w.off += x.carry_r;
  }
  return w;
}

enum class Conv2dAlgo : int {
  kAuto = 0,    // conv2d_launch_geometry picks
  kGemm = 1,    // conv2d_gemm_kernel
  kDirect = 2,  // conv2d_direct_kernel
};

// Why the CUDA kernels cannot run p (an int32 index would overflow), or nullptr. Every
// limit is 2^31 elements of one plane / one group of one image / one reduction: 8 GiB.
inline const char* conv2d_cuda_unsupported(const Conv2dParams& p) {
  const int64_t groups = p.groups > 0 ? p.groups : 1;
  const int64_t cg = p.in_channels / groups;
  const int64_t in_hw = p.in_h * p.in_w;
  if (p.in_channels > kConv2dMaxInt || p.out_channels > kConv2dMaxInt) {
    return "2^31 or more channels";
  }
  if (p.in_h > kConv2dMaxInt || p.in_w > kConv2dMaxInt || in_hw > kConv2dMaxInt) {
    return "an input plane of 2^31 or more elements";
  }
  // The walk's channel offset runs up to kConv2dLoadRows channels past the group.
  if ((cg + kConv2dLoadRows) * in_hw > kConv2dMaxInt) {
    return "in_channels / groups input planes of 2^31 or more elements";
  }
  if (p.out_h > kConv2dMaxInt || p.out_w > kConv2dMaxInt || p.out_h * p.out_w > kConv2dMaxInt) {
    return "an output plane of 2^31 or more elements";
  }
  if (p.kernel_h > kConv2dMaxInt || p.kernel_w > kConv2dMaxInt ||
      cg * p.kernel_h * p.kernel_w + kConv2dTileK * 2 > kConv2dMaxInt) {
    return "a reduction (in_channels / groups * kernel_h * kernel_w) of 2^31 or more";
  }
  // Input coordinates a tap reaches, and the walk's radices, stay int32.
  const int64_t reach_h = (p.out_h - 1) * p.stride_h + p.kernel_h * p.dilation_h;
  const int64_t reach_w = (p.out_w - 1) * p.stride_w + p.kernel_w * p.dilation_w;
  if (reach_h > kConv2dMaxInt || reach_w > kConv2dMaxInt || p.pad_h > kConv2dMaxInt ||
      p.pad_w > kConv2dMaxInt) {
    return "padded input extents of 2^31 or more";
  }
  return nullptr;
}

// Images per launch: the launcher (and the emulator tests) run the batch in slices of
// this many, so that a launch has at most max_pixels output pixels.
inline int64_t conv2d_images_per_launch(const Conv2dParams& p,
                                        int64_t max_pixels = kConv2dMaxPixelsPerLaunch) {
  const int64_t out_hw = conv2d_max(p.out_h * p.out_w, 1);
  return conv2d_max(max_pixels / out_hw, 1);
}

// p restricted to images [first, first + count) of its batch.
inline Conv2dParams conv2d_batch_slice(const Conv2dParams& p, int64_t first, int64_t count) {
  Conv2dParams s = p;
  s.batch = count;
  s.input = p.input + first * p.in_channels * p.in_h * p.in_w;
  s.output = p.output + first * p.out_channels * p.out_h * p.out_w;
  if (p.residual != nullptr) s.residual = p.residual + first * p.out_channels * p.out_h * p.out_w;
  return s;
}

// Launch shape, plain integers (no dim3) so the launcher and the emulator tests share it.
struct Conv2dLaunchGeometry {
  Conv2dAlgo algo = Conv2dAlgo::kGemm;
  bool pointwise = false;   // kGemm: 1x1, stride 1, no padding, out == in size
  int64_t m_tiles = 0;      // 64-channel tiles of one group
  int64_t n_tiles = 0;      // 64-pixel tiles of batch * out_h * out_w
  int64_t splits = 1;       // ranges K is cut into (grid z, with the groups)
  int64_t split_length = 0; // K per split, a multiple of kConv2dTileK
  int grid_x = 0;
  int grid_y = 0;
  int grid_z = 0;
  int threads = kConv2dThreads;
  int dynamic_smem_bytes = 0;  // shared memory is static (16 KiB)
  // Split-K with an activation: conv2d_activation_kernel on finalize_grid_x blocks of
  // kConv2dDirectThreads after the GEMM.
  bool finalize = false;
  int finalize_grid_x = 0;

  bool empty() const { return grid_x == 0 || grid_y == 0 || grid_z == 0; }
  // Split-K: the launcher zero-fills the output first, the kernel adds into it.
  bool split() const { return algo == Conv2dAlgo::kGemm && splits > 1; }
};

// Host only (Conv2dParams holds a std::function), for one batch slice (p.batch * out_h *
// out_w <= kConv2dMaxPixelsPerLaunch). sm_count sizes the split-K decision; algo kAuto
// picks the direct kernel for Cg == 1 and Kg <= kConv2dDirectMaxOutPerGroup. The direct
// kernel indexes one image's outputs in int32: when they do not fit, even a requested
// kDirect runs as kGemm.
inline Conv2dLaunchGeometry conv2d_launch_geometry(const Conv2dParams& p,
                                                   int sm_count = kConv2dDefaultSmCount,
                                                   Conv2dAlgo algo = Conv2dAlgo::kAuto) {
  Conv2dLaunchGeometry g;
  const int64_t groups = p.groups;
  if (p.batch <= 0 || p.out_channels <= 0 || p.out_h <= 0 || p.out_w <= 0 || groups <= 0) {
    return g;
  }
  const int64_t cg = p.in_channels / groups;
  const int64_t kg = p.out_channels / groups;
  const int64_t kgemm = cg * p.kernel_h * p.kernel_w;
  const int64_t pixels = p.batch * p.out_h * p.out_w;
  const int64_t image_outputs = p.out_channels * p.out_h * p.out_w;
  if (algo == Conv2dAlgo::kAuto) {
    algo = cg == 1 && kg <= kConv2dDirectMaxOutPerGroup ? Conv2dAlgo::kDirect : Conv2dAlgo::kGemm;
  }
  if (image_outputs > kConv2dMaxInt) algo = Conv2dAlgo::kGemm;
  g.algo = algo;
  if (algo == Conv2dAlgo::kDirect) {
    // x: one image's outputs, flattened (full blocks even for 7x7 planes); y: images.
    g.threads = kConv2dDirectThreads;
    g.grid_x = static_cast<int>(
        conv2d_min(ceil_div(image_outputs, kConv2dDirectThreads), kConv2dMaxGridX));
    g.grid_y = static_cast<int>(conv2d_min(p.batch, kConv2dMaxGridYZ));
    g.grid_z = 1;
    return g;
  }
  g.pointwise = p.kernel_h == 1 && p.kernel_w == 1 && p.stride_h == 1 && p.stride_w == 1 &&
                p.pad_h == 0 && p.pad_w == 0 && p.out_h == p.in_h && p.out_w == p.in_w;
  g.m_tiles = ceil_div(kg, kConv2dTileM);
  g.n_tiles = ceil_div(pixels, kConv2dTileN);
  const int64_t chunks = ceil_div(kgemm, kConv2dTileK);
  const int64_t blocks = g.m_tiles * g.n_tiles * groups;
  const int64_t target = conv2d_max(sm_count, 1) * static_cast<int64_t>(kConv2dSplitBlocksPerSm);
  int64_t splits = 1;
  if (blocks < target) {
    const int64_t most = conv2d_max(kgemm / kConv2dMinSplitLength, 1);
    splits = conv2d_min(ceil_div(target, blocks), most);
  }
  // Whole stages per split; recount so that no split is empty.
  const int64_t chunks_per_split = conv2d_max(ceil_div(chunks, splits), 1);
  g.splits = conv2d_max(ceil_div(chunks, chunks_per_split), 1);
  g.split_length = chunks_per_split * kConv2dTileK;
  g.grid_x = static_cast<int>(conv2d_min(g.n_tiles, kConv2dMaxGridX));
  g.grid_y = static_cast<int>(conv2d_min(g.m_tiles, kConv2dMaxGridYZ));
  g.grid_z = static_cast<int>(conv2d_min(groups * g.splits, kConv2dMaxGridYZ));
  g.finalize = g.split() && p.activation != Activation::none;
  if (g.finalize) {
    g.finalize_grid_x = static_cast<int>(conv2d_min(
        ceil_div(p.batch * p.out_channels * p.out_h * p.out_w, kConv2dDirectThreads),
        kConv2dMaxGridX));
  }
  return g;
}

// What the kernels take by value: Conv2dParams minus its std::function, narrowed where
// conv2d_cuda_unsupported and the batch slicing allow, plus the geometry.
struct Conv2dKernelArgs {
  const float* input;
  const float* weight;
  const float* bias;  // nullptr: none
  const float* residual;  // the output's shape, or nullptr: none
  float* output;
  int64_t in_image;   // in_channels * in_h * in_w
  int64_t out_image;  // out_channels * out_h * out_w
  int64_t group_weights;  // kg * kgemm
  int64_t out_channels;
  int in_h, in_w, in_hw, out_w, out_hw;
  int pixels;             // batch * out_hw: the GEMM's N
  int batch;
  int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  int groups, cg, kg, kgemm;  // per group: input channels, output channels, Cg * R * S
  int m_tiles, n_tiles, splits, split_length;
  Conv2dWalkRadix radix;
  Conv2dWalk step_one;    // conv2d_walk_at(1, ...)
  Conv2dWalk step_stage;  // conv2d_walk_at(kConv2dTileK, ...)
  // conv2d_direct_kernel: outputs of one image (out_channels * out_hw) and the divisors
  // that decode them. Only meaningful when the geometry picked kDirect.
  int image_outputs;
  Conv2dDivisor div_out_hw, div_out_w, div_kg;
  int vector_a;    // 1: weight rows 16-byte aligned, float4 weight loads
  int vector_out;  // 1: out_hw % 4 == 0, output (and residual) 16-byte aligned: float4
  int accumulate;  // 1: split-K, atomicAdd into the zero-filled output
  int activation;  // Activation (common/activation.h)
};

// For one batch slice that conv2d_cuda_unsupported accepts.
inline Conv2dKernelArgs make_conv2d_kernel_args(const Conv2dParams& p,
                                                const Conv2dLaunchGeometry& g) {
  Conv2dKernelArgs a{};
  a.input = p.input;
  a.weight = p.weight;
  a.bias = p.bias;
  a.residual = p.residual;
  a.output = p.output;
  const int64_t groups = p.groups > 0 ? p.groups : 1;
  const int64_t cg = p.in_channels / groups;
  const int64_t kg = p.out_channels / groups;
  const int64_t kgemm = cg * p.kernel_h * p.kernel_w;
  a.in_image = p.in_channels * p.in_h * p.in_w;
  a.out_image = p.out_channels * p.out_h * p.out_w;
  a.group_weights = kg * kgemm;
  a.out_channels = p.out_channels;
  a.in_h = static_cast<int>(p.in_h);
  a.in_w = static_cast<int>(p.in_w);
  a.in_hw = static_cast<int>(p.in_h * p.in_w);
  a.out_w = static_cast<int>(p.out_w);
  a.out_hw = static_cast<int>(p.out_h * p.out_w);
  a.pixels = static_cast<int>(p.batch * p.out_h * p.out_w);
  a.batch = static_cast<int>(p.batch);
  a.kernel_h = static_cast<int>(p.kernel_h);
  a.kernel_w = static_cast<int>(p.kernel_w);
  a.stride_h = static_cast<int>(p.stride_h);
  a.stride_w = static_cast<int>(p.stride_w);
  a.pad_h = static_cast<int>(p.pad_h);
  a.pad_w = static_cast<int>(p.pad_w);
  a.dilation_h = static_cast<int>(p.dilation_h);
  a.dilation_w = static_cast<int>(p.dilation_w);
  a.groups = static_cast<int>(groups);
  a.cg = static_cast<int>(cg);
  a.kg = static_cast<int>(kg);
  a.kgemm = static_cast<int>(kgemm);
  a.m_tiles = static_cast<int>(g.m_tiles);
  a.n_tiles = static_cast<int>(g.n_tiles);
  a.splits = static_cast<int>(g.splits);
  a.split_length = static_cast<int>(g.split_length);
  a.radix = conv2d_walk_radix(a.kernel_h, a.kernel_w, a.dilation_h, a.dilation_w, a.in_w,
                              a.in_hw);
  a.step_one =
      conv2d_walk_at(1, a.kernel_h, a.kernel_w, a.dilation_h, a.dilation_w, a.in_w, a.in_hw);
  a.step_stage = conv2d_walk_at(kConv2dTileK, a.kernel_h, a.kernel_w, a.dilation_h,
                                a.dilation_w, a.in_w, a.in_hw);
  if (g.algo == Conv2dAlgo::kDirect) {
    a.image_outputs = static_cast<int>(p.out_channels * p.out_h * p.out_w);
    a.div_out_hw = conv2d_divisor(static_cast<unsigned>(a.out_hw));
    a.div_out_w = conv2d_divisor(static_cast<unsigned>(a.out_w));
    a.div_kg = conv2d_divisor(static_cast<unsigned>(a.kg));
  }
  // Split starts are multiples of 16 and loads start at multiples of 4 within a stage, so
  // float4 is safe when the base is aligned and every row (kgemm floats) keeps it.
  a.vector_a = reinterpret_cast<uintptr_t>(p.weight) % 16 == 0 && kgemm % 4 == 0;
  // Pixel groups 4n..4n+3 then share an image and a 16-byte aligned address (the residual
  // is read at the same offsets).
  a.vector_out = reinterpret_cast<uintptr_t>(p.output) % 16 == 0 &&
                 reinterpret_cast<uintptr_t>(p.residual) % 16 == 0 && a.out_hw % 4 == 0;
  a.accumulate = g.split() ? 1 : 0;
  a.activation = static_cast<int>(p.activation);
  return a;
}

// p[0 .. 3] of a weight row, `remaining` = k_end - k; zeros past k_end or off the rows.
// The common case is one float4 load or four unguarded scalars; only a split's last
// stage pays for the guards.
__device__ inline float4 conv2d_load_a(const float* __restrict__ p, bool row_ok, int remaining,
                                       bool vector_loads) {
  float4 v;
  v.x = v.y = v.z = v.w = 0.0f;
  if (!row_ok) return v;
  if (remaining >= 4) {
    if (vector_loads) return __ldg(reinterpret_cast<const float4*>(p));
    v.x = __ldg(p);
    v.y = __ldg(p + 1);
    v.z = __ldg(p + 2);
    v.w = __ldg(p + 3);
    return v;
  }
  if (remaining > 0) v.x = __ldg(p);
  if (remaining > 1) v.y = __ldg(p + 1);
  if (remaining > 2) v.z = __ldg(p + 2);
  return v;
}

// Transposes v = weight row `row`, k..k+3 into column `row` of A rows k..k+3 ([k][channel]).
// A warp holds 32 consecutive rows at one k, so each of the 4 stores is conflict-free,
// and the compute phase reads channels 8*ty.. as two float4s at fixed offsets.
__device__ inline void conv2d_store_a(float4 (*tile)[kConv2dTileM / 4], int row, int k,
                                      float4 v) {
  float* base = reinterpret_cast<float*>(&tile[0][0]) + k * kConv2dTileM + row;
  base[0 * kConv2dTileM] = v.x;
  base[1 * kConv2dTileM] = v.y;
  base[2 * kConv2dTileM] = v.z;
  base[3 * kConv2dTileM] = v.w;
}

// The B column one thread gathers for one tile: its pixel, and a cursor on its first
// reduction row of the next stage.
struct Conv2dColumn {
  const float* image;  // the pixel's image, input channel g * Cg
  int iy0, ix0;        // input coordinates of tap (0, 0)
  unsigned pix;        // iy0 * W + ix0 (wrapping; pointwise: the pixel's plane offset)
  int k;               // reduction index of the cursor
  int k_end;           // end of the split's reduction; -1 for a pixel past the end
  Conv2dWalk walk;     // the cursor's tap (general path)
};

// The thread's kConv2dLoadRows rows of the stage at the cursor; zeros for taps in the
// padding, rows past k_end and pixels past the end.
template <bool kPointwise>
__device__ inline void conv2d_load_b(const Conv2dKernelArgs& args, const Conv2dColumn& col,
                                     float (&v)[kConv2dLoadRows]) {
  if constexpr (kPointwise) {
    unsigned off = col.walk.off + col.pix;
    PYBENCH_CONV2D_UNROLL
    for (int j = 0; j < kConv2dLoadRows; ++j) {
      v[j] = col.k + j < col.k_end ? __ldg(col.image + static_cast<int>(off)) : 0.0f;
      off += static_cast<unsigned>(args.in_hw);
    }
  } else {
    Conv2dWalk w = col.walk;
    PYBENCH_CONV2D_UNROLL
    for (int j = 0; j < kConv2dLoadRows; ++j) {
      // Unsigned: a coordinate in the top/left padding wraps above the bound.
      const unsigned iy = static_cast<unsigned>(col.iy0) + static_cast<unsigned>(w.ry);
      const unsigned ix = static_cast<unsigned>(col.ix0) + static_cast<unsigned>(w.sx);
      const bool ok = col.k + j < col.k_end && iy < static_cast<unsigned>(args.in_h) &&
                      ix < static_cast<unsigned>(args.in_w);
      v[j] = ok ? __ldg(col.image + static_cast<int>(col.pix + w.off)) : 0.0f;
      w = conv2d_walk_add(w, args.step_one, args.radix);
    }
  }
}

template <bool kPointwise>
__device__ inline void conv2d_advance_b(const Conv2dKernelArgs& args, Conv2dColumn& col) {
  col.k += kConv2dTileK;
  if constexpr (kPointwise) {
    col.walk.off += static_cast<unsigned>(kConv2dTileK) * static_cast<unsigned>(args.in_hw);
  } else {
    col.walk = conv2d_walk_add(col.walk, args.step_stage, args.radix);
  }
}

__device__ inline void conv2d_store_b(float4 (*tile)[kConv2dTileN / 4], int row, int col,
                                      const float (&v)[kConv2dLoadRows]) {
  float* base = reinterpret_cast<float*>(&tile[0][0]) + row * kConv2dTileN + col;
  PYBENCH_CONV2D_UNROLL
  for (int j = 0; j < kConv2dLoadRows; ++j) base[j * kConv2dTileN] = v[j];
}

// One block: pixel tile blockIdx.x, channel tile blockIdx.y, (group, split) blockIdx.z,
// each a block-stride loop. Expects blockDim = (kConv2dThreads, 1, 1).
template <bool kPointwise>
__global__ void PYBENCH_CONV2D_LAUNCH_BOUNDS(kConv2dThreads, kConv2dMinBlocksPerSm)
    conv2d_gemm_kernel(const Conv2dKernelArgs args) {
  __shared__ float4 a_tile[2][kConv2dTileK][kConv2dTileM / 4];
  __shared__ float4 b_tile[2][kConv2dTileK][kConv2dTileN / 4];

  const bool vec_a = args.vector_a != 0;
  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % 16;  // pixels 4*tx ..
  const int ty = tid / 16;  // channels 8*ty ..
  // A loaders: weight rows a_row and a_row + 32, 4 floats from k = a_k.
  const int a_row = tid % 32;
  const int a_k = (tid / 32) * 4;
  // B loaders: pixel b_col, rows b_k .. b_k + 7.
  const int b_col = tid % kConv2dTileN;
  const int b_k = (tid / kConv2dTileN) * kConv2dLoadRows;

  for (int z = static_cast<int>(blockIdx.z); z < args.groups * args.splits;
       z += static_cast<int>(gridDim.z)) {
    const int group = z / args.splits;
    const int split = z - group * args.splits;
    const int k_begin = split * args.split_length;
    const int k_end =
        k_begin + static_cast<int>(conv2d_min(args.kgemm - k_begin, args.split_length));
    const int chunks = k_end > k_begin ? (k_end - k_begin + kConv2dTileK - 1) / kConv2dTileK : 0;
    // Walk state of this thread's first B row of the split.
    // (Pointwise: only off is used, the channel plane of row k_begin + b_k.)
    const Conv2dWalk walk0 =
        kPointwise ? Conv2dWalk{0, 0,
                                static_cast<unsigned>(k_begin + b_k) *
                                    static_cast<unsigned>(args.in_hw)}
                   : conv2d_walk_at(k_begin + b_k, args.kernel_h, args.kernel_w,
                                    args.dilation_h, args.dilation_w, args.in_w, args.in_hw);

    for (int mt = static_cast<int>(blockIdx.y); mt < args.m_tiles;
         mt += static_cast<int>(gridDim.y)) {
      const int m0 = mt * kConv2dTileM;
      for (int nt = static_cast<int>(blockIdx.x); nt < args.n_tiles;
           nt += static_cast<int>(gridDim.x)) {
        const int n0 = nt * kConv2dTileN;
        // A loader pointers, advanced a stage at a time; a row past Kg stays on row 0 unread.
        const float* a_ptr[2];
        bool a_ok[2];
        PYBENCH_CONV2D_UNROLL
        for (int h = 0; h < 2; ++h) {
          const int m = m0 + a_row + 32 * h;
          a_ok[h] = m < args.kg;
          a_ptr[h] = args.weight + group * args.group_weights +
                     static_cast<int64_t>(a_ok[h] ? m : 0) * args.kgemm + k_begin + a_k;
        }
        Conv2dColumn col;
        {
          const int n = n0 + b_col;
          const bool ok = n < args.pixels;
          const int image = ok ? n / args.out_hw : 0;
          const int pix = ok ? n - image * args.out_hw : 0;
          col.image = args.input + image * args.in_image +
                      static_cast<int64_t>(group) * args.cg * args.in_hw;
          const int oy = pix / args.out_w;
          const int ox = pix - oy * args.out_w;
          col.iy0 = oy * args.stride_h - args.pad_h;
          col.ix0 = ox * args.stride_w - args.pad_w;
          col.pix = kPointwise ? static_cast<unsigned>(pix)
                               : static_cast<unsigned>(col.iy0) * static_cast<unsigned>(args.in_w) +
                                     static_cast<unsigned>(col.ix0);
          col.k = k_begin + b_k;
          col.k_end = ok ? k_end : -1;
          col.walk = walk0;
        }

        float acc[kConv2dThreadRows][kConv2dThreadCols];
        PYBENCH_CONV2D_UNROLL
        for (int r = 0; r < kConv2dThreadRows; ++r) {
          PYBENCH_CONV2D_UNROLL
          for (int c = 0; c < kConv2dThreadCols; ++c) acc[r][c] = 0.0f;
        }

        if (chunks > 0) {
          float4 a_next[2];
          float b_next[kConv2dLoadRows];
          // K left from this thread's first A column of the stage in flight.
          int remaining = k_end - k_begin - a_k;
          // Prologue: stage 0 into buffer 0.
          PYBENCH_CONV2D_UNROLL
          for (int h = 0; h < 2; ++h) {
            a_next[h] = conv2d_load_a(a_ptr[h], a_ok[h], remaining, vec_a);
            conv2d_store_a(a_tile[0], a_row + 32 * h, a_k, a_next[h]);
          }
          conv2d_load_b<kPointwise>(args, col, b_next);
          conv2d_store_b(b_tile[0], b_k, b_col, b_next);
          __syncthreads();

          for (int chunk = 0; chunk < chunks; ++chunk) {
            const int buf = chunk & 1;
            const bool more = chunk + 1 < chunks;
            // Issue the next stage's global loads now; they land during the FMAs below.
            if (more) {
              remaining -= kConv2dTileK;
              PYBENCH_CONV2D_UNROLL
              for (int h = 0; h < 2; ++h) {
                a_ptr[h] += kConv2dTileK;
                a_next[h] = conv2d_load_a(a_ptr[h], a_ok[h], remaining, vec_a);
              }
              conv2d_advance_b<kPointwise>(args, col);
              conv2d_load_b<kPointwise>(args, col, b_next);
            }
            float4 (*as)[kConv2dTileM / 4] = a_tile[buf];
            float4 (*bs)[kConv2dTileN / 4] = b_tile[buf];
            PYBENCH_CONV2D_UNROLL
            for (int k = 0; k < kConv2dTileK; ++k) {
              // 2 broadcast reads (2 distinct ty per warp) and 1 read of 16 float4s.
              const float4 a_lo = as[k][2 * ty];
              const float4 a_hi = as[k][2 * ty + 1];
              const float4 bv = bs[k][tx];
              const float a[kConv2dThreadRows] = {a_lo.x, a_lo.y, a_lo.z, a_lo.w,
                                                  a_hi.x, a_hi.y, a_hi.z, a_hi.w};
              const float b[kConv2dThreadCols] = {bv.x, bv.y, bv.z, bv.w};
              PYBENCH_CONV2D_UNROLL
              for (int r = 0; r < kConv2dThreadRows; ++r) {
                PYBENCH_CONV2D_UNROLL
                for (int c = 0; c < kConv2dThreadCols; ++c) acc[r][c] = fmaf(a[r], b[c], acc[r][c]);
              }
            }
            // The other buffer was last read before the previous barrier: safe to fill.
            if (more) {
              PYBENCH_CONV2D_UNROLL
              for (int h = 0; h < 2; ++h) {
                conv2d_store_a(a_tile[buf ^ 1], a_row + 32 * h, a_k, a_next[h]);
              }
              conv2d_store_b(b_tile[buf ^ 1], b_k, b_col, b_next);
            }
            // Also guards the buffers against the next tile's prologue.
            __syncthreads();
          }
        }

        // Epilogue: channels m0 + 8*ty + r, pixels n0 + 4*tx + c, plus the bias and the
        // residual (split 0), then the activation; atomics, and no activation, when split.
        const int nc = n0 + kConv2dThreadCols * tx;
        const int m = m0 + kConv2dThreadRows * ty;
        if (nc < args.pixels && m < args.kg) {
          int image = nc / args.out_hw;
          int pix = nc - image * args.out_hw;
          const int64_t ch = static_cast<int64_t>(group) * args.kg + m;
          const float* __restrict__ bias =
              args.bias != nullptr && split == 0 ? args.bias + ch : nullptr;
          // At the output's offsets: residual + (out - args.output).
          const float* __restrict__ residual = split == 0 ? args.residual : nullptr;
          const Activation act = static_cast<Activation>(args.activation);
          const int rows = static_cast<int>(conv2d_min(kConv2dThreadRows, args.kg - m));
          if (args.vector_out && !args.accumulate) {
            // The 4 pixels share an image and a 16-byte aligned address (vector_out).
            float* __restrict__ out = args.output + image * args.out_image + ch * args.out_hw + pix;
            PYBENCH_CONV2D_UNROLL
            for (int r = 0; r < kConv2dThreadRows; ++r) {
              if (r >= rows) break;
              const float b = bias != nullptr ? __ldg(bias + r) : 0.0f;
              float4 v;
              v.x = acc[r][0] + b;
              v.y = acc[r][1] + b;
              v.z = acc[r][2] + b;
              v.w = acc[r][3] + b;
              if (residual != nullptr) {
                const float4 res =
                    __ldg(reinterpret_cast<const float4*>(residual + (out - args.output)));
                v.x += res.x;
                v.y += res.y;
                v.z += res.z;
                v.w += res.w;
              }
              v.x = activate(v.x, act);
              v.y = activate(v.y, act);
              v.z = activate(v.z, act);
              v.w = activate(v.w, act);
              *reinterpret_cast<float4*>(out) = v;
              out += args.out_hw;
            }
          } else {
            const int cols = static_cast<int>(conv2d_min(kConv2dThreadCols, args.pixels - nc));
            PYBENCH_CONV2D_UNROLL
            for (int c = 0; c < kConv2dThreadCols; ++c) {
              if (c >= cols) break;
              float* __restrict__ out =
                  args.output + image * args.out_image + ch * args.out_hw + pix;
              PYBENCH_CONV2D_UNROLL
              for (int r = 0; r < kConv2dThreadRows; ++r) {
                if (r >= rows) break;
                float v = acc[r][c] + (bias != nullptr ? __ldg(bias + r) : 0.0f);
                if (residual != nullptr) v += __ldg(residual + (out - args.output));
                if (args.accumulate) {
                  atomicAdd(out, v);
                } else {
                  *out = activate(v, act);
                }
                out += args.out_hw;
              }
              // Next pixel; it may start the next image.
              if (++pix == args.out_hw) {
                pix = 0;
                ++image;
              }
            }
          }
        }
      }
    }
  }
}

// One output per thread, over the flattened (channel, pixel) index of an image (grid x)
// and the images (grid y): for groups of one input channel the reduction is R*S taps, so
// the GEMM's 64-channel tile would be mostly padding. Neighbouring threads share a
// channel (its weights broadcast from L1) and read neighbouring input pixels, and a 7x7
// plane does not leave a block idle. Handles any Cg (a loop), so it doubles as a
// tile-free cross-check in the tests. Expects blockDim = (kConv2dDirectThreads, 1, 1).
__global__ void PYBENCH_CONV2D_LAUNCH_BOUNDS(kConv2dDirectThreads, 1)
    conv2d_direct_kernel(const Conv2dKernelArgs args) {
  // Unsigned: j + step stays below 2^32 (j < 2^31, step <= the grid's threads).
  const unsigned step = gridDim.x * blockDim.x;
  const int rs = args.kernel_h * args.kernel_w;
  for (int image = static_cast<int>(blockIdx.y); image < args.batch;
       image += static_cast<int>(gridDim.y)) {
    const float* __restrict__ image_in = args.input + image * args.in_image;
    float* __restrict__ image_out = args.output + image * args.out_image;
    for (unsigned j = blockIdx.x * blockDim.x + threadIdx.x;
         j < static_cast<unsigned>(args.image_outputs); j += step) {
      const unsigned ch = conv2d_div(j, args.div_out_hw);
      const unsigned pix = j - ch * static_cast<unsigned>(args.out_hw);
      const unsigned oy = conv2d_div(pix, args.div_out_w);
      const unsigned ox = pix - oy * static_cast<unsigned>(args.out_w);
      const unsigned group = conv2d_div(ch, args.div_kg);
      const int iy0 = static_cast<int>(oy) * args.stride_h - args.pad_h;
      const int ix0 = static_cast<int>(ox) * args.stride_w - args.pad_w;
      const float* __restrict__ in =
          image_in + static_cast<int64_t>(group) * args.cg * args.in_hw;
      const float* __restrict__ w = args.weight + static_cast<int64_t>(ch) * args.kgemm;
      float acc = 0.0f;
      for (int c = 0; c < args.cg; ++c) {
        for (int r = 0; r < args.kernel_h; ++r) {
          const int iy = iy0 + r * args.dilation_h;
          if (static_cast<unsigned>(iy) >= static_cast<unsigned>(args.in_h)) continue;
          const float* __restrict__ row = in + iy * args.in_w;
          const float* __restrict__ wr = w + r * args.kernel_w;
          for (int s = 0; s < args.kernel_w; ++s) {
            const int ix = ix0 + s * args.dilation_w;
            if (static_cast<unsigned>(ix) < static_cast<unsigned>(args.in_w)) {
              acc = fmaf(__ldg(wr + s), __ldg(row + ix), acc);
            }
          }
        }
        in += args.in_hw;
        w += rs;
      }
      if (args.bias != nullptr) acc += __ldg(args.bias + ch);
      if (args.residual != nullptr) acc += __ldg(args.residual + (image_out + j - args.output));
      image_out[j] = activate(acc, static_cast<Activation>(args.activation));
    }
  }
}

// The activation of a split-K convolution, after every split has added its partial sums
// into the output (conv2d_launch_geometry's finalize): one output per thread, a
// grid-stride loop over the batch slice. Expects blockDim = (kConv2dDirectThreads, 1, 1).
__global__ void PYBENCH_CONV2D_LAUNCH_BOUNDS(kConv2dDirectThreads, 1)
    conv2d_activation_kernel(const Conv2dKernelArgs args) {
  const int64_t count = static_cast<int64_t>(args.batch) * args.out_image;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const Activation act = static_cast<Activation>(args.activation);
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += step) {
    args.output[i] = activate(args.output[i], act);
  }
}

}  // namespace pybench::kernels::cuda
