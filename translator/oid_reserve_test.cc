#include "translator/oid_reserve.h"

#include <atomic>
#include <set>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace zeoraid::translator {
namespace {

std::vector<std::string> Oids(int from, int n) {
  std::vector<std::string> out;
  for (int i = from; i < from + n; ++i) out.push_back(std::to_string(i));
  return out;
}

TEST(OidReserveTest, HandsOutWhatItHoldsInOrderAllOrNothing) {
  OidReserve reserve(4);
  EXPECT_FALSE(reserve.Take(1).has_value());
  std::optional<OidReserve::Refill> refill = reserve.StartRefill();
  ASSERT_TRUE(refill.has_value());
  EXPECT_FALSE(reserve.StartRefill().has_value());  // one refill at a time
  reserve.Put(*refill, Oids(1, 5));
  EXPECT_FALSE(reserve.Take(6).has_value());
  EXPECT_EQ(reserve.size(), 5u);
  EXPECT_EQ(*reserve.Take(2), Oids(1, 2));
  EXPECT_EQ(*reserve.Take(3), Oids(3, 3));
  EXPECT_EQ(reserve.size(), 0u);
}

TEST(OidReserveTest, RefillsOnlyBelowItsLowWater) {
  OidReserve reserve(3);
  auto refill = reserve.StartRefill();
  reserve.Put(*refill, Oids(1, 4));
  EXPECT_FALSE(reserve.StartRefill().has_value());  // 4 >= 3
  reserve.Take(2);
  refill = reserve.StartRefill();
  ASSERT_TRUE(refill.has_value());
  reserve.Abandon(*refill);  // raidcore refused: another may try
  EXPECT_TRUE(reserve.StartRefill().has_value());
}

TEST(OidReserveTest, ARefillFromBeforeAClearIsDropped) {
  // raidcore restarted while a refill was under way: its oids may come from
  // the old raidcore and must not be handed out.
  OidReserve reserve(10);
  auto before = reserve.StartRefill();
  reserve.Put(*before, Oids(1, 2));
  auto refill = reserve.StartRefill();
  ASSERT_TRUE(refill.has_value());
  reserve.Clear();
  EXPECT_EQ(reserve.size(), 0u);
  reserve.Put(*refill, Oids(3, 5));
  EXPECT_EQ(reserve.size(), 0u);
  // A refill started after the clear is kept.
  auto after = reserve.StartRefill();
  ASSERT_TRUE(after.has_value());
  reserve.Put(*after, Oids(10, 2));
  EXPECT_EQ(*reserve.Take(2), Oids(10, 2));
}

TEST(OidReserveTest, ConcurrentTakersNeverGetTheSameOid) {
  OidReserve reserve(1000);
  std::atomic<int> next{0};
  std::vector<std::vector<std::string>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        if (auto oids = reserve.Take(3)) {
          got[t].insert(got[t].end(), oids->begin(), oids->end());
        }
        if (auto refill = reserve.StartRefill()) {
          reserve.Put(*refill, Oids(next.fetch_add(50), 50));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  size_t n = 0;
  for (const auto& g : got) {
    n += g.size();
    all.insert(g.begin(), g.end());
  }
  EXPECT_GT(n, 0u);
  EXPECT_EQ(all.size(), n);
}

TEST(OidReserveTest, OneFetchAtATimeAndWaitersSeeItsEnd) {
  OidReserve reserve(10);
  auto refill = reserve.StartRefill(/*even_if_full=*/true);
  ASSERT_TRUE(refill.has_value());
  EXPECT_FALSE(reserve.StartRefill(/*even_if_full=*/true).has_value());
  std::atomic<bool> woke{false};
  std::thread waiter([&] {
    reserve.AwaitRefill(absl::Seconds(30));
    woke = true;
  });
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(woke.load());
  reserve.Put(*refill, Oids(1, 3));
  waiter.join();
  EXPECT_TRUE(woke.load());
  // Full, yet a client that needs more may fetch.
  EXPECT_FALSE(reserve.Take(5).has_value());
  EXPECT_TRUE(reserve.StartRefill(/*even_if_full=*/true).has_value());
}

TEST(OidReserveTest, ARefillAsksForTwiceTheLowWaterAtOnce) {
  OidReserve reserve(1000);
  // Empty: 2,000 wanted, at most 1,000 a fetch.
  EXPECT_EQ(reserve.RefillCount(100, 1000), 1000u);
  auto refill = reserve.StartRefill();
  ASSERT_TRUE(refill.has_value());
  reserve.Put(*refill, Oids(1, 950));
  // 950 held: 1,050 wanted, in hundreds.
  EXPECT_EQ(reserve.RefillCount(100, 1000), 1000u);
  EXPECT_EQ(reserve.RefillCount(100, 2000), 1100u);
  refill = reserve.StartRefill();
  ASSERT_TRUE(refill.has_value());
  reserve.Put(*refill, Oids(951, 1040));
  // 1,990 held: no refill starts, and one would ask for the least.
  EXPECT_FALSE(reserve.StartRefill().has_value());
  EXPECT_EQ(reserve.RefillCount(100, 1000), 100u);
}

}  // namespace
}  // namespace zeoraid::translator
