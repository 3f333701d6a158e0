// Opens a region compiled for AVX-512 F+BW+DQ+VL plus AVX2/FMA (oneDNN's avx512_core).
// Same rules as isa/avx2_begin.h; close it with isa/avx512_end.h.
#include <immintrin.h>
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
#endif
