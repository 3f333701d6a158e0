// The NCHW convolution run through the blocked (NCHWc) kernel of converted models: the
// input's channels transposed into blocks of B, the weight packed, conv2d_nchwc_<isa>, the
// output transposed back -- what oneDNN does around every NCHW convolution it runs.
// Included INSIDE an ISA target region (conv2d_avx2.cpp, conv2d_avx512.cpp) after
// common/transpose8_simd.h; includes nothing itself.
//
// Why: the direct kernel (conv2d_direct.h) vectorises along a plane's positions, so a
// small plane wastes lanes twice -- on the garbage columns of its padded rows (1 in 15 at
// 14 x 14, 3x3) and on the last tile of each row chunk (7 rows x 15 = 105 positions run
// as 4 tiles of 24 and a 2-vector tile for 9) -- and a strided one also builds phase
// planes a float at a time (12% of a 3x3 stride-2 layer's time). The blocked kernel has
// one pixel's B output channels in a vector, every lane busy whatever the plane's size.
// What it costs here is one pass over the input and output and one over the weights,
// per call.
namespace {

using Conv2dNchwcFn = void (*)(const Conv2dNchwcParams&);

// Which layers take the blocked path: measured over every ungrouped layer of the conv
// suite, both paths forced in one process, interleaved (2 threads; Zen 5 natively
// (AVX-512) and capped to AVX2 with Zen 1's cache sizes; 5 rounds, the 5x5 row 11).
// Blocked over direct, geomean of each class, native / capped:
//   3x3 stride 2, batch 8, onto 7x7 - 28x28            1.14-1.21 / 1.04-1.30
//   3x3, batch 8, onto 7x7 - 14x14 (and NiN's 5x5)     1.09-1.20 / 1.08-1.13
//   1x1 stride 1, batch 8, onto 7x7                    1.03 / 1.06
//   5x5 onto 26x26 and 27x27 (NiN, AlexNet), batch 1, 8 1.04-1.10 / 1.04-1.11
//   3x3 stride 1, batch 8, onto 28x28                  0.97 / 1.01 (left direct)
//   1x1 elsewhere                                      0.60-0.95 / 0.74-0.96
//   batch 1 onto 14x14 or smaller                      0.78-0.99 / 0.82-0.98
// Batch 1 loses to the per-call weight packing, one read and write of every weight for
// as few as 49 positions; so does any layer below 200 positions (batch x plane). The
// 1x1 stride-2 downsamples onto 7x7 lost (0.89-0.95), and so did 1x1s to 48 channels
// (0.87): a 1x1 goes blocked only at stride 1 with 64 output channels or more. Layers
// with a residual stay direct (the blocked kernel would need it converted too), as do
// grouped ones and those with fewer than two blocks of input or output channels. The
// algorithm override of the tests and A/B timings forces either path.
//
// Measured again once the kernel suites timed with freed memory kept (pybench run
// --allocator keep; the same A/B, 5 rounds), AVX2 (B = 8) came out differently from
// AVX-512, so it has rules of its own:
//   3x3 stride 1, batch 8, onto 28x28 and 56x56: blocked 1.01-1.08x direct on every layer
//     (VGG-16's 512 -> 512 1.08x), natively 0.94-1.01x. The blocked tile has every lane on
//     an output pixel; the direct one computes the padded rows' garbage columns (2 of 30
//     at 28 wide) and a masked tail tile per row chunk.
//   the same at batch 1 (and ResNet-50's stride-2 256 -> 256 onto 14x14): blocked
//     1.01-1.09x with 256 input channels or more (onto 12x12 - 56x56, so below 200
//     positions too), 0.86-0.98x with fewer.
//   onto 7x7 with more weight bytes than 4 L2s (ResNet's 512 -> 512 3x3s 9 MiB, ResNet-50's
//     512 -> 2048 1x1 4 MiB; the capped machine's L2 is 512 KiB): blocked 0.73-0.92x.
//     Packing the weights is a pass over all of them per call, and with 392 positions
//     (batch 8) there is too little work to hide it once they no longer stay in the
//     caches between the packing and the kernel's read; up to 1.6 MiB the blocked path
//     still won (0.98-1.22x). Onto NiN's 5x5 the direct kernel wastes 2 of every 7
//     columns on padding, and the blocked one won even with 14 MiB of weights (1.12x).
// Natively the same heavy layers split both ways (ResNet-18's 4.7 MiB stride-2 3x3 1.16x,
// ResNet-50's 9 MiB ones 0.86-0.90x), so AVX-512 keeps the first table's rules.
inline bool conv2d_via_nchwc(const Conv2dParams& p, int64_t block) {
  if (p.groups != 1 || p.residual != nullptr) return false;
  switch (p.algorithm) {
    case Conv2dAlgorithm::direct: return false;
    case Conv2dAlgorithm::nchwc: return true;
    case Conv2dAlgorithm::automatic: break;
  }
  if (p.in_channels < 2 * block || p.out_channels < 2 * block) return false;
  const int64_t plane = p.out_h * p.out_w, positions = p.batch * plane;
  const bool avx2 = block == 8;
  const bool strided = p.stride_h > 1 || p.stride_w > 1;
  // A window wider than 3 leaves the direct kernel more garbage columns per row (4 of 31
  // at 27 wide, 5x5), as a stride leaves it more planes to build.
  const bool wide = (p.kernel_w - 1) * p.dilation_w > 2;
  const bool pointwise = p.kernel_h * p.kernel_w == 1;
  if (avx2 && !pointwise && !wide && p.batch == 1 && p.in_channels >= 256) {
    return plane >= 12 * 12 && plane <= 56 * 56;
  }
  if (positions < 200) return false;
  const double weight_bytes = 4.0 * static_cast<double>(p.in_channels) *
                              static_cast<double>(p.out_channels) * p.kernel_h * p.kernel_w;
  if (avx2 && plane >= 7 * 7 && plane < 10 * 10 &&
      weight_bytes > 4.0 * static_cast<double>(cpu_caches().l2)) {
    return false;
  }
  if (pointwise) return !strided && p.out_channels >= 64 && plane <= 7 * 7;
  if (strided || wide) return plane <= 28 * 28;
  return plane <= (avx2 ? 56 * 56 : 14 * 14);
}

// Packs input channel group g of output channel block kb of PyTorch's (K, C, kh, kw) weight
// as conv2d_nchwc takes it: (kh, kw, B, B) at dst, element [r][s][i][o] =
// weight[kb*B + o][g*B + i][r][s], zero past K and C. Each output channel's B x taps
// source floats are contiguous: a whole group is 8 x 8 transposes of 8 output channels'
// rows, each transposed row (one (i, tap) pair) stored where its tap puts it. Packing is
// per call and costs per weight, not per FMA: on 512->512 3x3 at batch 1 onto 7 x 7 it
// was 15% of the layer's time even so (it streams 9 MiB in and out), which is why batch 1
// stays direct (conv2d_via_nchwc).
template <int64_t B>
void pack_nchwc_weight_group(const Conv2dParams& p, int64_t kb, int64_t g, float* dst) {
  const int64_t C = p.in_channels, K = p.out_channels, taps = p.kernel_h * p.kernel_w;
  const int64_t outs = std::min(B, K - kb * B), ins = std::min(B, C - g * B);
  const float* const w = p.weight + ((kb * B) * C + g * B) * taps;
  if (ins == B && outs == B) {
    for (int64_t o0 = 0; o0 < B; o0 += 8) {
      for (int64_t j0 = 0; j0 < B * taps; j0 += 8) {
        float* rows[8];
        for (int64_t m = 0; m < 8; ++m) {
          const int64_t j = j0 + m;  // = i * taps + t
          rows[m] = dst + (j % taps * B + j / taps) * B + o0;
        }
        transpose8x8_rows(w + o0 * C * taps + j0, C * taps, rows);
      }
    }
    return;
  }
  std::fill(dst, dst + taps * B * B, 0.0f);
  for (int64_t o = 0; o < outs; ++o) {
    for (int64_t i = 0; i < ins; ++i) {
      for (int64_t t = 0; t < taps; ++t) dst[(t * B + i) * B + o] = w[(o * C + i) * taps + t];
    }
  }
}

template <int64_t B>
void conv2d_through_nchwc(const Conv2dParams& p, Conv2dNchwcFn blocked) {
  const int64_t C = p.in_channels, K = p.out_channels, taps = p.kernel_h * p.kernel_w;
  const int64_t cb = ceil_div(C, B), kb = ceil_div(K, B);
  const int64_t in_plane = p.in_h * p.in_w, out_plane = p.out_h * p.out_w;
  const int64_t in_floats = p.batch * cb * in_plane * B;
  const int64_t w_floats = kb * cb * taps * B * B;
  const int64_t out_floats = p.batch * kb * out_plane * B;
  const int64_t bias_floats = p.bias ? kb * B : 0;
  // The calling thread's buffers, kept between calls: allocated per call, their pages
  // would fault in again every time (a 3 MiB input, 750 pages). Each starts on a cache
  // line, as a tensor's data does: the blocked kernel's vector loads of a buffer 16 bytes
  // off one (std::vector's) split a line every other load, and ran 10% slower.
  constexpr int64_t kLine = 16;  // floats
  const auto lines = [](int64_t floats) { return ceil_div(floats, kLine) * kLine; };
  static thread_local std::vector<float> scratch;
  const size_t need = static_cast<size_t>(lines(in_floats) + lines(w_floats) +
                                          lines(out_floats) + bias_floats + kLine);
  if (scratch.size() < need) scratch.resize(need);
  const auto misaligned = reinterpret_cast<uintptr_t>(scratch.data()) % (kLine * 4);
  float* const xb = scratch.data() + (misaligned ? kLine - misaligned / 4 : 0);
  float* const wb = xb + lines(in_floats);
  float* const ob = wb + lines(w_floats);
  float* const bb = ob + lines(out_floats);

  run_parallel(p.exec, 0, p.batch * cb, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / cb, g = item % cb;
      planes_to_blocked<B>(p.input + (n * C + g * B) * in_plane, in_plane,
                           std::min(B, C - g * B), xb + item * in_plane * B);
    }
  });
  run_parallel(p.exec, 0, kb * cb, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      pack_nchwc_weight_group<B>(p, item / cb, item % cb, wb + item * taps * B * B);
    }
  });
  if (p.bias) {
    std::copy(p.bias, p.bias + K, bb);
    std::fill(bb + K, bb + bias_floats, 0.0f);
  }

  Conv2dNchwcParams q;
  static_cast<ConvParamsBase&>(q) = p;
  q.input = xb;
  q.weight = wb;
  q.bias = p.bias ? bb : nullptr;
  q.output = ob;
  q.in_channels = C;
  q.out_channels = K;
  q.block = B;
  q.input_blocked = true;
  q.output_blocks = kb;
  q.activation = p.activation;
  q.exec = p.exec;
  blocked(q);

  run_parallel(p.exec, 0, p.batch * kb, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / kb, k = item % kb;
      blocked_to_planes<B>(ob + item * out_plane * B, out_plane, std::min(B, K - k * B),
                           p.output + (n * K + k * B) * out_plane, out_plane);
    }
  });
}

}  // namespace
