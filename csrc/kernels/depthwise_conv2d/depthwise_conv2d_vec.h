// Vector traits of the depthwise and separable kernels, one struct per register width.
// Included INSIDE an ISA target region, after <immintrin.h> (the region's begin header);
// the including file defines PYBENCH_DW_AVX512 in the AVX-512 region, where the ymm
// traits use the AVX-512VL masked moves instead of AVX2's vmaskmovps.
namespace {

// Rows of the depthwise fast paths (kDwRows) and the pointwise register tile (kPwRows
// output channels x kPwVecs vectors) per width: AVX2 keeps 9 weights + 2 accumulators +
// 3 loads in its 16 ymm registers; AVX-512 has 32.
struct Ymm {
  using Vec = __m256;
#if defined(PYBENCH_DW_AVX512)
  using Mask = __mmask8;
  static constexpr int kDwRows = 4;
  static Mask mask(int64_t n) { return static_cast<Mask>((1u << n) - 1); }
  static Vec maskload(const float* p, Mask m) { return _mm256_maskz_loadu_ps(m, p); }
  static void maskstore(float* p, Mask m, Vec v) { _mm256_mask_storeu_ps(p, m, v); }
#else
  using Mask = __m256i;
  static constexpr int kDwRows = 2;
  static Mask mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Vec maskload(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void maskstore(float* p, Mask m, Vec v) { _mm256_maskstore_ps(p, m, v); }
#endif
  static constexpr int64_t kLanes = 8;
  static constexpr int kPwRows = 4;
  static constexpr int kPwVecs = 3;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec set1(float v) { return _mm256_set1_ps(v); }
  static Vec loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static Vec max(Vec a, Vec b) { return _mm256_max_ps(a, b); }
  static Vec min(Vec a, Vec b) { return _mm256_min_ps(a, b); }
};

#if defined(PYBENCH_DW_AVX512)
struct Zmm {
  using Vec = __m512;
  using Mask = __mmask16;
  static constexpr int64_t kLanes = 16;
  static constexpr int kDwRows = 4;
  static constexpr int kPwRows = 6;
  static constexpr int kPwVecs = 4;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec set1(float v) { return _mm512_set1_ps(v); }
  static Vec loadu(const float* p) { return _mm512_loadu_ps(p); }
  static Mask mask(int64_t n) { return static_cast<Mask>((1u << n) - 1); }
  static Vec maskload(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void storeu(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static void maskstore(float* p, Mask m, Vec v) { _mm512_mask_storeu_ps(p, m, v); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  // The maskz forms: GCC 12's plain _mm512_max_ps trips -Wmaybe-uninitialized on its own
  // _mm512_undefined_ps (GCC bug 105593); an all-ones mask is the same instruction.
  static Vec max(Vec a, Vec b) { return _mm512_maskz_max_ps(static_cast<Mask>(-1), a, b); }
  static Vec min(Vec a, Vec b) { return _mm512_maskz_min_ps(static_cast<Mask>(-1), a, b); }
};
#endif

}  // namespace
