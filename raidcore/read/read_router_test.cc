#include "raidcore/read/read_router.h"

#include "gtest/gtest.h"
#include "raidcore/backend/fake_backend.h"
#include "raidcore/read/read_test_fixture.h"

namespace zeoraid::raidcore {
namespace {

using zeo::Value;

using ReadRouterTest = TwoBackendsTest;

TEST_F(ReadRouterTest, TransportFailureDegradesAndRetriesElsewhere) {
  fakes_[0]->SetFailure("loadBefore", absl::UnavailableError("reset"));
  fakes_[1]->SetReply("loadBefore", ZeoReply::Result(Value::Str("ok")));
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<ZeoReply> reply = router_.Read("loadBefore", {});
    ASSERT_TRUE(reply.ok());
    EXPECT_EQ(reply->value, Value::Str("ok"));
  }
  EXPECT_EQ(set_.raid_state(), RaidState::kDegraded);
  EXPECT_EQ(set_.Status()[0].state, BackendState::kDegraded);
}

TEST_F(ReadRouterTest, ApplicationErrorIsAnAnswer) {
  for (auto& f : fakes_) {
    f->SetReply("loadBefore", ZeoReply::Error("ZODB.POSException.POSKeyError",
                                              Value::Tuple({})));
  }
  absl::StatusOr<ZeoReply> reply = router_.Read("loadBefore", {});
  ASSERT_TRUE(reply.ok());
  EXPECT_TRUE(reply->is_error);
  EXPECT_EQ(set_.raid_state(), RaidState::kOptimal);
}

TEST_F(ReadRouterTest, FailsWhenNoBackendAnswers) {
  for (auto& f : fakes_) f->SetFailure("history", absl::UnavailableError("x"));
  EXPECT_EQ(router_.Read("history", {}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(set_.raid_state(), RaidState::kFailed);
}

TEST_F(ReadRouterTest, SnapshotNamesTheLastCommittedTid) {
  clock_.StartFinish();
  clock_.EndFinish(zeo::TidFromUint64(42));
  absl::StatusOr<SnapshotReply> reply =
      router_.ReadAtSnapshot("loadBefore", {});
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->snapshot_tid, zeo::TidFromUint64(42));
}

// A fake whose StartThen answers only when the test says so, from the test's
// thread, like ZeoClient's reader thread would.
class DeferredBackend : public FakeBackend {
 public:
  void StartThen(absl::string_view method, zeo::Value::Items args,
                 absl::Duration timeout, ReplyCallback done) override {
    absl::StatusOr<ZeoReply> reply = Call(method, std::move(args), timeout);
    MutexLock lock(&mu_);
    held_.push_back(
        [reply, done = std::move(done)]() mutable { done(std::move(reply)); });
  }
  // Runs the held answers; how many there were.
  int Answer() {
    std::vector<std::function<void()>> held;
    {
      MutexLock lock(&mu_);
      held.swap(held_);
    }
    for (auto& h : held) h();
    return static_cast<int>(held.size());
  }

 private:
  Mutex mu_;
  std::vector<std::function<void()>> held_ ABSL_GUARDED_BY(mu_);
};

// What a ReadAtSnapshotThen call ended with, awaited by the test.
class Outcome {
 public:
  ReadRouter::SnapshotCallback Callback() {
    return [this](absl::StatusOr<SnapshotReply> reply) {
      MutexLock lock(&mu_);
      reply_ = std::move(reply);
      done_ = true;
      cv_.SignalAll();
    };
  }
  bool done() {
    MutexLock lock(&mu_);
    return done_;
  }
  absl::StatusOr<SnapshotReply> Wait() {
    MutexLock lock(&mu_);
    while (!done_) cv_.Wait(&mu_);
    return reply_;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::StatusOr<SnapshotReply> reply_ ABSL_GUARDED_BY(mu_) =
      absl::UnknownError("not run");
};

class ReadRouterThenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"a", "b"}) {
      auto f = std::make_shared<DeferredBackend>();
      f->SetReply("loadBefore", ZeoReply::Result(Value::Str(name)));
      fakes_.push_back(f);
      set_.Add(name, "x", f, "");
    }
  }
  BackendSet set_;
  CommitClock clock_{std::string(zeo::kZeroTid)};
  std::vector<std::shared_ptr<DeferredBackend>> fakes_;
  ReadRouter router_{&set_, &clock_, absl::Seconds(1)};
};

TEST_F(ReadRouterThenTest, AnswersOnTheBackendsThreadWhenNothingOverlaps) {
  clock_.StartFinish();
  clock_.EndFinish(zeo::TidFromUint64(42));
  Outcome outcome;
  router_.ReadAtSnapshotThen("loadBefore", {}, outcome.Callback());
  EXPECT_FALSE(outcome.done());  // the caller did not wait for the answer
  ASSERT_EQ(fakes_[0]->Answer(), 1);
  EXPECT_TRUE(outcome.done());  // answered by the "reader thread" itself
  absl::StatusOr<SnapshotReply> reply = outcome.Wait();
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->reply.value, Value::Str("a"));
  EXPECT_EQ(reply->snapshot_tid, zeo::TidFromUint64(42));
}

TEST_F(ReadRouterThenTest, AFinishDuringTheReadMakesItReadAgain) {
  Outcome outcome;
  router_.ReadAtSnapshotThen("loadBefore", {}, outcome.Callback());
  clock_.StartFinish();
  clock_.EndFinish(zeo::TidFromUint64(43));
  fakes_[0]->Answer();
  // Read again on the pool (a blocking Call, on the next backend), at the
  // new snapshot: the first answer may or may not include tid 43.
  absl::StatusOr<SnapshotReply> reply = outcome.Wait();
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->snapshot_tid, zeo::TidFromUint64(43));
  EXPECT_EQ(reply->reply.value, Value::Str("b"));
}

TEST_F(ReadRouterThenTest, AFinishInProgressIsWaitedForOffTheCallersThread) {
  clock_.StartFinish();
  Outcome outcome;
  router_.ReadAtSnapshotThen("loadBefore", {}, outcome.Callback());
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(outcome.done());
  clock_.EndFinish(zeo::TidFromUint64(44));
  absl::StatusOr<SnapshotReply> reply = outcome.Wait();
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->snapshot_tid, zeo::TidFromUint64(44));
}

TEST_F(ReadRouterThenTest, ATransportFailureDegradesAndFailsOver) {
  fakes_[0]->SetFailure("loadBefore", absl::UnavailableError("reset"));
  Outcome outcome;
  router_.ReadAtSnapshotThen("loadBefore", {}, outcome.Callback());
  fakes_[0]->Answer();
  absl::StatusOr<SnapshotReply> reply = outcome.Wait();
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->reply.value, Value::Str("b"));
  EXPECT_EQ(set_.Status()[0].state, BackendState::kDegraded);
  EXPECT_EQ(set_.raid_state(), RaidState::kDegraded);
}

TEST_F(ReadRouterThenTest, NoOptimalBackendIsAnError) {
  for (auto& f : fakes_)
    f->SetFailure("loadBefore", absl::UnavailableError("x"));
  Outcome outcome;
  router_.ReadAtSnapshotThen("loadBefore", {}, outcome.Callback());
  fakes_[0]->Answer();
  EXPECT_EQ(outcome.Wait().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(set_.raid_state(), RaidState::kFailed);
  Outcome after;
  router_.ReadAtSnapshotThen("loadBefore", {}, after.Callback());
  EXPECT_EQ(after.Wait().status().code(), absl::StatusCode::kUnavailable);
}

TEST(CommitClockTest, StampChangesAcrossAFinish) {
  CommitClock clock{std::string(zeo::kZeroTid)};
  CommitClock::Stamp stamp = clock.Begin();
  EXPECT_TRUE(clock.Unchanged(stamp));
  clock.StartFinish();
  EXPECT_FALSE(clock.Unchanged(stamp));
  EXPECT_FALSE(clock.TryBegin().has_value());
  clock.EndFinish(zeo::TidFromUint64(7));
  EXPECT_FALSE(clock.Unchanged(stamp));
  CommitClock::Stamp next = clock.Begin();
  EXPECT_TRUE(clock.TryBegin().has_value());
  EXPECT_EQ(next.last_tid, zeo::TidFromUint64(7));
  EXPECT_TRUE(clock.Unchanged(next));
}

}  // namespace
}  // namespace zeoraid::raidcore
