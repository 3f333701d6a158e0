// Small planes of the NCHW depthwise convolution, run through the blocked (NCHWc) kernel.
// Included INSIDE an ISA target region (depthwise_conv2d_avx2.cpp, _avx512.cpp) after
// common/transpose8_simd.h; includes nothing itself.
//
// Why: the direct kernel vectorises along a plane's rows, so a 7 x 7 or 14 x 14 plane
// fills 7 / 16 or 14 / 16 lanes of a zmm and pays its per-plane set-up (padded plane,
// weights, loop start) for ~50-200 outputs; MobileNet-v2's last depthwise layers (576-960
// channels at 14 x 14 and 7 x 7) ran at 0.5-0.8x oneDNN at batch 8. Here a work item takes
// B channels of one image, transposes their planes into one L1-resident [pixel][B] block
// (8 x 8 transposes), copies its rows into a zero-padded block, runs the blocked kernel on
// that with no padding of its own -- one vector is one pixel's B channels, every lane busy
// whatever the plane's width, and no window leaves the block -- and transposes the result
// back.
namespace {

using DepthwiseNchwcFn = void (*)(const DepthwiseConv2dNchwcParams&);

// The blocked path takes multiplier-1 layers without a residual whose output rows are
// narrower than two vectors of the direct kernel (`lanes` floats) and that have at least
// one whole block of channels. The block it runs on is zero-padded: the blocked kernel's
// own padding sends pixels whose window leaves the image down a checked one-pixel path,
// and a 5x5 window on a 7x7 plane leaves most of them there (MobileNet-v3's 5x5 at 7x7,
// 960 channels, batch 8: 0.51x oneDNN under the AVX2 cap that way, and 0.35x natively on
// the direct kernel).
inline bool depthwise_via_nchwc(const DepthwiseConv2dParams& p, int64_t lanes, int64_t block) {
  return p.multiplier == 1 && p.residual == nullptr && p.out_w < 2 * lanes &&
         p.channels >= block && p.out_h > 0 && p.out_w > 0;
}

// B planes of `plane` floats (`real` of them present) as [pixel][B] straight into the
// interior of a ph x pw block at (pad_h, pad_w) whose border is already zero; the block
// holds every input pixel. The path for "same" and wider padding: the border is zeroed
// once per thread, not copied around per item.
template <int64_t B>
void depthwise_to_padded_blocked(const DepthwiseConv2dParams& p, const float* src,
                                 int64_t real, int64_t pw, float* dst) {
  const int64_t plane = p.in_h * p.in_w;
  float* const origin = dst + (p.pad_h * pw + p.pad_w) * B;
  const auto at = [&](int64_t k) { return origin + (k / p.in_w * pw + k % p.in_w) * B; };
  for (int64_t h = 0; h < B; h += 8) {
    int64_t k = 0;
    if (real >= h + 8) {
      for (; k + 8 <= plane; k += 8) {
        float* rows[8];
        int64_t y = k / p.in_w, x = k % p.in_w;
        for (int i = 0; i < 8; ++i) {
          rows[i] = origin + (y * pw + x) * B + h;
          if (++x == p.in_w) x = 0, ++y;
        }
        transpose8x8_rows(src + h * plane + k, plane, rows);
      }
    }
    for (; k < plane; ++k) {
      float* d = at(k);
      for (int64_t r = h; r < h + 8; ++r) d[r] = r < real ? src[r * plane + k] : 0.0f;
    }
  }
}

// [pixel][B] rows of an in_h x in_w block into a ph x pw block of zeros at (pad_h, pad_w),
// rows and columns past the padded block dropped (the output never reads them): the path
// for layers whose output leaves input rows or columns unread.
template <int64_t B>
void depthwise_pad_blocked(const DepthwiseConv2dParams& p, const float* src, int64_t ph,
                           int64_t pw, float* dst) {
  const int64_t x0 = std::min(p.pad_w, pw);
  const int64_t cols = std::clamp<int64_t>(pw - p.pad_w, 0, p.in_w);
  for (int64_t y = 0; y < ph; ++y) {
    float* row = dst + y * pw * B;
    const int64_t iy = y - p.pad_h;
    if (iy < 0 || iy >= p.in_h || cols == 0) {
      std::memset(row, 0, sizeof(float) * pw * B);
      continue;
    }
    std::memset(row, 0, sizeof(float) * x0 * B);
    std::memcpy(row + x0 * B, src + iy * p.in_w * B, sizeof(float) * cols * B);
    std::memset(row + (x0 + cols) * B, 0, sizeof(float) * (pw - x0 - cols) * B);
  }
}

// B planes of `plane` floats (`real` of them present, the rest zero) as [pixel][B].
template <int64_t B>
void depthwise_to_blocked(const float* src, int64_t plane, int64_t real, float* dst) {
  for (int64_t h = 0; h < B; h += 8) {
    int64_t k = 0;
    if (real >= h + 8) {
      for (; k + 8 <= plane; k += 8) transpose8x8(src + h * plane + k, plane, dst + k * B + h, B);
    }
    for (; k < plane; ++k) {
      for (int64_t r = h; r < h + 8; ++r) dst[k * B + r] = r < real ? src[r * plane + k] : 0.0f;
    }
  }
}

// [pixel][B] back to the first `real` of B planes of `plane` floats.
template <int64_t B>
void depthwise_from_blocked(const float* src, int64_t plane, int64_t real, float* dst) {
  for (int64_t h = 0; h < B; h += 8) {
    int64_t k = 0;
    if (real >= h + 8) {
      for (; k + 8 <= plane; k += 8) transpose8x8(src + k * B + h, B, dst + h * plane + k, plane);
    }
    for (; k < plane; ++k) {
      for (int64_t r = h; r < std::min(h + 8, real); ++r) dst[r * plane + k] = src[k * B + r];
    }
  }
}

template <int64_t B>
void depthwise_conv2d_via_nchwc(const DepthwiseConv2dParams& p, DepthwiseNchwcFn blocked) {
  const int64_t C = p.channels, blocks = ceil_div(C, B), taps = p.kernel_h * p.kernel_w;
  const int64_t in_plane = p.in_h * p.in_w, out_plane = p.out_h * p.out_w;
  // The padded block: the rows and columns the output's windows read, from the first.
  const int64_t ph = (p.out_h - 1) * p.stride_h + (p.kernel_h - 1) * p.dilation_h + 1;
  const int64_t pw = (p.out_w - 1) * p.stride_w + (p.kernel_w - 1) * p.dilation_w + 1;
  // Weights (blocks, kh, kw, B) and bias in the blocked layout, zero past C.
  std::vector<float> weight(blocks * taps * B, 0.0f), bias(p.bias ? blocks * B : 0, 0.0f);
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t t = 0; t < taps; ++t) weight[(c / B * taps + t) * B + c % B] = p.weight[c * taps + t];
    if (p.bias) bias[c] = p.bias[c];
  }
  run_parallel(p.exec, 0, p.batch * blocks, 1, [&](int64_t begin, int64_t end) {
    static thread_local std::vector<float> buf;
    const int64_t floats = (in_plane + ph * pw + out_plane) * B;
    if (static_cast<int64_t>(buf.size()) < floats) buf.resize(floats);
    float* const in = buf.data();
    float* const padded = in + in_plane * B;
    float* const out = padded + ph * pw * B;
    const bool in_block = ph >= p.pad_h + p.in_h && pw >= p.pad_w + p.in_w;
    if (in_block) std::memset(padded, 0, sizeof(float) * ph * pw * B);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / blocks, cb = item % blocks, real = std::min(B, C - cb * B);
      const float* x = p.input + (n * C + cb * B) * in_plane;
      if (in_block) {
        depthwise_to_padded_blocked<B>(p, x, real, pw, padded);
      } else {
        depthwise_to_blocked<B>(x, in_plane, real, in);
        depthwise_pad_blocked<B>(p, in, ph, pw, padded);
      }
      DepthwiseConv2dNchwcParams q;
      static_cast<ConvParamsBase&>(q) = p;
      q.input = padded;
      q.in_h = ph;
      q.in_w = pw;
      q.pad_h = 0;
      q.pad_w = 0;
      q.weight = weight.data() + cb * taps * B;
      q.bias = p.bias ? bias.data() + cb * B : nullptr;
      q.output = out;
      q.batch = 1;
      q.channels = real;
      q.block = B;
      q.activation = p.activation;
      blocked(q);  // serial: q.exec is empty
      depthwise_from_blocked<B>(out, out_plane, real, p.output + (n * C + cb * B) * out_plane);
    }
  });
}

}  // namespace
