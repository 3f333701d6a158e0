// Tests of the SIMT emulator itself: built-in variables, shared memory poisoning, the
// barrier and warp-primitive semantics, the errors it reports, and seeded scheduling.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "simt/simt.h"
#include "simt_test_util.h"

// ---- Kernels under test (plain CUDA) -----------------------------------------------------
namespace pybench::simt::emulator_test {

PYBENCH_SIMT_DYNAMIC_SHARED(float, dyn_smem);

// One record per thread: its indices and dimensions, at its linear global id.
__global__ void builtins_kernel(unsigned* out) {
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  unsigned* rec = out + 12 * (block * blockDim.x * blockDim.y * blockDim.z + thread);
  const unsigned v[12] = {threadIdx.x, threadIdx.y, threadIdx.z, blockIdx.x, blockIdx.y, blockIdx.z,
                          blockDim.x,  blockDim.y,  blockDim.z,  gridDim.x,  gridDim.y,  gridDim.z};
  for (int i = 0; i < 12; ++i) rec[i] = v[i];
}

// Block 0 writes all 64 entries, later blocks only the first 32; every thread then reads
// its own entry back. The static and the dynamic array must both read NaN where unwritten.
__global__ void poison_kernel(float* out_static, float* out_dynamic, int* out_int) {
  __shared__ float buf[64];
  __shared__ int ibuf[64];
  const int t = threadIdx.x;
  if (blockIdx.x == 0 || t < 32) {
    buf[t] = 1.0f + t;
    dyn_smem[t] = 2.0f + t;
    ibuf[t] = t;
  }
  __syncthreads();
  out_static[blockIdx.x * 64 + t] = buf[t];
  out_dynamic[blockIdx.x * 64 + t] = dyn_smem[t];
  out_int[blockIdx.x * 64 + t] = ibuf[t];
}

__global__ void barrier_reductions_kernel(int* out) {
  const int t = threadIdx.x;
  const int count = __syncthreads_count(t % 3 == 0);
  const int all_small = __syncthreads_and(t < 1000);
  const int any_big = __syncthreads_or(t == 50);
  const int none = __syncthreads_or(0);
  if (t == 0) {
    out[0] = count;
    out[1] = all_small;
    out[2] = any_big;
    out[3] = none;
  }
}

// The CUDA bug: threads past n leave before a barrier the others wait at.
__global__ void early_exit_kernel(float* out, int n) {
  __shared__ float s[64];
  const int t = threadIdx.x;
  if (t >= n) return;
  s[t] = 1.0f;
  __syncthreads();
  out[t] = s[(t + 1) % n];
}

__global__ void split_barrier_kernel(float* out) {
  __shared__ float s[64];
  s[threadIdx.x] = 1.0f;
  if (threadIdx.x % 2 == 0) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = s[63 - threadIdx.x];
}

// Every shuffle flavour at every width, into out[(case * nthreads) + t].
__global__ void shuffle_kernel(float* out) {
  const int t = threadIdx.x;
  const float v = 100.0f * (t / 32) + (t % 32);
  const int n = blockDim.x;
  int c = 0;
  for (int width = 32; width >= 1; width /= 2) {
    out[(c++) * n + t] = __shfl_sync(0xffffffffu, v, (t * 7 + 3) % 37, width);
    out[(c++) * n + t] = __shfl_up_sync(0xffffffffu, v, 3, width);
    out[(c++) * n + t] = __shfl_down_sync(0xffffffffu, v, 5, width);
    out[(c++) * n + t] = __shfl_xor_sync(0xffffffffu, v, 1, width);
    out[(c++) * n + t] = __shfl_xor_sync(0xffffffffu, v, 18, width);
  }
}
constexpr int kShuffleCases = 6 * 5;

__global__ void vote_kernel(unsigned* out) {
  const int t = threadIdx.x;
  const int lane = t % 32;
  unsigned* o = out + 8 * t;
  o[0] = __ballot_sync(0xffffffffu, lane % 3 == 0);
  o[1] = __all_sync(0xffffffffu, lane < 32);
  o[2] = __all_sync(0xffffffffu, lane < 31);
  o[3] = __any_sync(0xffffffffu, lane == 17);
  o[4] = __match_any_sync(0xffffffffu, lane / 8);
  o[5] = __reduce_add_sync(0xffffffffu, static_cast<unsigned>(lane));
  o[6] = static_cast<unsigned>(__reduce_min_sync(0xffffffffu, 5 - lane));
  int pred = -1;
  const unsigned all_same = __match_all_sync(0xffffffffu, 42, &pred);
  o[7] = all_same == 0xffffffffu && pred == 1;
}

// Lanes 24..31 of warp 0 exit first; the rest shuffle with a full mask, some reading from
// an exited lane. Warp 1 exists only up to lane 15 (48 threads).
__global__ void inactive_lane_kernel(float* out) {
  const int t = threadIdx.x;
  out[t] = -1.0f;
  if (t >= 24 && t < 32) return;
  out[t] = __shfl_sync(0xffffffffu, static_cast<float>(t), (t + 8) % 32);
}

__global__ void mismatched_warp_kernel(unsigned* out) {
  const int lane = threadIdx.x % 32;
  if (lane < 16) {
    out[threadIdx.x] = __shfl_sync(0xffffffffu, 1u, 0);
  } else {
    out[threadIdx.x] = __ballot_sync(0xffffffffu, 1);
  }
}

__global__ void foreign_mask_kernel(unsigned* out) {
  out[threadIdx.x] = __ballot_sync(0x0000ffffu, 1);
}

__global__ void warp_vs_block_deadlock_kernel(float* out) {
  if (threadIdx.x < 16) {
    __syncwarp();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1.0f;
}

// Histogram with shared and global atomics; also logs the order threads got slots in.
__global__ void histogram_kernel(const int* values, int n, int* hist, int* counter, int* order) {
  __shared__ int local[8];
  if (threadIdx.x < 8) local[threadIdx.x] = 0;
  __syncthreads();
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    atomicAdd(&local[values[i] & 7], 1);
  }
  __syncthreads();
  if (threadIdx.x < 8) atomicAdd(&hist[threadIdx.x], local[threadIdx.x]);
  const int slot = atomicAdd(counter, 1);
  order[slot] = blockIdx.x * blockDim.x + threadIdx.x;
}

__global__ void global_overrun_kernel(float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) out[i] = 1.0f;  // one past the end
}

__global__ void dynamic_shared_overrun_kernel(float* out) {
  dyn_smem[threadIdx.x + 1] = 1.0f;  // the launch gives blockDim.x floats
  __syncthreads();
  out[threadIdx.x] = dyn_smem[threadIdx.x];
}

__global__ void trap_kernel(float* out) {
  if (threadIdx.x == 5) __trap();
  out[threadIdx.x] = 1.0f;
}

__global__ void deep_stack_kernel(float* out) {
  float scratch[8192];  // 32 KiB of the fiber stack
  for (int i = 0; i < 8192; ++i) scratch[i] = static_cast<float>(i % 7 + threadIdx.x);
  __syncthreads();
  float s = 0.0f;
  for (int i = 0; i < 8192; ++i) s += scratch[i];
  out[threadIdx.x] = s;
}

// Hides a pointer's origin from the compiler, so UBSan's bounds and object-size checks
// stay silent and the overrun below is ASan's to find.
[[gnu::noinline]] float* opaque(float* p) {
  asm volatile("" : "+r"(p));
  return p;
}

// A local array overrun after the fiber has been switched out and back: ASan must still
// see the fiber's stack redzones.
__global__ void local_array_overrun_kernel(float* out, int extra) {
  float acc[4] = {0, 0, 0, 0};
  __syncthreads();
  float* p = opaque(acc);
  p[threadIdx.x % 4 + extra] = 1.0f;
  __syncthreads();
  out[threadIdx.x] = acc[0] + acc[1] + acc[2] + acc[3];
}

}  // namespace pybench::simt::emulator_test

namespace pybench::simt {
namespace {

using namespace emulator_test;  // NOLINT
using test::config_for;

TEST(SimtBuiltins, EveryThreadOfA3dGridSeesItsIndices) {
  const dim3 grid(3, 2, 2), block(5, 3, 2);  // 30 threads: a partial warp
  const unsigned threads = 30, blocks = 12;
  DeviceArray<unsigned> out(12 * threads * blocks);
  launch(config_for(7), grid, block, 0, builtins_kernel, out.data());
  for (unsigned b = 0; b < blocks; ++b) {
    for (unsigned t = 0; t < threads; ++t) {
      const unsigned* r = &out[12 * (b * threads + t)];
      const unsigned want[12] = {t % 5, t / 5 % 3, t / 15, b % 3, b / 3 % 2, b / 6,
                                 5,     3,         2,      3,     2,         2};
      for (int i = 0; i < 12; ++i) ASSERT_EQ(r[i], want[i]) << "block " << b << " thread " << t;
    }
  }
  const LaunchStats& s = last_launch_stats();
  EXPECT_EQ(s.blocks, blocks);
  EXPECT_EQ(s.threads, uint64_t{threads} * blocks);
}

TEST(SimtSharedMemory, UnwrittenSharedMemoryReadsAsNanEveryBlock) {
  const int blocks = 3;
  DeviceArray<float> st(64 * blocks), dy(64 * blocks);
  DeviceArray<int> in(64 * blocks);
  for (uint64_t seed : test::seeds()) {
    launch(config_for(seed), dim3(blocks), dim3(64), 64 * sizeof(float), poison_kernel, st.data(),
           dy.data(), in.data());
    for (int b = 0; b < blocks; ++b) {
      for (int t = 0; t < 64; ++t) {
        const int i = b * 64 + t;
        if (b == 0 || t < 32) {
          EXPECT_EQ(st[i], 1.0f + t);
          EXPECT_EQ(dy[i], 2.0f + t);
          EXPECT_EQ(in[i], t);
        } else {  // written by block 0 only: re-poisoned at this block's start
          EXPECT_TRUE(std::isnan(st[i])) << "static shared, block " << b << " entry " << t;
          EXPECT_TRUE(std::isnan(dy[i])) << "dynamic shared, block " << b << " entry " << t;
          EXPECT_EQ(in[i], -1) << "int shared reads 0xFFFFFFFF";
        }
      }
    }
  }
}

TEST(SimtSharedMemory, DeviceArraysStartPoisoned) {
  DeviceArray<float> f(3);
  DeviceArray<double> d(2);
  EXPECT_TRUE(std::isnan(f[0]) && std::isnan(f[2]) && std::isnan(d[1]));
}

TEST(SimtBarrier, CountAndOrVariants) {
  DeviceArray<int> out(4);
  launch(config_for(3), dim3(1), dim3(100), 0, barrier_reductions_kernel, out.data());
  EXPECT_EQ(out[0], 34);
  EXPECT_EQ(out[1], 1);
  EXPECT_EQ(out[2], 1);
  EXPECT_EQ(out[3], 0);
  EXPECT_EQ(last_launch_stats().barriers, 4u);
}

// Runs f, expecting pybench::simt::Error whose message contains `what`.
template <class F>
void expect_simt_error(F&& f, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << "no pybench::simt::Error, expected one about: " << what;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
  }
}

TEST(SimtBarrier, ThreadsExitingBeforeABarrierAreReported) {
  DeviceArray<float> out(64);
  expect_simt_error([&] { launch(config_for(1), dim3(1), dim3(64), 0, early_exit_kernel, out.data(), 40); },
                    "have exited");
  // All threads reach the barrier: fine.
  launch(config_for(1), dim3(1), dim3(64), 0, early_exit_kernel, out.data(), 64);
  EXPECT_EQ(out[63], 1.0f);
}

TEST(SimtBarrier, DifferentBarriersAreReported) {
  DeviceArray<float> out(64);
  expect_simt_error([&] { launch(config_for(1), dim3(1), dim3(64), 0, split_barrier_kernel, out.data()); },
                    "barrier divergence");
}

// The source lane CUDA documents for each shuffle of shuffle_kernel's thread t (independent
// of the emulator's PTX formulation).
int documented_source(int kind, int t, int width) {
  const int lane = t % 32;
  const int seg = lane / width * width;
  switch (kind) {
    case 0: return seg + ((t * 7 + 3) % 37) % width;                       // __shfl_sync
    case 1: return lane - seg >= 3 ? lane - 3 : lane;                      // up 3
    case 2: return lane - seg + 5 < width ? lane + 5 : lane;               // down 5
    case 3: return ((lane ^ 1) / width > lane / width) ? lane : lane ^ 1;  // xor 1
    default: return ((lane ^ 18) / width > lane / width) ? lane : lane ^ 18;
  }
}

TEST(SimtWarp, ShufflesMatchTheCudaDocumentationAtEveryWidth) {
  const int n = 64;
  DeviceArray<float> out(kShuffleCases * n);
  launch(config_for(5), dim3(1), dim3(n), 0, shuffle_kernel, out.data());
  int c = 0;
  for (int width = 32; width >= 1; width /= 2) {
    for (int kind = 0; kind < 5; ++kind, ++c) {
      for (int t = 0; t < n; ++t) {
        const int src = (t / 32) * 32 + documented_source(kind, t, width);
        EXPECT_EQ(out[c * n + t], 100.0f * (t / 32) + (src % 32))
            << "kind " << kind << " width " << width << " thread " << t;
      }
    }
  }
  EXPECT_EQ(last_launch_stats().warp_collectives, 2u * kShuffleCases);
}

TEST(SimtWarp, VotesMatchesAndReductions) {
  const int n = 64;
  DeviceArray<unsigned> out(8 * n);
  launch(config_for(2), dim3(1), dim3(n), 0, vote_kernel, out.data());
  for (int t = 0; t < n; ++t) {
    const unsigned* o = &out[8 * t];
    EXPECT_EQ(o[0], 0x49249249u);
    EXPECT_EQ(o[1], 1u);
    EXPECT_EQ(o[2], 0u);
    EXPECT_EQ(o[3], 1u);
    EXPECT_EQ(o[4], 0xffu << (8 * ((t % 32) / 8)));
    EXPECT_EQ(o[5], 496u);
    EXPECT_EQ(static_cast<int>(o[6]), 5 - 31);
    EXPECT_EQ(o[7], 1u);
  }
}

TEST(SimtWarp, ExitedAndMissingLanesReadAsPoison) {
  DeviceArray<float> out(48);
  launch(config_for(9), dim3(1), dim3(48), 0, inactive_lane_kernel, out.data());
  for (int t = 0; t < 48; ++t) {
    const int lane = t % 32, warp = t / 32;
    if (warp == 0 && lane >= 24) {
      EXPECT_EQ(out[t], -1.0f);
      continue;
    }
    const int src = warp * 32 + (lane + 8) % 32;
    const bool src_live = src < 48 && !(src >= 24 && src < 32);
    if (src_live) {
      EXPECT_EQ(out[t], static_cast<float>(src)) << t;
    } else {
      EXPECT_TRUE(std::isnan(out[t])) << "thread " << t << " read inactive lane " << src;
    }
  }
}

TEST(SimtWarp, MisuseIsReported) {
  DeviceArray<unsigned> out(64);
  DeviceArray<float> f(64);
  expect_simt_error([&] { launch(config_for(1), dim3(1), dim3(32), 0, mismatched_warp_kernel, out.data()); },
                    "warp divergence");
  expect_simt_error([&] { launch(config_for(1), dim3(1), dim3(32), 0, foreign_mask_kernel, out.data()); },
                    "is not in its own mask");
  expect_simt_error([&] { launch(config_for(1), dim3(1), dim3(64), 0, warp_vs_block_deadlock_kernel, f.data()); },
                    "deadlock");
  expect_simt_error([&] { __syncthreads(); }, "outside a kernel");
}

TEST(SimtAtomics, HistogramIsExactAndTheSeedSetsTheInterleaving) {
  const int n = 1000, threads = 64, blocks = 4;
  std::vector<int> values(n);
  for (int i = 0; i < n; ++i) values[i] = (i * 37 + 11) % 101;
  std::vector<int> want(8, 0);
  for (int v : values) ++want[v & 7];
  DeviceArray<int> dv(values);
  auto run = [&](uint64_t seed) {
    DeviceArray<int> hist(std::vector<int>(8, 0)), counter(std::vector<int>(1, 0)),
        order(threads * blocks);
    launch(config_for(seed), dim3(blocks), dim3(threads), 0, histogram_kernel, dv.data(), n,
           hist.data(), counter.data(), order.data());
    EXPECT_EQ(hist.to_vector(), want);
    return order.to_vector();
  };
  const std::vector<int> a = run(11), b = run(11), c = run(12);
  EXPECT_EQ(a, b) << "the same seed must replay the same schedule";
  EXPECT_NE(a, c) << "another seed should interleave differently";
  std::vector<int> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int> ids(threads * blocks);
  std::iota(ids.begin(), ids.end(), 0);
  EXPECT_EQ(sorted, ids);
  EXPECT_NE(a, ids) << "threads should not run in index order";
}

TEST(SimtLaunch, InvalidConfigurationsAreRejected) {
  DeviceArray<float> out(64);
  expect_simt_error([&] { launch(config_for(1), dim3(1), dim3(2048), 0, trap_kernel, out.data()); },
                    "invalid block");
  expect_simt_error([&] { launch(config_for(1), dim3(0), dim3(32), 0, trap_kernel, out.data()); },
                    "invalid grid");
  expect_simt_error([&] {
    launch(config_for(1), dim3(1), dim3(32), kMaxDynamicSharedBytes + 4, trap_kernel, out.data());
  }, "dynamic shared memory");
  expect_simt_error([&] { launch(config_for(1), dim3(1), dim3(32), 0, trap_kernel, out.data()); },
                    "__trap()");
}

TEST(SimtLaunch, KernelsGetAFullFiberStack) {
  DeviceArray<float> out(64);
  launch(config_for(1), dim3(1), dim3(64), 0, deep_stack_kernel, out.data());
  double want = 0;
  for (int i = 0; i < 8192; ++i) want += i % 7;
  EXPECT_EQ(out[0], static_cast<float>(want));
}

// Out-of-bounds writes: the guard zones of builds without ASan report them as errors;
// the ASan build aborts with its report (death tests in planted_bugs_test.cc too).
TEST(SimtMemcheck, GlobalWritePastTheEndIsCaught) {
  DeviceArray<float> out(100);
#if PYBENCH_SIMT_ASAN
  EXPECT_DEATH(launch(config_for(1), dim3(4), dim3(32), 0, global_overrun_kernel, out.data(), 100),
               "AddressSanitizer: heap-buffer-overflow");
#else
  expect_simt_error([&] { launch(config_for(1), dim3(4), dim3(32), 0, global_overrun_kernel, out.data(), 100); },
                    "out-of-bounds write to global memory: byte 400");
#endif
}

TEST(SimtMemcheck, DynamicSharedWritePastTheEndIsCaught) {
  DeviceArray<float> out(32);
#if PYBENCH_SIMT_ASAN
  EXPECT_DEATH(launch(config_for(1), dim3(1), dim3(32), 32 * sizeof(float), dynamic_shared_overrun_kernel, out.data()),
               "AddressSanitizer: use-after-poison");
#else
  expect_simt_error([&] {
    launch(config_for(1), dim3(1), dim3(32), 32 * sizeof(float), dynamic_shared_overrun_kernel, out.data());
  }, "out-of-bounds write to dynamic shared memory: byte 128");
#endif
}

TEST(SimtIntrinsics, BitConversionAndIntegerHelpers) {
  EXPECT_EQ(__float_as_int(1.0f), 0x3f800000);
  EXPECT_EQ(__int_as_float(0x40000000), 2.0f);
  EXPECT_EQ(__double2hiint(1.0), 0x3ff00000);
  EXPECT_EQ(__double2loint(1.0), 0);
  EXPECT_EQ(__hiloint2double(0x3ff00000, 0), 1.0);
  EXPECT_EQ(__brev(1u), 0x80000000u);
  EXPECT_EQ(__brev(0xF0u), 0x0F000000u);
  EXPECT_EQ(__byte_perm(0x33221100u, 0x77665544u, 0x5410u), 0x55441100u);
  EXPECT_EQ(__mul24(-2, 3), -6);
  EXPECT_EQ(__mul24(0x01000003, 2), 6);
  EXPECT_EQ(__umulhi(0xFFFFFFFFu, 2u), 1u);
  EXPECT_EQ(__clz(1), 31);
  EXPECT_EQ(__clz(0), 32);
  EXPECT_EQ(__ffs(8), 4);
  EXPECT_EQ(__popc(0xffu), 8);
  EXPECT_EQ(min(3, 5u), 3u);
  EXPECT_EQ(max(-1, 2), 2);
  EXPECT_EQ(min(1.5f, 2.0), 1.5);
  EXPECT_EQ(__saturatef(std::nanf("")), 0.0f);
  EXPECT_EQ(__saturatef(2.0f), 1.0f);
  EXPECT_EQ(__fmaf_rn(0.1f, 10.0f, -1.0f), std::fma(0.1f, 10.0f, -1.0f));
  const float4 v = make_float4(1, 2, 3, 4);
  EXPECT_EQ(alignof(float4), 16u);
  EXPECT_EQ(alignof(float2), 8u);
  EXPECT_EQ(sizeof(float3), 12u);
  EXPECT_EQ(v.w, 4.0f);
}

TEST(SimtMemcheck, LocalArrayOverrunOnAFiberStackIsCaughtByAsan) {
  DeviceArray<float> out(64);
  launch(config_for(1), dim3(1), dim3(64), 0, local_array_overrun_kernel, out.data(), 0);
  EXPECT_EQ(out[0], 1.0f);
#if PYBENCH_SIMT_ASAN
  EXPECT_DEATH(launch(config_for(1), dim3(1), dim3(64), 0, local_array_overrun_kernel, out.data(), 1),
               "AddressSanitizer: stack-buffer-overflow");
#else
  GTEST_SKIP() << "stack overruns need the ASan build";
#endif
}

}  // namespace
}  // namespace pybench::simt
