// Vector traits of the depthwise, separable and pooling kernels (NCHW and blocked), one
// struct per register width. Included INSIDE an ISA target region, after <immintrin.h>
// (the region's begin header); the including file defines PYBENCH_DW_AVX512 in the
// AVX-512 region, where the ymm traits use the AVX-512VL masked moves instead of AVX2's
// vmaskmovps.
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
  // Lanes [lo, hi) (0 <= lo <= hi <= kLanes) set, the rest clear.
  static Mask range(int64_t lo, int64_t hi) {
    return static_cast<Mask>(((1u << hi) - 1) & ~((1u << lo) - 1));
  }
  // Lane i set where lanes[i] != 0.
  static Mask mask_of(const int32_t* lanes) {
    return _mm256_cmpneq_epi32_mask(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(lanes)),
                                    _mm256_setzero_si256());
  }
  // r[i] = m[i] ? a[idx[i]] : src[i] (idx[i] in [0, 8)).
  static __m256 permute(__m256 src, Mask m, __m256i idx, __m256 a) {
    return _mm256_mask_permutexvar_ps(src, m, idx, a);
  }
#else
  using Mask = __m256i;
  static constexpr int kDwRows = 2;
  static Mask mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Vec maskload(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static void maskstore(float* p, Mask m, Vec v) { _mm256_maskstore_ps(p, m, v); }
  static Mask range(int64_t lo, int64_t hi) {
    const __m256i i = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(lo)), i),
                               _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(hi)), i));
  }
  static Mask mask_of(const int32_t* lanes) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lanes));
    return _mm256_xor_si256(_mm256_cmpeq_epi32(v, _mm256_setzero_si256()), _mm256_set1_epi32(-1));
  }
  static __m256 permute(__m256 src, Mask m, __m256i idx, __m256 a) {
    return _mm256_blendv_ps(src, _mm256_permutevar8x32_ps(a, idx), _mm256_castsi256_ps(m));
  }
#endif
  using Index = __m256i;
  static Index load_index(const int32_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  }
  static constexpr int64_t kLanes = 8;
  static constexpr int kPwRows = 4;
  static constexpr int kPwVecs = 3;
  static constexpr int kPwTallRows = 8;  // one-vector tail tiles (separable_conv2d_fused.h)
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec set1(float v) { return _mm256_set1_ps(v); }
  static Vec loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static Vec mul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
  static Vec max(Vec a, Vec b) { return _mm256_max_ps(a, b); }
  static Vec min(Vec a, Vec b) { return _mm256_min_ps(a, b); }
  static Vec div(Vec a, Vec b) { return _mm256_div_ps(a, b); }
  // max(acc, v) with ATen's max pooling NaN rule: a NaN met is the result. vmaxps returns
  // its second operand when either is NaN, so `acc` stays NaN once it is, and a NaN `v`
  // is blended in.
  static Vec max_nan(Vec acc, Vec v) {
    return _mm256_blendv_ps(_mm256_max_ps(v, acc), v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  // even[i] = (a:b)[2i], odd[i] = (a:b)[2i + 1]: the column phases of stride 2.
  static void deinterleave(Vec a, Vec b, Vec& even, Vec& odd) {
    // [a0 a2 b0 b2 | a4 a6 b4 b6] -> 64-bit lanes (0, 2, 1, 3) -> [a0 a2 a4 a6 b0 b2 b4 b6]
    const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    const __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
    odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xD8));
  }
};

#if defined(PYBENCH_DW_AVX512)
struct Zmm {
  using Vec = __m512;
  using Mask = __mmask16;
  static constexpr int64_t kLanes = 16;
  static constexpr int kDwRows = 4;
  static constexpr int kPwRows = 6;
  static constexpr int kPwVecs = 4;
  static constexpr int kPwTallRows = 6;  // = kPwRows: no taller tail tiles
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec set1(float v) { return _mm512_set1_ps(v); }
  static Vec loadu(const float* p) { return _mm512_loadu_ps(p); }
  static Mask mask(int64_t n) { return static_cast<Mask>((1u << n) - 1); }
  static Mask range(int64_t lo, int64_t hi) {
    return static_cast<Mask>(((1u << hi) - 1) & ~((1u << lo) - 1));
  }
  static Vec maskload(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static Mask mask_of(const int32_t* lanes) {
    return _mm512_test_epi32_mask(_mm512_loadu_si512(lanes), _mm512_set1_epi32(-1));
  }
  using Index = __m512i;
  static Index load_index(const int32_t* p) { return _mm512_loadu_si512(p); }
  static Vec permute(Vec src, Mask m, Index idx, Vec a) {
    return _mm512_mask_permutexvar_ps(src, m, idx, a);
  }
  static void storeu(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static void maskstore(float* p, Mask m, Vec v) { _mm512_mask_storeu_ps(p, m, v); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  // The maskz forms: GCC 12's plain _mm512_max_ps trips -Wmaybe-uninitialized on its own
  // _mm512_undefined_ps (GCC bug 105593); an all-ones mask is the same instruction.
  static Vec max(Vec a, Vec b) { return _mm512_maskz_max_ps(static_cast<Mask>(-1), a, b); }
  static Vec min(Vec a, Vec b) { return _mm512_maskz_min_ps(static_cast<Mask>(-1), a, b); }
  static Vec mul(Vec a, Vec b) { return _mm512_maskz_mul_ps(static_cast<Mask>(-1), a, b); }
  static Vec div(Vec a, Vec b) { return _mm512_maskz_div_ps(static_cast<Mask>(-1), a, b); }
  // As Ymm's, in two instructions: the max where v is a number (vmaxps(v, acc) keeps a
  // NaN acc), v itself where it is NaN. (vrangeps, which looks like one instruction for
  // this, returns the number when one operand is a quiet NaN.)
  static Vec max_nan(Vec acc, Vec v) {
    return _mm512_mask_max_ps(v, _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), v, acc);
  }
  static void deinterleave(Vec a, Vec b, Vec& even, Vec& odd) {
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    even = _mm512_permutex2var_ps(a, ie, b);
    odd = _mm512_permutex2var_ps(a, io, b);
  }
};
#endif

}  // namespace
