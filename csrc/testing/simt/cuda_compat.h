#pragma once
// CUDA C++ for g++: the keywords, built-in variables, vector types, intrinsics and warp
// primitives a pybench kernel header uses, mapped onto the SIMT emulator (runtime.h).
// A kernel header compiled against this file runs, unchanged, under pybench::simt::launch.
//
// What maps to what:
// - __global__ -> inline (nvcc never sees it: a kernel header may then be included by
//   several emulator tests); __device__, __host__, __constant__, __launch_bounds__(...):
//   nothing; __forceinline__ -> inline; __align__(n) -> the aligned attribute.
// - __shared__ -> thread_local. At block scope thread_local has static storage, so one
//   object is shared by every thread (fiber) of the block, as in CUDA, and the declaration
//   stays valid after `extern` (dynamic shared memory), which `static` would not be. The
//   emulator finds the static __shared__ arrays in the test binary's symbol table and
//   fills them with 0xFF bytes (NaN) at every block start; `extern __shared__ T name[]`
//   needs PYBENCH_SIMT_DYNAMIC_SHARED(T, name) in the kernel's namespace before the kernel
//   header (see README.md). Both need -fno-extern-tls-init (the CMake target sets it).
// - threadIdx, blockIdx, blockDim, gridDim: read-only references to the emulator's state,
//   which it sets before it switches to a thread.
// - __syncthreads*, __syncwarp, __shfl*_sync, __ballot_sync, __all/__any_sync,
//   __match_*_sync, __reduce_*_sync: scheduling points of the emulator (runtime.cc); each
//   records its call site, so a divergent barrier is reported with file:line.
// - atomics: plain read-modify-write (one host thread runs every fiber), then a
//   scheduling point, so other threads may run between two atomics.
// - math intrinsics: the correctly rounded libm function (__expf is exp, not the SFU
//   approximation). Rounding-mode suffixes other than _rn are ignored.
// Not provided: half/bfloat16, tensor cores (mma/wmma), cooperative groups, textures,
// inline PTX, __CUDA_ARCH__ (not defined: kernels see the host path of
// `#ifdef __CUDA_ARCH__`; PYBENCH_SIMT is defined instead).
#include <math.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#define PYBENCH_SIMT 1

#if defined(__SANITIZE_ADDRESS__)
#define PYBENCH_SIMT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PYBENCH_SIMT_ASAN 1
#endif
#endif
#ifndef PYBENCH_SIMT_ASAN
#define PYBENCH_SIMT_ASAN 0
#endif

// ---- Qualifiers -------------------------------------------------------------------------
#define __global__ inline
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __grid_constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ thread_local
// __restrict__ is a GNU keyword already. __noinline__ is not mapped: libstdc++ spells
// __attribute__((__noinline__)), which a macro of that name would break.

// Declares the storage behind `extern __shared__ T name[]` of a kernel in the current
// namespace; put it before the kernel header is included:
//   namespace pybench::kernels::cuda { PYBENCH_SIMT_DYNAMIC_SHARED(float, smem); }
// Every such name aliases the same per-block buffer, as in CUDA.
#define PYBENCH_SIMT_DYNAMIC_SHARED(type, name) \
  extern thread_local type name[] __asm__("pybench_simt_dynamic_shared")

// ---- Vector types -----------------------------------------------------------------------
// Sizes and alignments as in CUDA's vector_types.h: 2-vectors aligned to their size,
// 4-vectors to min(size, 16), 1- and 3-vectors to their element.
#define PYBENCH_SIMT_VECTOR_TYPES(T, name)                                             \
  struct name##1 {                                                                     \
    T x;                                                                               \
  };                                                                                   \
  struct alignas(2 * sizeof(T)) name##2 {                                              \
    T x, y;                                                                            \
  };                                                                                   \
  struct name##3 {                                                                     \
    T x, y, z;                                                                         \
  };                                                                                   \
  struct alignas(4 * sizeof(T) < 16 ? 4 * sizeof(T) : 16) name##4 {                    \
    T x, y, z, w;                                                                      \
  };                                                                                   \
  inline constexpr name##1 make_##name##1(T x) { return name##1{x}; }                  \
  inline constexpr name##2 make_##name##2(T x, T y) { return name##2{x, y}; }          \
  inline constexpr name##3 make_##name##3(T x, T y, T z) { return name##3{x, y, z}; }  \
  inline constexpr name##4 make_##name##4(T x, T y, T z, T w) { return name##4{x, y, z, w}; }

PYBENCH_SIMT_VECTOR_TYPES(signed char, char)
PYBENCH_SIMT_VECTOR_TYPES(unsigned char, uchar)
PYBENCH_SIMT_VECTOR_TYPES(short, short)
PYBENCH_SIMT_VECTOR_TYPES(unsigned short, ushort)
PYBENCH_SIMT_VECTOR_TYPES(int, int)
PYBENCH_SIMT_VECTOR_TYPES(unsigned int, uint)
PYBENCH_SIMT_VECTOR_TYPES(long, long)
PYBENCH_SIMT_VECTOR_TYPES(unsigned long, ulong)
PYBENCH_SIMT_VECTOR_TYPES(long long, longlong)
PYBENCH_SIMT_VECTOR_TYPES(unsigned long long, ulonglong)
PYBENCH_SIMT_VECTOR_TYPES(float, float)
PYBENCH_SIMT_VECTOR_TYPES(double, double)
#undef PYBENCH_SIMT_VECTOR_TYPES

struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1)
      : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}  // NOLINT: implicit as in CUDA
  constexpr operator uint3() const { return uint3{x, y, z}; }
};

// ---- Emulator entry points (runtime.cc) ---------------------------------------------------
namespace pybench::simt::detail {

// The built-in variables of the thread the emulator runs now.
struct Builtins {
  uint3 thread_idx{0, 0, 0};
  uint3 block_idx{0, 0, 0};
  dim3 block_dim;
  dim3 grid_dim;
};
inline Builtins g_builtins;

enum class BarrierKind : int { kSync, kCount, kAnd, kOr };
enum class WarpOp : int {
  kSyncwarp,
  kShflIdx,
  kShflUp,
  kShflDown,
  kShflXor,
  kBallot,
  kAll,
  kAny,
  kMatchAny,
  kMatchAll,
  kReduceAddU,
  kReduceMinU,
  kReduceMaxU,
  kReduceMinS,
  kReduceMaxS,
  kReduceAnd,
  kReduceOr,
  kReduceXor,
};

// Block barrier: returns the count / and / or of `pred` over the block (kSync: 0).
int block_barrier(BarrierKind kind, int pred, const char* file, int line);
// Warp collective over the lanes of `mask`: value is the lane's operand (bits of a
// trivially copyable value of at most 8 bytes), b the shuffle's lane / delta / lane mask
// and width its segment width. Returns the lane's result bits; *pred_out (may be null)
// receives __match_all_sync's predicate.
uint64_t warp_collective(WarpOp op, unsigned mask, uint64_t value, int b, int width,
                         const char* file, int line, int* pred_out = nullptr);
// Lets the scheduler run another thread of the block (after an atomic).
void yield_point();
// Mask of the calling thread's warp lanes that exist and have not exited.
unsigned live_lanes();
[[noreturn]] void trap(const char* what, const char* file, int line);

template <class T>
inline uint64_t to_bits(const T& v) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8,
                "warp primitives take a trivially copyable value of at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  return bits;
}
template <class T>
inline T from_bits(uint64_t bits) {
  T v;
  std::memcpy(&v, &bits, sizeof(T));
  return v;
}

}  // namespace pybench::simt::detail

// ---- Built-in variables -------------------------------------------------------------------
inline const uint3& threadIdx = pybench::simt::detail::g_builtins.thread_idx;
inline const uint3& blockIdx = pybench::simt::detail::g_builtins.block_idx;
inline const dim3& blockDim = pybench::simt::detail::g_builtins.block_dim;
inline const dim3& gridDim = pybench::simt::detail::g_builtins.grid_dim;
inline constexpr int warpSize = 32;

// ---- Barriers and warp primitives ---------------------------------------------------------
// The trailing file/line defaults record the caller's location for error reports.
inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  pybench::simt::detail::block_barrier(pybench::simt::detail::BarrierKind::kSync, 0, file, line);
}
inline int __syncthreads_count(int pred, const char* file = __builtin_FILE(),
                               int line = __builtin_LINE()) {
  return pybench::simt::detail::block_barrier(pybench::simt::detail::BarrierKind::kCount,
                                              pred != 0, file, line);
}
inline int __syncthreads_and(int pred, const char* file = __builtin_FILE(),
                             int line = __builtin_LINE()) {
  return pybench::simt::detail::block_barrier(pybench::simt::detail::BarrierKind::kAnd,
                                              pred != 0, file, line);
}
inline int __syncthreads_or(int pred, const char* file = __builtin_FILE(),
                            int line = __builtin_LINE()) {
  return pybench::simt::detail::block_barrier(pybench::simt::detail::BarrierKind::kOr,
                                              pred != 0, file, line);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, const char* file = __builtin_FILE(),
                       int line = __builtin_LINE()) {
  pybench::simt::detail::warp_collective(pybench::simt::detail::WarpOp::kSyncwarp, mask, 0, 0,
                                         32, file, line);
}

template <class T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize,
                     const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  namespace d = pybench::simt::detail;
  return d::from_bits<T>(
      d::warp_collective(d::WarpOp::kShflIdx, mask, d::to_bits(var), src_lane, width, file, line));
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned int delta, int width = warpSize,
                        const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  namespace d = pybench::simt::detail;
  return d::from_bits<T>(d::warp_collective(d::WarpOp::kShflUp, mask, d::to_bits(var),
                                            static_cast<int>(delta), width, file, line));
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned int delta, int width = warpSize,
                          const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  namespace d = pybench::simt::detail;
  return d::from_bits<T>(d::warp_collective(d::WarpOp::kShflDown, mask, d::to_bits(var),
                                            static_cast<int>(delta), width, file, line));
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize,
                         const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  namespace d = pybench::simt::detail;
  return d::from_bits<T>(
      d::warp_collective(d::WarpOp::kShflXor, mask, d::to_bits(var), lane_mask, width, file, line));
}
inline unsigned __ballot_sync(unsigned mask, int pred, const char* file = __builtin_FILE(),
                              int line = __builtin_LINE()) {
  namespace d = pybench::simt::detail;
  return static_cast<unsigned>(
      d::warp_collective(d::WarpOp::kBallot, mask, pred != 0, 0, 32, file, line));
}
inline int __all_sync(unsigned mask, int pred, const char* file = __builtin_FILE(),
                      int line = __builtin_LINE()) {
  namespace d = pybench::simt::detail;
  return static_cast<int>(d::warp_collective(d::WarpOp::kAll, mask, pred != 0, 0, 32, file, line));
}
inline int __any_sync(unsigned mask, int pred, const char* file = __builtin_FILE(),
                      int line = __builtin_LINE()) {
  namespace d = pybench::simt::detail;
  return static_cast<int>(d::warp_collective(d::WarpOp::kAny, mask, pred != 0, 0, 32, file, line));
}
template <class T>
inline unsigned __match_any_sync(unsigned mask, T value, const char* file = __builtin_FILE(),
                                 int line = __builtin_LINE()) {
  namespace d = pybench::simt::detail;
  return static_cast<unsigned>(
      d::warp_collective(d::WarpOp::kMatchAny, mask, d::to_bits(value), 0, 32, file, line));
}
template <class T>
inline unsigned __match_all_sync(unsigned mask, T value, int* pred,
                                 const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  namespace d = pybench::simt::detail;
  return static_cast<unsigned>(
      d::warp_collective(d::WarpOp::kMatchAll, mask, d::to_bits(value), 0, 32, file, line, pred));
}
#define PYBENCH_SIMT_WARP_REDUCE(name, T, op)                                                  \
  inline T name(unsigned mask, T value, const char* file = __builtin_FILE(),                   \
                int line = __builtin_LINE()) {                                                 \
    namespace d = pybench::simt::detail;                                                       \
    return d::from_bits<T>(d::warp_collective(d::WarpOp::op, mask, d::to_bits(value), 0, 32,   \
                                              file, line));                                    \
  }
PYBENCH_SIMT_WARP_REDUCE(__reduce_add_sync, unsigned, kReduceAddU)
PYBENCH_SIMT_WARP_REDUCE(__reduce_add_sync, int, kReduceAddU)
PYBENCH_SIMT_WARP_REDUCE(__reduce_min_sync, unsigned, kReduceMinU)
PYBENCH_SIMT_WARP_REDUCE(__reduce_min_sync, int, kReduceMinS)
PYBENCH_SIMT_WARP_REDUCE(__reduce_max_sync, unsigned, kReduceMaxU)
PYBENCH_SIMT_WARP_REDUCE(__reduce_max_sync, int, kReduceMaxS)
PYBENCH_SIMT_WARP_REDUCE(__reduce_and_sync, unsigned, kReduceAnd)
PYBENCH_SIMT_WARP_REDUCE(__reduce_or_sync, unsigned, kReduceOr)
PYBENCH_SIMT_WARP_REDUCE(__reduce_xor_sync, unsigned, kReduceXor)
#undef PYBENCH_SIMT_WARP_REDUCE

// Lanes of the caller's warp that exist and have not exited (the emulator does not track
// divergence, so this is an upper bound of the hardware's answer).
inline unsigned __activemask() { return pybench::simt::detail::live_lanes(); }

// Fences order memory; under the emulator every access is sequentially consistent.
inline void __threadfence_block() {}
inline void __threadfence() {}
inline void __threadfence_system() {}
inline void __nanosleep(unsigned) { pybench::simt::detail::yield_point(); }
[[noreturn]] inline void __trap(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  pybench::simt::detail::trap("__trap()", file, line);
}
inline long long clock64() {
  static long long ticks = 0;
  return ticks += 1;
}

// ---- Atomics ---------------------------------------------------------------------------------
// One host thread runs every fiber, so a plain read-modify-write is atomic; the yield after
// it lets the scheduler interleave threads at atomics too.
#define PYBENCH_SIMT_ATOMIC(name, T, expr)        \
  inline T name(T* address, T val) {              \
    const T old = *address;                       \
    *address = (expr);                            \
    pybench::simt::detail::yield_point();         \
    return old;                                   \
  }                                               \
  inline T name##_block(T* address, T val) { return name(address, val); } \
  inline T name##_system(T* address, T val) { return name(address, val); }
#define PYBENCH_SIMT_ATOMIC_ARITH(T)                                   \
  PYBENCH_SIMT_ATOMIC(atomicAdd, T, old + val)                         \
  PYBENCH_SIMT_ATOMIC(atomicExch, T, val)                              \
  PYBENCH_SIMT_ATOMIC(atomicMin, T, val < old ? val : old)             \
  PYBENCH_SIMT_ATOMIC(atomicMax, T, val > old ? val : old)
#define PYBENCH_SIMT_ATOMIC_BITS(T)                \
  PYBENCH_SIMT_ATOMIC(atomicSub, T, old - val)     \
  PYBENCH_SIMT_ATOMIC(atomicAnd, T, old & val)     \
  PYBENCH_SIMT_ATOMIC(atomicOr, T, old | val)      \
  PYBENCH_SIMT_ATOMIC(atomicXor, T, old ^ val)
PYBENCH_SIMT_ATOMIC_ARITH(int)
PYBENCH_SIMT_ATOMIC_ARITH(unsigned int)
PYBENCH_SIMT_ATOMIC_ARITH(unsigned long long)
PYBENCH_SIMT_ATOMIC_ARITH(long long)
PYBENCH_SIMT_ATOMIC_ARITH(float)
PYBENCH_SIMT_ATOMIC_ARITH(double)
PYBENCH_SIMT_ATOMIC_BITS(int)
PYBENCH_SIMT_ATOMIC_BITS(unsigned int)
PYBENCH_SIMT_ATOMIC_BITS(unsigned long long)
PYBENCH_SIMT_ATOMIC_BITS(long long)
#undef PYBENCH_SIMT_ATOMIC_BITS
#undef PYBENCH_SIMT_ATOMIC_ARITH
#undef PYBENCH_SIMT_ATOMIC
#define PYBENCH_SIMT_ATOMIC_CAS(T)                         \
  inline T atomicCAS(T* address, T compare, T val) {       \
    const T old = *address;                                \
    if (old == compare) *address = val;                    \
    pybench::simt::detail::yield_point();                  \
    return old;                                            \
  }
PYBENCH_SIMT_ATOMIC_CAS(int)
PYBENCH_SIMT_ATOMIC_CAS(unsigned int)
PYBENCH_SIMT_ATOMIC_CAS(unsigned long long)
PYBENCH_SIMT_ATOMIC_CAS(unsigned short)
#undef PYBENCH_SIMT_ATOMIC_CAS
inline unsigned atomicInc(unsigned* address, unsigned val) {
  const unsigned old = *address;
  *address = old >= val ? 0 : old + 1;
  pybench::simt::detail::yield_point();
  return old;
}
inline unsigned atomicDec(unsigned* address, unsigned val) {
  const unsigned old = *address;
  *address = (old == 0 || old > val) ? val : old - 1;
  pybench::simt::detail::yield_point();
  return old;
}

// ---- Math and bit intrinsics ------------------------------------------------------------------
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fmaf_rz(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fmaf_ru(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fmaf_rd(float a, float b, float c) { return std::fma(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float a) { return 1.0f / a; }
inline float __fsqrt_rn(float a) { return std::sqrt(a); }
inline float __frsqrt_rn(float a) { return 1.0f / std::sqrt(a); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline float __expf(float x) { return std::exp(x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __log10f(float x) { return std::log10(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline void __sincosf(float x, float* s, float* c) {
  *s = std::sin(x);
  *c = std::cos(x);
}
inline float __saturatef(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }  // NaN -> 0
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float rcbrtf(float x) { return 1.0f / std::cbrt(x); }
inline double rcbrt(double x) { return 1.0 / std::cbrt(x); }

inline int __float2int_rn(float x) { return static_cast<int>(std::nearbyint(x)); }
inline int __float2int_rz(float x) { return static_cast<int>(x); }
inline int __float2int_rd(float x) { return static_cast<int>(std::floor(x)); }
inline int __float2int_ru(float x) { return static_cast<int>(std::ceil(x)); }
inline unsigned __float2uint_rn(float x) { return static_cast<unsigned>(std::nearbyint(x)); }
inline unsigned __float2uint_rz(float x) { return static_cast<unsigned>(x); }
inline long long __float2ll_rn(float x) { return static_cast<long long>(std::nearbyint(x)); }
inline long long __float2ll_rz(float x) { return static_cast<long long>(x); }
inline float __int2float_rn(int x) { return static_cast<float>(x); }
inline float __uint2float_rn(unsigned x) { return static_cast<float>(x); }
inline float __ll2float_rn(long long x) { return static_cast<float>(x); }
inline float __double2float_rn(double x) { return static_cast<float>(x); }
inline int __double2int_rn(double x) { return static_cast<int>(std::nearbyint(x)); }
namespace pybench::simt::detail {
template <class To, class From>
inline To bits_as(From x) {
  static_assert(sizeof(To) == sizeof(From), "reinterpretation between types of one size");
  return from_bits<To>(to_bits(x));
}
inline int sext24(int a) { return static_cast<int>(static_cast<unsigned>(a) << 8) >> 8; }
}  // namespace pybench::simt::detail
inline int __float_as_int(float x) { return pybench::simt::detail::bits_as<int>(x); }
inline unsigned __float_as_uint(float x) { return pybench::simt::detail::bits_as<unsigned>(x); }
inline float __int_as_float(int x) { return pybench::simt::detail::bits_as<float>(x); }
inline float __uint_as_float(unsigned x) { return pybench::simt::detail::bits_as<float>(x); }
inline long long __double_as_longlong(double x) {
  return pybench::simt::detail::bits_as<long long>(x);
}
inline double __longlong_as_double(long long x) {
  return pybench::simt::detail::bits_as<double>(x);
}
inline int __double2hiint(double x) { return static_cast<int>(__double_as_longlong(x) >> 32); }
inline int __double2loint(double x) {
  return static_cast<int>(static_cast<unsigned>(__double_as_longlong(x) & 0xffffffffLL));
}
inline double __hiloint2double(int hi, int lo) {
  const unsigned long long bits =
      (static_cast<unsigned long long>(static_cast<unsigned>(hi)) << 32) |
      static_cast<unsigned>(lo);
  return __longlong_as_double(static_cast<long long>(bits));
}

inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __clzll(long long x) {
  return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x));
}
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
  const unsigned long long v = (static_cast<unsigned long long>(y) << 32) | x;
  unsigned r = 0;
  for (int i = 0; i < 4; ++i) {
    r |= static_cast<unsigned>((v >> (8 * ((s >> (4 * i)) & 7))) & 0xff) << (8 * i);
  }
  return r;
}
inline int __mul24(int a, int b) {
  return pybench::simt::detail::sext24(a) * pybench::simt::detail::sext24(b);
}
inline unsigned __umul24(unsigned a, unsigned b) { return (a & 0xffffff) * (b & 0xffffff); }
inline int __mulhi(int a, int b) {
  return static_cast<int>((static_cast<long long>(a) * b) >> 32);
}
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32);
}
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
  return static_cast<unsigned long long>((static_cast<unsigned __int128>(a) * b) >> 64);
}
inline long long __mul64hi(long long a, long long b) {
  return static_cast<long long>((static_cast<__int128>(a) * b) >> 64);
}

// CUDA's overloaded min/max (crt/math_functions.hpp), global namespace.
#define PYBENCH_SIMT_MINMAX(A, B, R)                  \
  inline R min(A a, B b) {                            \
    const R x = static_cast<R>(a), y = static_cast<R>(b); \
    return x < y ? x : y;                             \
  }                                                   \
  inline R max(A a, B b) {                            \
    const R x = static_cast<R>(a), y = static_cast<R>(b); \
    return x > y ? x : y;                             \
  }
PYBENCH_SIMT_MINMAX(int, int, int)
PYBENCH_SIMT_MINMAX(unsigned int, unsigned int, unsigned int)
PYBENCH_SIMT_MINMAX(int, unsigned int, unsigned int)
PYBENCH_SIMT_MINMAX(unsigned int, int, unsigned int)
PYBENCH_SIMT_MINMAX(long, long, long)
PYBENCH_SIMT_MINMAX(unsigned long, unsigned long, unsigned long)
PYBENCH_SIMT_MINMAX(long long, long long, long long)
PYBENCH_SIMT_MINMAX(unsigned long long, unsigned long long, unsigned long long)
PYBENCH_SIMT_MINMAX(float, float, float)
PYBENCH_SIMT_MINMAX(double, double, double)
PYBENCH_SIMT_MINMAX(float, double, double)
PYBENCH_SIMT_MINMAX(double, float, double)
#undef PYBENCH_SIMT_MINMAX

// Cache-hinted loads and stores: plain accesses.
template <class T>
inline T __ldg(const T* p) { return *p; }
template <class T>
inline T __ldca(const T* p) { return *p; }
template <class T>
inline T __ldcg(const T* p) { return *p; }
template <class T>
inline T __ldcs(const T* p) { return *p; }
template <class T>
inline T __ldlu(const T* p) { return *p; }
template <class T>
inline T __ldcv(const T* p) { return *p; }
template <class T>
inline void __stwb(T* p, T v) { *p = v; }
template <class T>
inline void __stcg(T* p, T v) { *p = v; }
template <class T>
inline void __stcs(T* p, T v) { *p = v; }
template <class T>
inline void __stwt(T* p, T v) { *p = v; }
