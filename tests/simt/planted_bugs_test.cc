// The planted bugs of planted_bugs.cuh, each reported: by a wrong result under some seed
// (missing barrier), by the emulator's guard zones in the plain build, by ASan/UBSan
// (death tests) in the sanitizer build.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "simt/simt.h"
#include "simt_test_util.h"

namespace pybench::simt::examples {
PYBENCH_SIMT_DYNAMIC_SHARED(float, stencil_smem);
}  // namespace pybench::simt::examples
namespace pybench::simt::planted {
PYBENCH_SIMT_DYNAMIC_SHARED(float, stencil_smem);
}  // namespace pybench::simt::planted

#include "planted_bugs.cuh"
#include "simt/examples/transpose.cuh"

namespace pybench::simt {
namespace {

using test::config_for;
using test::random_vector;

using TransposeKernel = void (*)(const float*, float*, int, int);

struct Transposed {
  std::vector<float> out;
  bool exact = false;
};

Transposed run_transpose(TransposeKernel kernel, int rows, int cols, uint64_t seed) {
  const std::vector<float> in = random_vector(static_cast<size_t>(rows) * cols, 5);
  DeviceArray<float> din(in), dout(in.size());
  launch(config_for(seed), dim3((cols + 31) / 32, (rows + 31) / 32), dim3(32, 8), 0, kernel,
         din.data(), dout.data(), rows, cols);
  Transposed t{dout.to_vector(), true};
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      t.exact = t.exact && t.out[static_cast<size_t>(c) * rows + r] == in[static_cast<size_t>(r) * cols + c];
    }
  }
  return t;
}

constexpr int kSeeds = 8;

// (a) The correct kernel is right under every seed; without the barrier, the result is
// wrong under at least one (in practice every) seed.
TEST(SimtPlantedBugs, MissingBarrierGivesAWrongResultUnderSomeSeed) {
  int wrong = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    EXPECT_TRUE(run_transpose(examples::transpose_kernel, 70, 45, seed).exact) << "seed " << seed;
    wrong += !run_transpose(planted::transpose_missing_sync_kernel, 70, 45, seed).exact;
  }
  EXPECT_GE(wrong, 1) << "the emulator did not expose the missing __syncthreads()";
  RecordProperty("seeds_exposing_missing_barrier", wrong);
}

// (b) Off-by-one tile bound: writes one row past `out`. rows <= 64 keeps the stray writes
// inside the plain build's 256-byte guard zone.
TEST(SimtPlantedBugs, OffByOneTileBoundIsCaught) {
  EXPECT_TRUE(run_transpose(examples::transpose_kernel, 40, 45, 1).exact);
#if PYBENCH_SIMT_ASAN
  EXPECT_DEATH(run_transpose(planted::transpose_off_by_one_kernel, 40, 45, 1),
               "AddressSanitizer: heap-buffer-overflow.*\n.*WRITE");
#else
  try {
    run_transpose(planted::transpose_off_by_one_kernel, 40, 45, 1);
    ADD_FAILURE() << "the off-by-one store was not reported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("out-of-bounds write to global memory"), std::string::npos)
        << e.what();
  }
#endif
}

// (c) Unguarded tail read: the result is right, so only the sanitizer build can see it.
TEST(SimtPlantedBugs, UnguardedTailReadIsCaughtByAsan) {
#if PYBENCH_SIMT_ASAN
  EXPECT_DEATH(run_transpose(planted::transpose_unguarded_tail_kernel, 70, 45, 1),
               "AddressSanitizer: heap-buffer-overflow.*\n.*READ");
#else
  // Documents the limit: without ASan the stray reads hit the guard zone and go unseen.
  EXPECT_TRUE(run_transpose(planted::transpose_unguarded_tail_kernel, 70, 45, 1).exact);
  GTEST_SKIP() << "an out-of-bounds read that does not change the result needs the ASan build";
#endif
}

// (d) Halo loop one step too far: a write past the launch's dynamic shared memory.
TEST(SimtPlantedBugs, DynamicSharedOverrunIsCaught) {
  constexpr int R = 2, n = 200, block = 64;
  DeviceArray<float> din(random_vector(n, 1)), dw(random_vector(2 * R + 1, 2)), dout(n);
  auto run = [&] {
    launch(config_for(1), dim3((n + block - 1) / block), dim3(block),
           sizeof(float) * (block + 2 * R), planted::stencil_halo_overrun_kernel<R>, din.data(),
           dw.data(), dout.data(), n);
  };
#if PYBENCH_SIMT_ASAN
  EXPECT_DEATH(run(), "AddressSanitizer: use-after-poison");
#else
  try {
    run();
    ADD_FAILURE() << "the shared memory overrun was not reported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("out-of-bounds write to dynamic shared memory"),
              std::string::npos)
        << e.what();
  }
#endif
}

// (e) Static shared array indexed one past its end: UBSan's bounds check in the sanitizer
// build. (The plain build would scribble over the neighbouring variable: not run there.)
TEST(SimtPlantedBugs, StaticSharedIndexPastTheEndIsCaughtByUbsan) {
#if PYBENCH_SIMT_ASAN
  DeviceArray<float> din(random_vector(64, 3)), dout(64);
  EXPECT_DEATH(launch(config_for(1), dim3(1), dim3(64), 0, planted::shared_index_off_by_one_kernel,
                      din.data(), dout.data()),
               "runtime error: index 64 out of bounds for type 'float \\[64\\]'");
#else
  GTEST_SKIP() << "static __shared__ bounds are checked by the UBSan build";
#endif
}

}  // namespace
}  // namespace pybench::simt
