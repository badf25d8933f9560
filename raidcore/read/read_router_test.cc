#include "raidcore/read/read_router.h"

#include "gtest/gtest.h"
#include "raidcore/backend/fake_backend.h"

namespace zeoraid::raidcore {
namespace {

using zeo::Value;

class ReadRouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"a", "b"}) {
      auto f = std::make_shared<FakeBackend>();
      fakes_.push_back(f);
      set_.Add(name, "x", f, "");
    }
  }
  BackendSet set_;
  CommitClock clock_{std::string(zeo::kZeroTid)};
  ReadRouter router_{&set_, &clock_, absl::Seconds(1)};
  std::vector<std::shared_ptr<FakeBackend>> fakes_;
};

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

TEST(CommitClockTest, StampChangesAcrossAFinish) {
  CommitClock clock{std::string(zeo::kZeroTid)};
  CommitClock::Stamp stamp = clock.Begin();
  EXPECT_TRUE(clock.Unchanged(stamp));
  clock.StartFinish();
  EXPECT_FALSE(clock.Unchanged(stamp));
  clock.EndFinish(zeo::TidFromUint64(7));
  EXPECT_FALSE(clock.Unchanged(stamp));
  CommitClock::Stamp next = clock.Begin();
  EXPECT_EQ(next.last_tid, zeo::TidFromUint64(7));
  EXPECT_TRUE(clock.Unchanged(next));
}

}  // namespace
}  // namespace zeoraid::raidcore
