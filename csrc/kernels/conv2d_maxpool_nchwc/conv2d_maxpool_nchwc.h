#pragma once
// A blocked convolution (conv2d_nchwc's direct kernel, with its bias and activation) whose
// output feeds only a max pooling (pool2d_nchwc's), run band by band of pooled rows so the
// convolution's output -- the largest tensor of VGG / AlexNet blocks, 12.8 MB a 224x224x64
// image -- never goes to L3 / DRAM and back: the torch-free core of
// pybench::conv2d_maxpool_nchwc (CPU only).
//
// Layouts are conv2d_nchwc's (conv2d_nchwc/conv2d_nchwc.h): input blocked (N, Cb, H, W, B) or
// plain NCHW (a first layer), weight packed (Kb, Cg, kH, kW, Bi, B), bias (Kb * B) or null;
// output (N, Kb, out_h, out_w, B), the pooled image, padded channels zero.
// out = maxpool(act(bias + conv(input, weight))), exactly: both halves run the existing
// kernels (the ISA-dispatched conv2d_nchwc and pool2d_nchwc, scalar references included),
// with row ranges and plane strides, on the same sums, so the result is bitwise the two ops'.
//
// Work item: (image, output channel block group, band of pooled rows). It convolves the
// conv rows its band's windows read -- with overlapping windows (3x3 stride 2: AlexNet,
// GoogLeNet, ResNet's stem) the last (kernel - stride) rows of a band again in the next,
// the price of independent bands -- into the thread's scratch (group blocks x rows x
// conv out_w x B), then pools the band from there; the conv and the pool inside an item
// run serially, on that thread. Bands are sized so the scratch takes at most a quarter of
// the L2 (cpu_caches(), read at run time), with the conv's input rows and weights beside
// it. Where an image's bands over all blocks give the threads too few items, or few of
// unequal cost, the plan tries block groups (whole 4-block register tiles, the direct
// kernel's kOcBlocks) and smaller bands, and keeps the split whose costliest thread
// (items costed by their conv multiply-adds, recomputed rows included, plus a fixed cost
// per call; threads take contiguous runs of near-equal cost) finishes first.
#include <cstdint>
#include <vector>

#include "common/parallel.h"
#include "conv2d_nchwc/conv2d_nchwc.h"
#include "pool2d/pool2d.h"

namespace pybench::kernels {

struct Conv2dMaxpoolNchwcParams {
  // The whole convolution: input, weight, bias, geometry, channels, block, activation.
  // Its output, residual, output_blocks, in_plane_stride and exec are not read.
  Conv2dNchwcParams conv;
  // The max pooling of the convolution's (conv.out_h x conv.out_w) output, F.max_pool2d's
  // geometry (padding symmetric, at most half the window), checked by the caller.
  int64_t pool_kernel_h = 1, pool_kernel_w = 1, pool_stride_h = 1, pool_stride_w = 1;
  int64_t pool_pad_h = 0, pool_pad_w = 0, pool_dilation_h = 1, pool_dilation_w = 1;
  int64_t out_h = 0, out_w = 0;  // the pooled size (pool_output_size, ceil_mode applied)
  float* output = nullptr;       // (batch, Kb, out_h, out_w, B)
  // 0: from the L2 and the thread count (conv2d_maxpool_nchwc_plan); else forced (tests).
  int64_t band_rows = 0;
  int64_t block_groups = 0;
  CpuExecution exec;
};

// The split into work items.
struct Conv2dMaxpoolNchwcPlan {
  int64_t band = 0, bands = 0;     // pooled rows per band, bands per image
  int64_t groups = 0;              // output block groups per image
  int64_t scratch_rows = 0;        // conv rows of the largest band
  int64_t scratch_floats = 0;      // a thread's scratch
  std::vector<int64_t> prefix;     // items' cost, prefix sums (run_parallel_balanced)
  int64_t items() const { return bands * groups; }  // per image
};

// Output blocks per register tile of the direct kernel (both ISAs): the unit of a group.
constexpr int64_t kConvMaxpoolGroupBlocks = 4;

Conv2dMaxpoolNchwcPlan conv2d_maxpool_nchwc_plan(const Conv2dMaxpoolNchwcParams& p);

namespace cpu {
// ISA-dispatched through the two kernels it runs (active_cpu_isa()).
void conv2d_maxpool_nchwc(const Conv2dMaxpoolNchwcParams& p);
}  // namespace cpu

}  // namespace pybench::kernels
