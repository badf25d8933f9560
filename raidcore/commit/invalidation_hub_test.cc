#include "raidcore/commit/invalidation_hub.h"

#include <atomic>
#include <thread>

#include "absl/time/clock.h"
#include "base/notification.h"
#include "gtest/gtest.h"
#include "zeo/tid.h"

namespace zeoraid::raidcore {
namespace {

std::string T(uint64_t n) { return zeo::TidFromUint64(n); }

InvalidationEvent Event(uint64_t tid, std::vector<std::string> oids) {
  InvalidationEvent e;
  e.tid = T(tid);
  e.oids = std::move(oids);
  return e;
}

TEST(InvalidationHubTest, SinceAnswersFromTheRecentQueueAsZeoDoes) {
  InvalidationHub hub(T(10), /*recent_capacity=*/3, /*max_backlog=*/10);
  // Nothing committed since the start: a client at the start tid is up to date.
  ASSERT_TRUE(hub.Since(T(10)).has_value());
  EXPECT_TRUE(hub.Since(T(10))->oids.empty());
  EXPECT_FALSE(hub.Since(T(9)).has_value());

  hub.Publish(Event(11, {T(1), T(2)}));
  hub.Publish(Event(12, {T(2), T(3)}));
  std::optional<InvalidationsSince> since = hub.Since(T(10));
  ASSERT_TRUE(since.has_value());
  EXPECT_EQ(since->latest_tid, T(12));
  EXPECT_EQ(since->oids, (std::vector<std::string>{T(1), T(2), T(3)}));
  EXPECT_EQ(hub.Since(T(11))->oids, (std::vector<std::string>{T(2), T(3)}));

  // Past the queue's capacity the oldest entries fall out; a tid older than the
  // oldest one still queued gets None, as from ZEO.
  hub.Publish(Event(13, {T(4)}));
  hub.Publish(Event(14, {T(5)}));
  EXPECT_FALSE(hub.Since(T(10)).has_value());
  EXPECT_FALSE(hub.Since(T(11)).has_value());
  ASSERT_TRUE(hub.Since(T(12)).has_value());
  EXPECT_EQ(hub.Since(T(12))->oids, (std::vector<std::string>{T(4), T(5)}));
}

TEST(InvalidationHubTest, EmptyStorageAnswersOnlyFromCommits) {
  InvalidationHub hub(std::string(zeo::kZeroTid), 10, 10);
  EXPECT_FALSE(hub.Since(std::string(zeo::kZeroTid)).has_value());
  hub.Publish(Event(5, {T(0)}));
  // ZEO: the oldest queued transaction (5) is newer than z64 → None.
  EXPECT_FALSE(hub.Since(std::string(zeo::kZeroTid)).has_value());
  ASSERT_TRUE(hub.Since(T(5)).has_value());
}

TEST(InvalidationHubTest, PrefillAnswersForTransactionsBeforeTheStart) {
  InvalidationHub hub(T(10), /*recent_capacity=*/3, /*max_backlog=*/10);
  EXPECT_FALSE(hub.Prefill({Event(7, {}), Event(9, {T(1)})}));  // not at 10
  ASSERT_TRUE(hub.Prefill({Event(6, {T(9)}), Event(7, {T(8)}), Event(9, {T(1)}),
                           Event(10, {T(2), T(1)})}));
  // Capacity 3: 7 is the floor now.
  EXPECT_FALSE(hub.Since(T(6)).has_value());
  ASSERT_TRUE(hub.Since(T(7)).has_value());
  EXPECT_EQ(hub.Since(T(7))->latest_tid, T(10));
  EXPECT_EQ(hub.Since(T(7))->oids, (std::vector<std::string>{T(1), T(2)}));
  EXPECT_EQ(hub.Since(T(9))->oids, (std::vector<std::string>{T(1), T(2)}));
  EXPECT_TRUE(hub.Since(T(10))->oids.empty());
  hub.Publish(Event(11, {T(3)}));
  EXPECT_FALSE(hub.Since(T(7)).has_value());
  EXPECT_EQ(hub.Since(T(9))->oids,
            (std::vector<std::string>{T(1), T(2), T(3)}));
  // Only once, before anything is published.
  EXPECT_FALSE(hub.Prefill({Event(11, {})}));
}

TEST(InvalidationHubTest, SubscribersSeeEveryEventInOrder) {
  InvalidationHub hub(T(1), 100, 1000);
  auto sub = hub.Subscribe();
  EXPECT_EQ(sub->start_tid(), T(1));
  std::thread publisher([&] {
    for (uint64_t t = 2; t < 200; ++t) hub.Publish(Event(t, {T(t)}));
  });
  uint64_t expect = 2;
  InvalidationEvent e;
  while (expect < 200 && sub->Next(&e, absl::Seconds(5))) {
    EXPECT_EQ(e.tid, T(expect));
    ++expect;
  }
  publisher.join();
  EXPECT_EQ(expect, 200u);
  hub.Unsubscribe(sub);
  EXPECT_TRUE(sub->closed());
}

TEST(InvalidationHubTest, SlowSubscriberIsCutOff) {
  InvalidationHub hub(T(1), 100, /*max_backlog=*/5);
  auto sub = hub.Subscribe();
  for (uint64_t t = 2; t < 10; ++t) hub.Publish(Event(t, {}));
  EXPECT_TRUE(sub->closed());
  InvalidationEvent e;
  EXPECT_FALSE(sub->Next(&e, absl::Milliseconds(1)));
}

TEST(InvalidationHubTest, ListenerIsToldOfEveryEventAndNeverAfterUnsubscribe) {
  InvalidationHub hub(T(1), 100, /*max_backlog=*/1000);
  std::atomic<int> told{0};
  std::shared_ptr<InvalidationHub::Subscription> sub;
  std::vector<std::string> seen;
  // As a completion-queue watcher: takes what is queued when told.
  sub = hub.Subscribe([&] {
    ++told;
    InvalidationEvent e;
    while (sub->TryNext(&e)) seen.push_back(e.tid);
  });
  InvalidationEvent e;
  EXPECT_FALSE(sub->TryNext(&e));
  hub.Publish(Event(2, {T(1)}));
  hub.PublishInfo(zeo::Value());
  hub.PublishDisconnect("t", 7, "timed out");
  hub.Publish(Event(3, {T(1)}));
  EXPECT_EQ(told.load(), 4);
  EXPECT_EQ(seen, (std::vector<std::string>{T(2), "", "", T(3)}));
}

TEST(InvalidationHubTest, UnsubscribeWaitsForTheListenerRunning) {
  // The watcher is deleted once Unsubscribe returned: a listener still
  // running then would use it.
  InvalidationHub hub(T(1), 100, /*max_backlog=*/1000);
  Notification entered, release;
  std::atomic<int> told{0};
  auto sub = hub.Subscribe([&] {
    if (told++ == 0) {
      entered.Notify();
      release.WaitFor(absl::Seconds(10));
    }
  });
  std::thread publisher([&] { hub.Publish(Event(2, {})); });
  ASSERT_TRUE(entered.WaitFor(absl::Seconds(10)));
  std::atomic<bool> unsubscribed{false};
  std::thread watcher_end([&] {
    hub.Unsubscribe(sub);
    unsubscribed = true;
  });
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(unsubscribed.load());
  release.Notify();
  watcher_end.join();
  publisher.join();
  EXPECT_TRUE(unsubscribed.load());
  hub.Publish(Event(3, {}));
  EXPECT_EQ(told.load(), 1);
}

TEST(InvalidationHubTest, ListenerIsToldOfACutOff) {
  InvalidationHub hub(T(1), 100, /*max_backlog=*/2);
  int told = 0;
  auto sub = hub.Subscribe([&] { ++told; });
  for (uint64_t t = 2; t < 5; ++t) hub.Publish(Event(t, {}));
  EXPECT_EQ(told, 3);
  EXPECT_TRUE(sub->closed());
  InvalidationEvent e;
  EXPECT_FALSE(sub->TryNext(&e));
}

}  // namespace
TEST(InvalidationHubTest, CountSinceCountsTheTransactionsAfterATid) {
  InvalidationHub hub(zeo::TidFromUint64(100), /*queue_size=*/3,
                      /*max_backlog=*/10);
  for (uint64_t t = 101; t <= 105; ++t) {
    InvalidationEvent e;
    e.tid = zeo::TidFromUint64(t);
    hub.Publish(e);
  }
  EXPECT_EQ(hub.CountSince(zeo::TidFromUint64(105)), 0u);
  EXPECT_EQ(hub.CountSince(zeo::TidFromUint64(104)), 1u);
  EXPECT_EQ(hub.CountSince(zeo::TidFromUint64(103)), 2u);
  // 101 and 102 fell out of the 3-transaction queue: unknown.
  EXPECT_EQ(hub.CountSince(zeo::TidFromUint64(101)), std::nullopt);
}

}  // namespace zeoraid::raidcore
