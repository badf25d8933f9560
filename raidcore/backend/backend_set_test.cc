#include "raidcore/backend/backend_set.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "raidcore/backend/fake_backend.h"

namespace zeoraid::raidcore {
namespace {

TEST(BackendSetTest, RaidStateFollowsBackendStates) {
  BackendSet set;
  auto a = std::make_shared<FakeBackend>();
  auto b = std::make_shared<FakeBackend>();
  set.Add("a", "addr-a", a, "");
  set.Add("b", "addr-b", b, "");
  EXPECT_EQ(set.raid_state(), RaidState::kOptimal);
  EXPECT_TRUE(set.Degrade("a", "killed"));
  EXPECT_EQ(set.raid_state(), RaidState::kDegraded);
  EXPECT_TRUE(a->closed());
  EXPECT_FALSE(set.Degrade("a", "again"));  // already degraded
  EXPECT_TRUE(set.Degrade("b", "killed"));
  EXPECT_EQ(set.raid_state(), RaidState::kFailed);
  std::vector<BackendStatus> status = set.Status();
  ASSERT_EQ(status.size(), 2u);
  EXPECT_EQ(status[0].reason, "killed");
  EXPECT_EQ(status[0].state, BackendState::kDegraded);
}

TEST(BackendSetTest, UnreachableBackendStartsDegraded) {
  BackendSet set;
  set.Add("a", "addr-a", nullptr, "cannot connect");
  set.Add("b", "addr-b", std::make_shared<FakeBackend>(), "");
  EXPECT_EQ(set.raid_state(), RaidState::kDegraded);
  EXPECT_EQ(set.Optimal().size(), 1u);
  EXPECT_EQ(set.Status()[0].reason, "cannot connect");
}

TEST(BackendSetTest, ReadsAreSpreadOverOptimalBackends) {
  BackendSet set;
  set.Add("a", "x", std::make_shared<FakeBackend>(), "");
  set.Add("b", "x", std::make_shared<FakeBackend>(), "");
  set.Add("c", "x", std::make_shared<FakeBackend>(), "");
  std::map<std::string, int> picks;
  for (int i = 0; i < 30; ++i) picks[set.PickReader()->name]++;
  EXPECT_EQ(picks["a"], 10);
  EXPECT_EQ(picks["b"], 10);
  EXPECT_EQ(picks["c"], 10);
  set.Degrade("b", "test");
  picks.clear();
  for (int i = 0; i < 30; ++i) picks[set.PickReader()->name]++;
  EXPECT_EQ(picks["b"], 0);
  EXPECT_EQ(picks["a"] + picks["c"], 30);
  set.Degrade("a", "test");
  set.Degrade("c", "test");
  EXPECT_EQ(set.PickReader().status().code(), absl::StatusCode::kUnavailable);
}

TEST(BackendSetTest, RecoveryTakesADegradedBackendBackToOptimal) {
  BackendSet set;
  set.Add("a", "fake", std::make_shared<FakeBackend>(), "");
  set.Add("b", "fake", std::make_shared<FakeBackend>(), "");
  EXPECT_EQ(set.BeginRecovery("a").code(),
            absl::StatusCode::kFailedPrecondition);  // optimal
  EXPECT_EQ(set.BeginRecovery("x").code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(set.Degrade("b", "gone"));
  EXPECT_EQ(set.StatusOf("b")->kind, DegradeKind::kTransport);
  ASSERT_TRUE(set.BeginRecovery("b").ok());
  EXPECT_EQ(set.StatusOf("b")->state, BackendState::kRecovering);
  EXPECT_EQ(set.Optimal().size(), 1u);  // no reads, no commits
  auto fresh = std::make_shared<FakeBackend>();
  ASSERT_TRUE(set.CompleteRecovery("b", fresh, "12345678").ok());
  EXPECT_EQ(set.raid_state(), RaidState::kOptimal);
  EXPECT_EQ(set.StatusOf("b")->last_tid, "12345678");
  EXPECT_EQ(set.Optimal()[1].connection, fresh);
  EXPECT_EQ(set.CompleteRecovery("b", fresh, "12345678").code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(BackendSetTest, AbandonedRecoveryKeepsItsKind) {
  BackendSet set;
  set.Add("a", "fake", std::make_shared<FakeBackend>(), "");
  set.Add("b", "fake", std::make_shared<FakeBackend>(), "");
  set.Degrade("b", "answered otherwise", DegradeKind::kDisagreed);
  EXPECT_EQ(set.StatusOf("b")->kind, DegradeKind::kDisagreed);
  ASSERT_TRUE(set.BeginRecovery("b").ok());
  set.AbandonRecovery("b", "diverged at X", DegradeKind::kDiverged);
  EXPECT_EQ(set.StatusOf("b")->state, BackendState::kDegraded);
  EXPECT_EQ(set.StatusOf("b")->kind, DegradeKind::kDiverged);
  EXPECT_EQ(set.StatusOf("b")->reason, "diverged at X");
  // A backend in recovery that fails is degraded like an optimal one.
  ASSERT_TRUE(set.BeginRecovery("b").ok());
  EXPECT_TRUE(set.Degrade("b", "target died"));
  EXPECT_EQ(set.StatusOf("b")->kind, DegradeKind::kTransport);
}

TEST(BackendSetTest, ReadmitOnlyFromDegraded) {
  BackendSet set;
  set.Add("a", "fake", nullptr, "start-up");
  EXPECT_EQ(set.raid_state(), RaidState::kFailed);
  ASSERT_TRUE(set.Readmit("a", std::make_shared<FakeBackend>(), "t").ok());
  EXPECT_EQ(set.raid_state(), RaidState::kOptimal);
  EXPECT_FALSE(set.Readmit("a", std::make_shared<FakeBackend>(), "t").ok());
}

}  // namespace
TEST(BackendSetTest, DegradationsAreCountedOncePerStateChangeByKind) {
  BackendSet set;
  set.Add("a", "addr-a", std::make_shared<FakeBackend>(), "");
  set.Add("b", "addr-b", std::make_shared<FakeBackend>(), "");
  EXPECT_TRUE(set.Degrade("b", "killed"));
  EXPECT_FALSE(set.Degrade("b", "again"));  // no change, not counted
  ASSERT_TRUE(set.BeginRecovery("b").ok());
  ASSERT_TRUE(set.CompleteRecovery("b", std::make_shared<FakeBackend>(),
                                   std::string(8, '\0'))
                  .ok());
  EXPECT_TRUE(set.Degrade("b", "answered otherwise", DegradeKind::kDisagreed));
  std::vector<BackendSet::DegradationCount> counts = set.Degradations();
  ASSERT_EQ(counts.size(), 2u);
  for (const auto& c : counts) {
    EXPECT_EQ(c.name, "b");
    EXPECT_EQ(c.count, 1u) << DegradeKindName(c.kind);
  }
  EXPECT_STREQ(DegradeKindName(counts[0].kind), "transport");
  EXPECT_STREQ(DegradeKindName(counts[1].kind), "disagreed");
}

TEST(BackendSetTest, DisableRefusesTheLastOptimalAndEnableDegrades) {
  BackendSet set;
  auto a = std::make_shared<FakeBackend>();
  auto b = std::make_shared<FakeBackend>();
  set.Add("a", "addr-a", a, "");
  set.Add("b", "addr-b", b, "");
  EXPECT_TRUE(absl::IsNotFound(set.Disable("c", "x")));
  ASSERT_TRUE(set.Disable("b", "disk swap").ok());
  EXPECT_EQ(set.StatusOf("b")->state, BackendState::kDisabled);
  EXPECT_EQ(set.StatusOf("b")->reason, "disk swap");
  EXPECT_FALSE(b->alive());  // its connection is closed
  EXPECT_EQ(set.raid_state(), RaidState::kDegraded);
  // Not a reader, not a committer, not degraded again by a late failure.
  for (int i = 0; i < 4; ++i) EXPECT_EQ(set.PickReader()->name, "a");
  EXPECT_FALSE(set.Degrade("b", "late failure"));
  EXPECT_TRUE(absl::IsFailedPrecondition(set.Disable("a", "x")));
  EXPECT_TRUE(absl::IsFailedPrecondition(set.BeginRecovery("b")));
  EXPECT_TRUE(absl::IsFailedPrecondition(set.Enable("a")));
  ASSERT_TRUE(set.Enable("b").ok());
  EXPECT_EQ(set.StatusOf("b")->state, BackendState::kDegraded);
  EXPECT_EQ(set.StatusOf("b")->kind, DegradeKind::kTransport);
  std::vector<StateChange> history = set.History("b");
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[1].from, BackendState::kOptimal);
  EXPECT_EQ(history[1].to, BackendState::kDisabled);
  EXPECT_EQ(history[1].reason, "disk swap");
  EXPECT_EQ(history[2].to, BackendState::kDegraded);
  EXPECT_TRUE(set.History("nobody").empty());
}

TEST(BackendSetTest, HistoryKeepsTheLastChangesOnly) {
  BackendSet set;
  set.Add("a", "addr-a", std::make_shared<FakeBackend>(), "");
  set.Add("b", "addr-b", std::make_shared<FakeBackend>(), "");
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(set.Disable("b", absl::StrCat("round ", i)).ok());
    ASSERT_TRUE(set.Enable("b").ok());
    ASSERT_TRUE(set.BeginRecovery("b").ok());
    ASSERT_TRUE(set.CompleteRecovery("b", std::make_shared<FakeBackend>(),
                                     std::string(8, '\0'))
                    .ok());
  }
  std::vector<StateChange> history = set.History("b");
  ASSERT_EQ(history.size(), 16u);
  EXPECT_EQ(history.back().to, BackendState::kOptimal);
  EXPECT_EQ(history[history.size() - 4].reason, "round 29");
}

}  // namespace zeoraid::raidcore
