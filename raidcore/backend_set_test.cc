#include "raidcore/backend_set.h"

#include "gtest/gtest.h"
#include "raidcore/fake_backend.h"

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

}  // namespace
}  // namespace zeoraid::raidcore
