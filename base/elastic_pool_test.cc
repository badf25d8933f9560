#include "base/elastic_pool.h"

#include <atomic>

#include "absl/time/clock.h"
#include "base/notification.h"
#include "gtest/gtest.h"

namespace zeoraid {
namespace {

TEST(ElasticPoolTest, RunsEveryJobBeforeItIsDestroyed) {
  std::atomic<int> ran{0};
  {
    ElasticPool pool;
    for (int i = 0; i < 200; ++i) pool.Submit([&ran] { ++ran; });
  }
  EXPECT_EQ(ran.load(), 200);
}

// A job that waits for a later job (a vote waiting for the commit lock that
// a finish releases) is never queued behind it: a fixed pool of one thread
// would wait forever here.
TEST(ElasticPoolTest, AJobNeverWaitsBehindAnother) {
  ElasticPool pool;
  constexpr int kChain = 20;
  Notification released[kChain + 1];
  std::atomic<int> done{0};
  // Job i waits until job i+1 ran; the last one releases the chain.
  for (int i = 0; i < kChain; ++i) {
    pool.Submit([&, i] {
      EXPECT_TRUE(released[i + 1].WaitFor(absl::Seconds(10)))
          << "job " << i << " was queued behind a job that waits for it";
      released[i].Notify();
      ++done;
    });
  }
  pool.Submit([&] { released[kChain].Notify(); });
  ASSERT_TRUE(released[0].WaitFor(absl::Seconds(20)));
  EXPECT_GE(pool.threads(), kChain);
  while (done.load() < kChain) absl::SleepFor(absl::Milliseconds(1));
}

TEST(ElasticPoolTest, IdleThreadsAreReusedThenEnd) {
  ElasticPool pool(absl::Milliseconds(300));
  Notification first;
  pool.Submit([&] { first.Notify(); });
  ASSERT_TRUE(first.WaitFor(absl::Seconds(5)));
  absl::SleepFor(absl::Milliseconds(20));  // the thread is idle again
  for (int i = 0; i < 5; ++i) {
    Notification ran;
    pool.Submit([&] { ran.Notify(); });
    ASSERT_TRUE(ran.WaitFor(absl::Seconds(5)));
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(pool.threads(), 1) << "sequential jobs started new threads";
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (pool.threads() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(pool.threads(), 0) << "an idle thread outlived keep_idle";
  // A thread still starts after they all ended.
  Notification later;
  pool.Submit([&] { later.Notify(); });
  EXPECT_TRUE(later.WaitFor(absl::Seconds(5)));
}

}  // namespace
}  // namespace zeoraid
