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
// Windows wider than 3 pixels take it up to rows of 32 (two zmm) on AVX2 too: the direct
// kernel's ymm rows of 28 ran 5x5 layers at 0.79-0.85x oneDNN, the blocked path 0.90-1.09x
// (capped to AVX2, batch 8: 120 and 240 channels on 28x28, 72 channels stride 2 on 56x56);
// 3x3 layers of 144-192 channels on 28x28 measured 15% faster on the direct kernel.
inline bool depthwise_via_nchwc(const DepthwiseConv2dParams& p, int64_t lanes, int64_t block) {
  const bool wide_window = (p.kernel_w - 1) * p.dilation_w >= 3;
  const int64_t max_w = wide_window ? std::max<int64_t>(2 * lanes, 32) : 2 * lanes;
  return p.multiplier == 1 && p.residual == nullptr && p.out_w < max_w &&
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

// The blocked path's state for one call -- the weights and bias in the blocked layout,
// the padded block's size -- and its step: B channels of one image, from NCHW planes to
// NCHW planes. The fused separable kernel runs its depthwise stage on small planes
// through it too, into its mid tile.
template <int64_t B>
class DepthwiseViaNchwc {
 public:
  DepthwiseViaNchwc(const DepthwiseConv2dParams& p, DepthwiseNchwcFn blocked, Activation act)
      : p_(p), blocked_(blocked), act_(act) {
    const int64_t C = p.channels, blocks = ceil_div(C, B), taps = p.kernel_h * p.kernel_w;
    weight_.assign(blocks * taps * B, 0.0f);  // (blocks, kh, kw, B), zero past C
    bias_.assign(p.bias ? blocks * B : 0, 0.0f);
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t t = 0; t < taps; ++t) weight_[(c / B * taps + t) * B + c % B] = p.weight[c * taps + t];
      if (p.bias) bias_[c] = p.bias[c];
    }
    // The padded block: the rows and columns the output's windows read, from the first.
    ph_ = (p.out_h - 1) * p.stride_h + (p.kernel_h - 1) * p.dilation_h + 1;
    pw_ = (p.out_w - 1) * p.stride_w + (p.kernel_w - 1) * p.dilation_w + 1;
    in_block_ = ph_ >= p.pad_h + p.in_h && pw_ >= p.pad_w + p.in_w;
  }

  // The calling thread's buffer, its padded block's border zeroed: call once per thread
  // before its steps.
  float* thread_buffer() const {
    static thread_local std::vector<float> buf;
    const int64_t floats = (p_.in_h * p_.in_w + ph_ * pw_ + p_.out_h * p_.out_w) * B;
    if (static_cast<int64_t>(buf.size()) < floats) buf.resize(floats);
    if (in_block_) std::memset(padded(buf.data()), 0, sizeof(float) * ph_ * pw_ * B);
    return buf.data();
  }

  // Channels [cb * B, cb * B + B) of `image` (its NCHW planes) into `dst`'s planes
  // (channel stride `dst_stride`), with the activation.
  void run(const float* image, int64_t cb, float* dst, int64_t dst_stride, float* buf) const {
    const int64_t in_plane = p_.in_h * p_.in_w, out_plane = p_.out_h * p_.out_w;
    const int64_t taps = p_.kernel_h * p_.kernel_w;
    const int64_t real = std::min(B, p_.channels - cb * B);
    const float* x = image + cb * B * in_plane;
    float* const block = padded(buf);
    if (in_block_) {
      depthwise_to_padded_blocked<B>(p_, x, real, pw_, block);
    } else {
      planes_to_blocked<B>(x, in_plane, real, buf);
      depthwise_pad_blocked<B>(p_, buf, ph_, pw_, block);
    }
    DepthwiseConv2dNchwcParams q;
    static_cast<ConvParamsBase&>(q) = p_;
    q.input = block;
    q.in_h = ph_;
    q.in_w = pw_;
    q.pad_h = 0;
    q.pad_w = 0;
    q.weight = weight_.data() + cb * taps * B;
    q.bias = p_.bias ? bias_.data() + cb * B : nullptr;
    float* const out = block + ph_ * pw_ * B;
    q.output = out;
    q.batch = 1;
    q.channels = real;
    q.block = B;
    q.activation = act_;
    blocked_(q);  // serial: q.exec is empty
    blocked_to_planes<B>(out, out_plane, real, dst, dst_stride);
  }

 private:
  float* padded(float* buf) const { return buf + p_.in_h * p_.in_w * B; }

  const DepthwiseConv2dParams& p_;
  DepthwiseNchwcFn blocked_;
  Activation act_;
  std::vector<float> weight_, bias_;
  int64_t ph_ = 0, pw_ = 0;
  bool in_block_ = false;
};

template <int64_t B>
void depthwise_conv2d_via_nchwc(const DepthwiseConv2dParams& p, DepthwiseNchwcFn blocked) {
  const DepthwiseViaNchwc<B> via(p, blocked, p.activation);
  const int64_t C = p.channels, blocks = ceil_div(C, B);
  const int64_t in_image = C * p.in_h * p.in_w, out_plane = p.out_h * p.out_w;
  run_parallel(p.exec, 0, p.batch * blocks, 1, [&](int64_t begin, int64_t end) {
    float* const buf = via.thread_buffer();
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / blocks, cb = item % blocks;
      via.run(p.input + n * in_image, cb, p.output + (n * C + cb * B) * out_plane, out_plane,
              buf);
    }
  });
}

}  // namespace
