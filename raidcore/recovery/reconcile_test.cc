#include "raidcore/recovery/reconcile.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "zeo/tid.h"

namespace zeoraid::raidcore {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string Tid(uint64_t n) { return zeo::TidFromUint64(n); }

TEST(PlanReconcileTest, StartupWaitsForEveryBackend) {
  // The scenario that lost an acknowledged commit: backend a (newest) is down
  // while b (stale) is up.
  ReconcilePlan plan = PlanReconcile({{"a", std::nullopt}, {"b", Tid(5)}}, "",
                                     std::nullopt, false);
  EXPECT_FALSE(plan.decided);
  EXPECT_THAT(plan.waiting_for, ::testing::HasSubstr("a"));
}

TEST(PlanReconcileTest, StartupNewestIsTheTruth) {
  ReconcilePlan plan = PlanReconcile(
      {{"a", Tid(5)}, {"b", Tid(9)}, {"c", Tid(9)}}, "", std::nullopt, false);
  ASSERT_TRUE(plan.decided);
  EXPECT_EQ(plan.truth_tid, Tid(9));
  EXPECT_THAT(plan.optimal, ElementsAre("b", "c"));
  EXPECT_THAT(plan.behind, ElementsAre("a"));
}

TEST(PlanReconcileTest, DegradedStartIsAllowedByFlag) {
  ReconcilePlan plan = PlanReconcile({{"a", std::nullopt}, {"b", Tid(5)}}, "",
                                     std::nullopt, true);
  ASSERT_TRUE(plan.decided);
  EXPECT_EQ(plan.truth_tid, Tid(5));
  EXPECT_THAT(plan.optimal, ElementsAre("b"));
  EXPECT_THAT(plan.missing, ElementsAre("a"));
}

TEST(PlanReconcileTest, NothingReportedNeverDecides) {
  ReconcilePlan plan =
      PlanReconcile({{"a", std::nullopt}}, "", std::nullopt, true);
  EXPECT_FALSE(plan.decided);
}

TEST(PlanReconcileTest, RuntimeBackendAtConfirmedTidNeedsNoOne) {
  ReconcilePlan plan = PlanReconcile({{"a", Tid(7)}, {"b", std::nullopt}},
                                     Tid(7), std::nullopt, false);
  ASSERT_TRUE(plan.decided);
  EXPECT_THAT(plan.optimal, ElementsAre("a"));
}

TEST(PlanReconcileTest, RuntimeBehindBackendWaitsForOneAtConfirmedTid) {
  ReconcilePlan plan = PlanReconcile({{"a", Tid(6)}, {"b", std::nullopt}},
                                     Tid(7), std::nullopt, false);
  EXPECT_FALSE(plan.decided);
}

TEST(PlanReconcileTest, UnconfirmedTransactionIsAdopted) {
  ReconcilePlan plan =
      PlanReconcile({{"a", Tid(8)}, {"b", Tid(7)}}, Tid(7), Tid(8), false);
  ASSERT_TRUE(plan.decided);
  EXPECT_TRUE(plan.adopt_unconfirmed);
  EXPECT_EQ(plan.truth_tid, Tid(8));
  EXPECT_THAT(plan.optimal, ElementsAre("a"));
  EXPECT_THAT(plan.behind, ElementsAre("b"));
}

TEST(PlanReconcileTest, UnconfirmedWaitsForMissingBackend) {
  ReconcilePlan plan = PlanReconcile({{"a", Tid(7)}, {"b", std::nullopt}},
                                     Tid(7), Tid(8), false);
  EXPECT_FALSE(plan.decided);
  // Everyone reported, nobody has it: it was never committed.
  plan = PlanReconcile({{"a", Tid(7)}, {"b", Tid(7)}}, Tid(7), Tid(8), false);
  ASSERT_TRUE(plan.decided);
  EXPECT_FALSE(plan.adopt_unconfirmed);
  EXPECT_THAT(plan.optimal, ElementsAre("a", "b"));
}

TEST(PlanReconcileTest, BackendAheadOfRaidcoreHasDiverged) {
  ReconcilePlan plan = PlanReconcile({{"a", Tid(7)}, {"b", Tid(9)}}, Tid(7),
                                     std::nullopt, false);
  ASSERT_TRUE(plan.decided);
  EXPECT_THAT(plan.optimal, ElementsAre("a"));
  EXPECT_THAT(plan.ahead, ElementsAre("b"));
  EXPECT_THAT(plan.behind, IsEmpty());
}

}  // namespace
}  // namespace zeoraid::raidcore
