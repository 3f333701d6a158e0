// run_parallel_balanced: the ranges it hands out cover every item once, in order, and
// split the cost as evenly as item boundaries allow.
#include "common/parallel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <utility>
#include <vector>

#include "test_util.h"

namespace {

namespace pk = pybench::kernels;

std::vector<int64_t> prefix_of(const std::vector<int64_t>& costs) {
  std::vector<int64_t> prefix(costs.size() + 1, 0);
  for (size_t i = 0; i < costs.size(); ++i) prefix[i + 1] = prefix[i] + costs[i];
  return prefix;
}

// The ranges body saw, sorted by their start.
std::vector<std::pair<int64_t, int64_t>> ranges_of(const std::vector<int64_t>& costs,
                                                   const pk::CpuExecution& exec) {
  std::vector<std::pair<int64_t, int64_t>> seen;
  std::mutex mu;
  pk::run_parallel_balanced(exec, prefix_of(costs), [&](int64_t b, int64_t e) {
    std::lock_guard<std::mutex> lock(mu);
    seen.emplace_back(b, e);
  });
  std::sort(seen.begin(), seen.end());
  return seen;
}

void expect_cover(const std::vector<std::pair<int64_t, int64_t>>& r, int64_t n) {
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(r.front().first, 0);
  EXPECT_EQ(r.back().second, n);
  for (size_t i = 0; i < r.size(); ++i) {
    EXPECT_LT(r[i].first, r[i].second);
    if (i > 0) EXPECT_EQ(r[i - 1].second, r[i].first);
  }
}

TEST(RunParallelBalanced, SplitsByCostNotCount) {
  // Two output block groups of 4 and 2 blocks, 3 chunks each: by count the first thread
  // would get 12 of 18; by cost the split is at item 2 or 3 (8 / 10 or 12 / 6): nearest
  // half is 9, boundary 2 (8) and 3 (12) are 1 and 3 away.
  const std::vector<int64_t> costs = {4, 4, 4, 2, 2, 2};
  for (auto exec : {pk::CpuExecution{pybench::testing::std_thread_for(2), 2},
                    pk::CpuExecution{pybench::testing::reverse_uneven_chunks, 2}}) {
    const auto r = ranges_of(costs, exec);
    expect_cover(r, 6);
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0].second, 2);
  }
}

TEST(RunParallelBalanced, EqualCostsSplitEvenly) {
  const std::vector<int64_t> costs(12, 5);
  const auto r = ranges_of(costs, {pybench::testing::std_thread_for(3), 3});
  expect_cover(r, 12);
  ASSERT_EQ(r.size(), 3u);
  for (const auto& [b, e] : r) EXPECT_EQ(e - b, 4);
}

TEST(RunParallelBalanced, RandomCostsNeverWorseThanOneItemOffEven) {
  std::srand(7);
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t n = 1 + std::rand() % 40, threads = 1 + std::rand() % 5;
    std::vector<int64_t> costs(n);
    for (auto& c : costs) c = 1 + std::rand() % 9;
    const auto prefix = prefix_of(costs);
    const auto r = ranges_of(costs, {pybench::testing::reverse_uneven_chunks, threads});
    expect_cover(r, n);
    EXPECT_LE(static_cast<int64_t>(r.size()), threads);
    for (const auto& [b, e] : r) {
      // Each range is its share of the total, give or take the items at its two ends.
      const int64_t share = prefix[n] / threads;
      EXPECT_LE(prefix[e] - prefix[b], share + 1 + 2 * 9) << "trial " << trial;
    }
  }
}

TEST(RunParallelBalanced, SerialWithoutParallelFor) {
  const auto r = ranges_of({1, 2, 3}, {{}, 4});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].first, 0);
  EXPECT_EQ(r[0].second, 3);
  EXPECT_TRUE(ranges_of({}, {pybench::testing::std_thread_for(2), 2}).empty());
}

}  // namespace
