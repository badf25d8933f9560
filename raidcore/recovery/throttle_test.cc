#include "raidcore/recovery/throttle.h"

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace zeoraid::raidcore {
namespace {

// Simulates a copier that sleeps whatever Take says and returns how many
// items of `bytes` it copied in `span`.
int CopiedIn(Throttle& throttle, double bytes, absl::Duration span) {
  absl::Time now = absl::FromUnixSeconds(1000);
  const absl::Time end = now + span;
  int copied = 0;
  while (now < end) {
    now += throttle.Take(bytes, now);
    if (now >= end) break;
    ++copied;
    now += absl::Microseconds(10);  // the copy itself
  }
  return copied;
}

TEST(ThrottleTest, UnlimitedNeverWaits) {
  Throttle throttle;
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(throttle.Take(1 << 20, absl::Now()), absl::ZeroDuration());
  }
}

TEST(ThrottleTest, TransactionRateHoldsOverThirtySeconds) {
  Throttle throttle({0, 50});
  int copied = CopiedIn(throttle, 100, absl::Seconds(30));
  // 50/s for 30 s (±10 % is the bound; this is exact to one).
  EXPECT_GE(copied, 1499);
  EXPECT_LE(copied, 1501);
}

TEST(ThrottleTest, ByteRateHoldsOverThirtySeconds) {
  Throttle throttle({1 << 20, 0});  // 1 MiB/s, 64 KiB transactions
  int copied = CopiedIn(throttle, 64 << 10, absl::Seconds(30));
  EXPECT_GE(copied, 30 * 16 - 1);
  EXPECT_LE(copied, 30 * 16 + 1);
}

TEST(ThrottleTest, TheTighterLimitBinds) {
  Throttle throttle({1 << 20, 10});
  EXPECT_LE(CopiedIn(throttle, 10, absl::Seconds(10)), 101);
}

TEST(ThrottleTest, AHugeTransactionIsCopiedThenPaidFor) {
  Throttle throttle({1000, 0});
  absl::Time now = absl::FromUnixSeconds(1000);
  // 10 s worth at once: allowed, then paid for with a 10 s wait.
  absl::Duration wait = throttle.Take(10000, now);
  EXPECT_GT(wait, absl::Seconds(9.9));
  EXPECT_LT(wait, absl::Seconds(10.1));
}

TEST(ThrottleTest, SetRateTakesEffectAtOnce) {
  Throttle throttle({0, 1});
  absl::Time now = absl::FromUnixSeconds(1000);
  throttle.Take(0, now);
  EXPECT_GT(throttle.Take(0, now), absl::Seconds(1.9));
  throttle.SetRate({0, 0});
  EXPECT_EQ(throttle.Take(0, now), absl::ZeroDuration());
  EXPECT_EQ(throttle.rate().transactions_per_second, 0);
}

}  // namespace
}  // namespace zeoraid::raidcore
