#include "base/alarm_thread.h"

#include <atomic>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace zeoraid {
namespace {

TEST(AlarmThreadTest, RunsAlarmsInDeadlineOrder) {
  AlarmThread alarms;
  Mutex mu;
  std::vector<int> order;
  std::atomic<int> ran{0};
  for (int i : {3, 1, 2}) {
    alarms.Schedule(absl::Milliseconds(20 * i), [&, i] {
      MutexLock lock(&mu);
      order.push_back(i);
      ++ran;
    });
  }
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (ran.load() < 3 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  MutexLock lock(&mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(AlarmThreadTest, CancelledAlarmsNeverRun) {
  std::atomic<int> ran{0};
  {
    AlarmThread alarms;
    uint64_t id = alarms.Schedule(absl::Milliseconds(50), [&] { ++ran; });
    EXPECT_TRUE(alarms.Cancel(id));
    alarms.Schedule(absl::Hours(1), [&] { ++ran; });  // dropped at exit
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(ran.load(), 0);
}

TEST(AlarmThreadTest, CancelWaitsForARunningAlarm) {
  AlarmThread alarms;
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  uint64_t id = alarms.Schedule(absl::ZeroDuration(), [&] {
    started = true;
    absl::SleepFor(absl::Milliseconds(100));
    finished = true;
  });
  while (!started.load()) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_FALSE(alarms.Cancel(id));
  EXPECT_TRUE(finished.load());
}

}  // namespace
}  // namespace zeoraid
