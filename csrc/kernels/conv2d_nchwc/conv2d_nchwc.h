#pragma once
// 2-D convolution on the blocked activation layout (NCHWc), with a fused epilogue: the
// torch-free kernel core of pybench::conv2d_nchwc, the convolution of converted models.
//
// Layouts (B = block, 8 or 16; Kb = ceil(K / B) output channel blocks):
//   input   blocked (input_blocked): (batch, Cb, in_h, in_w, B), Cb = ceil(C / B), the
//           padded channels zero; or plain NCHW (batch, C, in_h, in_w) -- the model's
//           first convolution, whose 3 channels would waste most of a block.
//   weight  packed once at conversion: (Kb, Cg, kernel_h, kernel_w, Bi, B), where the
//           input's channels come in Cg groups of Bi: Cg = Cb, Bi = B for a blocked input,
//           Cg = C, Bi = 1 for a plain one. Element [kb][g][r][s][i][o] is PyTorch's
//           weight[kb*B + o][g*Bi + i][r][s], zero for padded channels.
//   bias    (Kb * B) or nullptr, zero past K.
//   residual (batch, Kb, out_h, out_w, B) or nullptr, zero past K.
//   output  channel blocks [0, Kb) of an image with output_blocks >= Kb blocks:
//           (batch, output_blocks, out_h, out_w, B) with `output` pointing at the first of
//           this convolution's blocks, so the branches of a concat write their own slices of
//           one buffer and the concat costs nothing.
// out = act(bias + conv(input, weight) + residual), padded channels written as zeros
// (sigmoid(0) is not). Geometry as ConvParamsBase (pad_h / pad_w top / left).
//
// Why this layout: one vector is one pixel's B output channels, so the inner step
// broadcasts one input value and multiplies it into whole vectors of weights -- no
// shuffles, no gathers, every load aligned to the block -- the scheme of oneDNN's jit_avx2
// / jit_avx512 convolutions and ONNX Runtime's NCHWc kernels (../shared/research/
// peers-cpu.md). Eager PyTorch reorders activations and weights into such a layout around
// every convolution; a converted model keeps it from layer to layer.
//
// Blocking (conv2d_nchwc_tile.h): a work item is (image, group of kOcBlocks output channel
// blocks, output row, chunk of the row). Inside it batches of input channel groups are the
// outermost loop: per batch, every register tile of the chunk accumulates the batch's
// (group, tap, channel) products onto the partial sums stored in the output chunk, which
// stays in L1 (MLAS's ACCUMULATE_OUTPUT scheme), as do the batch's weights (kOcBlocks x
// taps x Bi x B floats a group: 9 KiB for AVX2's 3x3; nchwc_group_batch) and input rows.
// The epilogue runs on the last batch's tiles, in registers. The chunk is sized from the L1d (nchwc_chunk_positions). A 1x1,
// stride-1, unpadded convolution is one line of out_h * out_w positions.
#include <algorithm>
#include <cstdint>

#include "common/activation.h"
#include "common/conv_params.h"
#include "common/cpu_caches.h"
#include "common/parallel.h"

namespace pybench::kernels {

struct Conv2dNchwcParams : ConvParamsBase {
  int64_t in_channels = 0;    // C (plain input: its channel count; blocked: the logical C)
  int64_t out_channels = 0;   // K
  int64_t block = 8;          // B
  bool input_blocked = true;
  const float* residual = nullptr;
  int64_t output_blocks = 0;  // channel blocks per image of the output buffer (>= Kb)
  // Floats between consecutive input channel planes (blocked: channel blocks; NCHW:
  // channels); 0: in_h * in_w planes, dense. A band of rows of a larger image is read in
  // place this way (conv1x1_depthwise_nchwc's expand). The direct kernels only: Winograd
  // reads dense planes.
  int64_t in_plane_stride = 0;
  Activation activation = Activation::none;
  CpuExecution exec;

  int64_t in_blocks() const { return (in_channels + block - 1) / block; }
  int64_t out_blocks() const { return (out_channels + block - 1) / block; }
  // Input channel groups of the packed weight and channels per group (Cg, Bi).
  int64_t channel_groups() const { return input_blocked ? in_blocks() : in_channels; }
  int64_t group_channels() const { return input_blocked ? block : 1; }
};

// Input channel groups a register tile sums before it stores its partial sums: as many as
// keep their weights (oc_blocks x taps x Bi x B floats each) within half the L1d. A 3x3
// layer's group is already B * 9 * kOcBlocks * kPixels FMAs long (864 on AVX2), so one is
// enough there; a 1x1's is 9x shorter and the partial sums' load and store would cost a
// third of its loads, so it batches (ONNX Runtime's pointwise kernel batches 128
// channels for the same reason).
inline int64_t nchwc_group_batch(const cpu::CpuCaches& c, int64_t oc_blocks, int64_t block,
                                 int64_t taps, int64_t group_channels, int64_t groups) {
  const int64_t bytes = 4 * oc_blocks * taps * group_channels * block;
  return std::clamp<int64_t>(c.l1d / 2 / bytes, 1, groups);
}

// Positions per work-item chunk: the chunk's partial sums (kOcBlocks * B floats per
// position) plus the input rows it reads (kernel_h rows of stride_w * Bi floats per
// position) kept within half the L1d, the other half left to the group's weights and the
// lines in flight. At least one tile, a multiple of the tile's positions.
inline int64_t nchwc_chunk_positions(const cpu::CpuCaches& c, int64_t oc_blocks, int64_t block,
                                     int64_t kernel_h, int64_t stride_w, int64_t group_channels,
                                     int64_t tile_positions) {
  const int64_t per_position =
      4 * (oc_blocks * block + kernel_h * stride_w * group_channels);
  const int64_t n = c.l1d / 2 / per_position;
  return std::max<int64_t>(tile_positions, n / tile_positions * tile_positions);
}

// Winograd F(4x4, 3x3) on the blocked layout (conv2d_nchwc_winograd): a 3x3, stride-1,
// undilated convolution of a blocked input computed per 4x4 output tile from its 6x6
// input tile, with 36 multiplies per (input, output) channel pair where the direct
// kernel has 144 (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks").
//   weight  packed once (pybench.ops.pack_conv2d_winograd_nchwc): U = G g G^T in float64,
//           rounded to float32, as (36, Kb, Cb, Bi, B): element [xi*6 + nu][kb][g][i][o] is
//           U[xi][nu] of PyTorch's weight[kb*B + o][g*B + i], zero for padded channels.
// A work item is a block of tiles (any image's) and a share of the output block groups:
// it transforms the block's input tiles for every input channel (V, 36 x C x T floats),
// runs per (xi, nu) the 1x1 convolution's register tile over the tiles (V as the
// "pixels", U as the weights, partial sums in M: 36 x kOcBlocks x B x T floats), then
// transforms M back into the output with the epilogue. Everything else (bias, residual,
// activation, output_blocks, padded channels) is as conv2d_nchwc.
struct WinogradPlan {
  int64_t tiles_h = 0, tiles_w = 0, tiles = 0;  // 4x4 output tiles per image / in all
  int64_t tile_block = 0, blocks = 0;  // tiles per work item's block, blocks
  int64_t parts = 1;                   // output block group shares per block
  int64_t kgroups = 0;                 // output block groups (kOcBlocks blocks each)
  int64_t group_batch = 0;             // input channel blocks per partial-sum pass
  int64_t v_floats = 0, m_floats = 0;  // a thread's scratch
};

// The tile block T: the block's V and M (4 x 36 x (C + kOcBlocks x B) bytes a tile) within
// half the L2, so the 36 per-(xi, nu) passes over them hit it; but where the packed weights
// (4 x 36 x C x K bytes) outgrow the L2 and would be re-read from L3 / memory once per
// block, T grows up to K tiles (weight bytes per block <= V bytes) or 4 MiB of V and M,
// streamed in order, which the prefetchers follow. Fewer blocks than threads split each
// block's output block groups instead (each part transforms the block's input itself:
// 1 / (2 K / 9) of its FLOPs).
inline WinogradPlan winograd_plan(const Conv2dNchwcParams& p, const cpu::CpuCaches& c,
                                  int64_t oc_blocks, int64_t pixels) {
  WinogradPlan d;
  const int64_t B = p.block, cb = p.in_blocks(), kb = p.out_blocks();
  d.tiles_h = (p.out_h + 3) / 4;
  d.tiles_w = (p.out_w + 3) / 4;
  d.tiles = p.batch * d.tiles_h * d.tiles_w;
  d.kgroups = (kb + oc_blocks - 1) / oc_blocks;
  d.group_batch = nchwc_group_batch(c, oc_blocks, B, 1, B, cb);
  if (d.tiles == 0) return d;
  const int64_t per_tile = 4 * 36 * (cb * B + oc_blocks * B);
  int64_t t = std::max<int64_t>(pixels, c.l2 / 2 / per_tile / pixels * pixels);
  const int64_t u_bytes = 4 * 36 * cb * B * kb * B;
  if (u_bytes > c.l2 / 2) {
    t = std::max(t, std::min<int64_t>(kb * B, (int64_t{4} << 20) / per_tile));
  }
  t = std::min(t, d.tiles);
  d.blocks = (d.tiles + t - 1) / t;
  const int64_t threads = std::max<int64_t>(1, p.exec.max_threads);
  if (d.blocks > 1 && d.blocks % threads != 0) {
    // Whole rounds of blocks: 3 blocks on 2 threads would cost 2 block-times.
    d.blocks = std::min((d.blocks + threads - 1) / threads * threads,
                        (d.tiles + pixels - 1) / pixels);
  }
  d.tile_block = (d.tiles + d.blocks - 1) / d.blocks;
  d.blocks = (d.tiles + d.tile_block - 1) / d.tile_block;
  if (d.blocks < threads) {
    d.parts = std::min(d.kgroups, (threads + d.blocks - 1) / d.blocks);
  }
  d.v_floats = 36 * cb * B * d.tile_block;
  d.m_floats = 36 * oc_blocks * B * d.tile_block;
  return d;
}

namespace cpu {
void conv2d_nchwc(const Conv2dNchwcParams& p);  // ISA-dispatched
void conv2d_nchwc_ref(const Conv2dNchwcParams& p);
void conv2d_nchwc_avx2(const Conv2dNchwcParams& p);
void conv2d_nchwc_avx512(const Conv2dNchwcParams& p);
// Winograd F(4x4, 3x3): p.weight packed by pack_conv2d_winograd_nchwc, p.input blocked,
// kernel 3x3, stride 1, dilation 1 (the adapter checks).
void conv2d_nchwc_winograd(const Conv2dNchwcParams& p);  // ISA-dispatched
void conv2d_nchwc_winograd_ref(const Conv2dNchwcParams& p);
void conv2d_nchwc_winograd_avx2(const Conv2dNchwcParams& p);
void conv2d_nchwc_winograd_avx512(const Conv2dNchwcParams& p);
}  // namespace cpu

}  // namespace pybench::kernels
