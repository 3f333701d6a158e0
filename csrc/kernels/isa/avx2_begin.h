// Opens a region whose functions are compiled for AVX2 + FMA, whatever the flags of the
// translation unit (simdjson's haswell/begin.h idea): the extension is built for the
// baseline x86-64 and picks a variant at run time, so only the code inside a region may
// use the wider instructions. Include every header above the region, never inside it,
// and close it with isa/avx2_end.h.
#include <immintrin.h>
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
