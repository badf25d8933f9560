#include "raidcore/commit/commit_lock.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "base/mutex.h"
#include "base/notification.h"
#include "gtest/gtest.h"

namespace zeoraid::raidcore {
namespace {

TEST(CommitLockTest, AcquireThenGrantsAtOnceOnTheCallersThreadWhenFree) {
  CommitLock lock;
  std::thread::id granted_on;
  absl::Status granted = absl::UnknownError("not run");
  lock.AcquireThen(absl::Seconds(1), "a", [&](absl::Status st) {
    granted = st;
    granted_on = std::this_thread::get_id();
  });
  EXPECT_TRUE(granted.ok()) << granted;
  EXPECT_EQ(granted_on, std::this_thread::get_id());
  EXPECT_EQ(lock.Acquire(absl::ZeroDuration(), "b").code(),
            absl::StatusCode::kUnavailable);
  lock.Release();
  EXPECT_TRUE(lock.Acquire(absl::ZeroDuration(), "b").ok());
  lock.Release();
}

// Waiting threads and AcquireThen callers are served in the order they came;
// an AcquireThen waiter runs on the thread that releases the lock to it, and
// no thread of its own waits meanwhile.
TEST(CommitLockTest, WaitersAreServedInArrivalOrderWhateverTheirKind) {
  CommitLock lock;
  ASSERT_TRUE(lock.Acquire(absl::ZeroDuration(), "first").ok());
  Mutex mu;
  std::vector<std::string> order;
  auto record = [&](const std::string& who) {
    MutexLock l(&mu);
    order.push_back(who);
  };
  std::thread::id a_ran_on;
  lock.AcquireThen(absl::Seconds(10), "a", [&](absl::Status st) {
    EXPECT_TRUE(st.ok()) << st;
    a_ran_on = std::this_thread::get_id();
    record("a");
    lock.Release();  // hands over to b, the waiting thread
  });
  std::thread b([&] {
    absl::Status st = lock.Acquire(absl::Seconds(10), "b");
    EXPECT_TRUE(st.ok()) << st;
    record("b");
    lock.Release();  // hands over to c
  });
  while (lock.waiting() < 2) absl::SleepFor(absl::Milliseconds(1));
  Notification c_done;
  lock.AcquireThen(absl::Seconds(10), "c", [&](absl::Status st) {
    EXPECT_TRUE(st.ok()) << st;
    record("c");
    lock.Release();
    c_done.Notify();
  });
  EXPECT_EQ(lock.waiting(), 3);
  lock.Release();  // to a, on this thread
  EXPECT_EQ(a_ran_on, std::this_thread::get_id());
  ASSERT_TRUE(c_done.WaitFor(absl::Seconds(10)));
  b.join();
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(lock.waiting(), 0);
  EXPECT_TRUE(lock.Acquire(absl::ZeroDuration(), "last").ok());
  lock.Release();
}

TEST(CommitLockTest, AcquireThenGivesUpAfterItsWait) {
  CommitLock lock;
  ASSERT_TRUE(lock.Acquire(absl::ZeroDuration(), "holder").ok());
  Notification done;
  absl::Status result;
  lock.AcquireThen(absl::Milliseconds(50), "late", [&](absl::Status st) {
    // Moved, not copied: a copy left here would share the message with
    // `result` and drop it on the alarm thread after Notify, racing the
    // reads below (the refcount is in Abseil, which TSan does not see).
    result = std::move(st);
    done.Notify();
  });
  ASSERT_TRUE(done.WaitFor(absl::Seconds(10)));
  EXPECT_EQ(result.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(result.message().find("holder"), std::string::npos) << result;
  EXPECT_EQ(lock.waiting(), 0);
  lock.Release();  // nobody to hand it to: free
  EXPECT_TRUE(lock.Acquire(absl::ZeroDuration(), "next").ok());
  lock.Release();
}

TEST(CommitLockTest, AWaitingThreadThatGivesUpLeavesTheQueue) {
  CommitLock lock;
  ASSERT_TRUE(lock.Acquire(absl::ZeroDuration(), "holder").ok());
  absl::Status st = lock.Acquire(absl::Milliseconds(30), "late");
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(lock.waiting(), 0);
  lock.Release();
  EXPECT_TRUE(lock.Acquire(absl::ZeroDuration(), "next").ok());
  lock.Release();
}

}  // namespace
}  // namespace zeoraid::raidcore
