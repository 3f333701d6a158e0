// An 8 x 8 float transpose on ymm registers, for the kernels that move data between a
// channel-planar and a channel-interleaved layout (Gram's packing, the depthwise and conv2d
// kernels' blocked paths), and the two conversions built on it. Included INSIDE an ISA
// target region (AVX2 or AVX-512), after <immintrin.h> and <algorithm>; includes nothing
// itself.
namespace {

// dst[k][r] = src[r * src_stride + k] for r, k < 8: row k of the transpose stored at dst[k].
inline void transpose8x8_rows(const float* src, int64_t src_stride, float* const (&dst)[8]) {
  __m256 r[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * src_stride);
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(dst[0], _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(dst[1], _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(dst[2], _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(dst[3], _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(dst[4], _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(dst[5], _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(dst[6], _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(dst[7], _mm256_permute2f128_ps(u3, u7, 0x31));
}

// dst[k * dst_stride + r] = src[r * src_stride + k] for r, k < 8.
inline void transpose8x8(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  float* const rows[8] = {dst,                  dst + dst_stride,     dst + 2 * dst_stride,
                          dst + 3 * dst_stride, dst + 4 * dst_stride, dst + 5 * dst_stride,
                          dst + 6 * dst_stride, dst + 7 * dst_stride};
  transpose8x8_rows(src, src_stride, rows);
}

// B planes of `plane` floats (`real` of them present, the rest zero) as [pixel][B].
template <int64_t B>
void planes_to_blocked(const float* src, int64_t plane, int64_t real, float* dst) {
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

// [pixel][B] back to the first `real` of B planes of `plane` floats, `dst_stride` apart.
template <int64_t B>
void blocked_to_planes(const float* src, int64_t plane, int64_t real, float* dst,
                       int64_t dst_stride) {
  for (int64_t h = 0; h < B; h += 8) {
    int64_t k = 0;
    if (real >= h + 8) {
      for (; k + 8 <= plane; k += 8) {
        transpose8x8(src + k * B + h, B, dst + h * dst_stride + k, dst_stride);
      }
    }
    for (; k < plane; ++k) {
      for (int64_t r = h; r < std::min(h + 8, real); ++r) dst[r * dst_stride + k] = src[k * B + r];
    }
  }
}

}  // namespace
