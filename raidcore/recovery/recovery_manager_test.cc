// Whole-system tests of self-healing: RecoveryManager (start-up
// reconciliation, heartbeats, automatic re-admission) with a real BackendSet,
// CommitCoordinator, CommitClock and InvalidationHub over in-memory ZEO
// servers (fake_storage.h), while clients commit. No sockets, no gRPC: they
// run under --config=tsan.
#include "raidcore/recovery/recovery_manager.h"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "raidcore/backend/backend_set.h"
#include "raidcore/commit/commit_clock.h"
#include "raidcore/commit/commit_coordinator.h"
#include "raidcore/commit/invalidation_hub.h"
#include "raidcore/recovery/committers.h"
#include "raidcore/recovery/fake_storage.h"
#include "zeo/tid.h"

namespace zeoraid::raidcore {

// Readable states in failure messages (found by argument-dependent lookup).
static void PrintTo(BackendState state, std::ostream* os) {
  *os << BackendStateName(state);
}
static void PrintTo(RaidState state, std::ostream* os) {
  *os << RaidStateName(state);
}

namespace {

using zeo::Value;

using recovery_testing::CommitOnce;
using recovery_testing::Committers;
using recovery_testing::CommitterTxn;
using recovery_testing::Oid;

bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

// Both servers hold the same 30 transactions of an hour ago.
void SeedAlike(FakeStorageServer& a, FakeStorageServer& b) {
  const uint64_t base =
      zeo::TidToUint64(zeo::TidFromTime(absl::Now() - absl::Hours(1)));
  for (int i = 0; i < 30; ++i) {
    StoredTransaction t;
    t.header =
        Value::Tuple({Value::Bytes(zeo::TidFromUint64(base + i * 1000)),
                      Value::Str(" "), Value::Bytes("seed"),
                      Value::Bytes(absl::StrCat("seed ", i)), Value::Dict({})});
    t.records.push_back(Value::Tuple({Value::Bytes(Oid(i)), Value::None(),
                                      Value::Bytes("x"), Value::None()}));
    ASSERT_TRUE(a.Append(t).ok());
    ASSERT_TRUE(b.Append(t).ok());
  }
}

RecoveryManagerOptions FastManager() {
  RecoveryManagerOptions o;
  o.auto_recover = true;
  o.heartbeat_interval = absl::Milliseconds(50);
  o.heartbeat_timeout = absl::Milliseconds(200);
  o.probe_backoff_min = absl::Milliseconds(20);
  o.probe_backoff_max = absl::Milliseconds(100);
  o.job.call_timeout = absl::Seconds(5);
  o.job.finish_timeout = absl::Seconds(5);
  o.job.lock_wait = absl::Seconds(5);
  return o;
}

using recovery_testing::FastCommits;

// Wired like main.cc: every backend starts degraded ("not reconciled yet"),
// the cluster is the probe and recovery factory.
class RecoveryManagerTest : public ::testing::Test {
 protected:
  RecoveryManagerTest() {
    a_ = cluster_.Add("a");
    b_ = cluster_.Add("b");
    SeedAlike(*a_, *b_);
    for (const char* name : {"a", "b"}) {
      backends_.Add(name, "fake", nullptr, "start-up: not reconciled yet");
    }
  }
  ~RecoveryManagerTest() override { manager_.Stop(); }

  // Commits `n` transactions, each storing one new object.
  absl::Status CommitNewObjects(int n) {
    for (int i = 0; i < n; ++i) {
      PendingTransaction txn;
      txn.ops.push_back({TransactionOp::Kind::kStore, Oid(5000000 + i),
                         std::string(zeo::kZeroTid), "d"});
      absl::StatusOr<std::string> tid = CommitOnce(&coordinator_, txn);
      if (!tid.ok()) return tid.status();
    }
    return absl::OkStatus();
  }

  void StartUp() {
    std::string startup_tid, startup_backend;
    ASSERT_TRUE(
        manager_.Start(absl::Seconds(2),
                       [&](const std::string& tid, const std::string& backend) {
                         startup_tid = tid;
                         startup_backend = backend;
                       }));
    EXPECT_EQ(startup_tid, a_->last_tid());
    EXPECT_EQ(startup_backend, "a");
    EXPECT_EQ(clock_.last_tid(), a_->last_tid());
    EXPECT_EQ(backends_.raid_state(), RaidState::kOptimal);
  }
  BackendState StateOf(const std::string& name) const {
    return backends_.StatusOf(name)->state;
  }

  FakeStorageCluster cluster_;
  std::shared_ptr<FakeStorageServer> a_, b_;
  BackendSet backends_;
  CommitClock clock_{std::string(zeo::kZeroTid)};
  InvalidationHub hub_{std::string(zeo::kZeroTid), 1000, 1 << 20};
  CommitCoordinator coordinator_{&backends_, &clock_, &hub_, FastCommits(),
                                 &cluster_};
  RecoveryManager manager_{&backends_, &coordinator_, &clock_,
                           &hub_,      &cluster_,     FastManager()};
};

// b's server stops while clients commit: b is degraded, the RAID goes on
// with a. b's server comes back: with no call from anyone, b is probed,
// recovered and optimal again, and holds every acknowledged commit.
TEST_F(RecoveryManagerTest, ServerThatComesBackIsReadmittedAutomatically) {
  StartUp();
  Committers committers(&coordinator_, 4, absl::Milliseconds(5));
  ASSERT_TRUE(committers.WaitFor(20, absl::Seconds(3)));

  b_->SetDown(true);
  ASSERT_TRUE(WaitUntil([&] { return StateOf("b") == BackendState::kDegraded; },
                        absl::Seconds(2)));
  EXPECT_EQ(backends_.StatusOf("b")->kind, DegradeKind::kTransport);
  // Down a while: probes fail (and back off) while a serves alone.
  const int degraded_at = committers.acknowledged();
  ASSERT_TRUE(committers.WaitFor(degraded_at + 40, absl::Seconds(3)));
  EXPECT_EQ(StateOf("b"), BackendState::kDegraded);
  EXPECT_EQ(backends_.raid_state(), RaidState::kDegraded);

  b_->SetDown(false);
  ASSERT_TRUE(WaitUntil([&] { return StateOf("b") == BackendState::kOptimal; },
                        absl::Seconds(4)))
      << "b: " << backends_.StatusOf("b")->reason;
  std::optional<RecoveryProgress> p = manager_.progress();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->backend, "b");
  EXPECT_EQ(p->mode, "incremental");
  EXPECT_GT(p->transactions_copied, 0u);
  // Commits after re-admission go to both.
  ASSERT_TRUE(
      committers.WaitFor(committers.acknowledged() + 20, absl::Seconds(3)));
  committers.Stop();
  manager_.Stop();

  EXPECT_THAT(committers.failures(), ::testing::IsEmpty());
  EXPECT_EQ(backends_.raid_state(), RaidState::kOptimal);
  EXPECT_EQ(HistoryDiff(a_->History(), b_->History()), "");
  const std::vector<std::string> acked = committers.tids();
  EXPECT_EQ(a_->History().size(), 30 + acked.size());
  for (const std::string& tid : acked) {
    EXPECT_TRUE(a_->HasTransaction(tid)) << zeo::TidHex(tid);
    EXPECT_TRUE(b_->HasTransaction(tid)) << zeo::TidHex(tid);
  }
  EXPECT_EQ(clock_.last_tid(), b_->last_tid());
  EXPECT_THAT(a_->protocol_errors(), ::testing::IsEmpty());
  EXPECT_THAT(b_->protocol_errors(), ::testing::IsEmpty());
}

// A backend that hangs (answers slower than the heartbeat timeout) is
// degraded by the heartbeat with no traffic at all, and re-admitted once it
// answers in time again.
TEST_F(RecoveryManagerTest, HungBackendIsDegradedByHeartbeatAndReadmitted) {
  StartUp();
  b_->SetCallDelay(absl::Milliseconds(400));
  ASSERT_TRUE(WaitUntil([&] { return StateOf("b") == BackendState::kDegraded; },
                        absl::Seconds(2)));
  EXPECT_THAT(backends_.StatusOf("b")->reason,
              ::testing::HasSubstr("heartbeat"));
  PendingTransaction txn;
  txn.description = "while b hangs";
  txn.ops.push_back({TransactionOp::Kind::kStore, Oid(4000000),
                     std::string(zeo::kZeroTid), "d"});
  absl::StatusOr<std::string> tid = CommitOnce(&coordinator_, txn);
  ASSERT_TRUE(tid.ok()) << tid.status();
  b_->SetCallDelay(absl::ZeroDuration());
  ASSERT_TRUE(WaitUntil([&] { return StateOf("b") == BackendState::kOptimal; },
                        absl::Seconds(4)))
      << "b: " << backends_.StatusOf("b")->reason;
  EXPECT_EQ(b_->last_tid(), *tid);
  EXPECT_EQ(HistoryDiff(a_->History(), b_->History()), "");
}

// A backend whose RAID connection keeps answering needs no probe: the
// heartbeat's own connection (to which ZEO would send every commit's
// invalidation) is closed while the backend stays busy, and opened again
// once it idles, so that a hang is still noticed without traffic.
TEST_F(RecoveryManagerTest, BusyBackendNeedsNoHeartbeatConnection) {
  StartUp();
  // Idle: the RAID's connection and the heartbeat's probe.
  ASSERT_TRUE(
      WaitUntil([&] { return b_->open_connections() == 2; }, absl::Seconds(2)))
      << b_->open_connections();
  // Busy for 40 heartbeat intervals: the probe goes.
  const absl::Time busy_until = absl::Now() + absl::Seconds(2);
  bool probe_closed = false;
  for (int i = 0; absl::Now() < busy_until; ++i) {
    PendingTransaction txn;
    txn.ops.push_back({TransactionOp::Kind::kStore, Oid(6000000 + i),
                       std::string(zeo::kZeroTid), "d"});
    ASSERT_TRUE(CommitOnce(&coordinator_, txn).ok());
    if (b_->open_connections() == 1) probe_closed = true;
  }
  EXPECT_TRUE(probe_closed) << "the probe stayed open while b was busy";
  EXPECT_EQ(StateOf("b"), BackendState::kOptimal);
  // Idle again: the heartbeat probes again, and still notices a hang.
  ASSERT_TRUE(
      WaitUntil([&] { return b_->open_connections() == 2; }, absl::Seconds(2)))
      << b_->open_connections();
  b_->SetCallDelay(absl::Milliseconds(400));
  EXPECT_TRUE(WaitUntil([&] { return StateOf("b") == BackendState::kDegraded; },
                        absl::Seconds(2)));
  b_->SetCallDelay(absl::ZeroDuration());
}

// An operator's cancel is final until the operator says otherwise: the
// manager does not restart it on its own.
TEST_F(RecoveryManagerTest, CancelledRecoveryIsNotRestartedAutomatically) {
  StartUp();
  // b misses 200 commits.
  ASSERT_TRUE(backends_.Degrade("b", "test: b stopped answering",
                                DegradeKind::kDisagreed));
  ASSERT_TRUE(CommitNewObjects(200).ok());
  manager_.SetRate(RecoveryRate{0, 100});
  ASSERT_TRUE(manager_.Recover("b").ok());
  EXPECT_THAT(std::string(manager_.Recover("b").message()),
              ::testing::HasSubstr("one at a time"));
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::optional<RecoveryProgress> p = manager_.progress();
        return p.has_value() && p->transactions_copied >= 3;
      },
      absl::Seconds(2)));
  ASSERT_TRUE(manager_.Cancel().ok());
  ASSERT_TRUE(
      WaitUntil([&] { return manager_.progress()->phase == "cancelled"; },
                absl::Seconds(2)));
  EXPECT_EQ(StateOf("b"), BackendState::kDegraded);
  EXPECT_EQ(backends_.StatusOf("b")->kind, DegradeKind::kCancelled);
  // Several supervisor rounds: still degraded.
  absl::SleepFor(absl::Milliseconds(1200));
  EXPECT_EQ(StateOf("b"), BackendState::kDegraded);
  // The operator resumes it: incremental from where it stopped.
  manager_.SetRate(RecoveryRate{});
  ASSERT_TRUE(manager_.Recover("b").ok());
  ASSERT_TRUE(WaitUntil([&] { return StateOf("b") == BackendState::kOptimal; },
                        absl::Seconds(3)));
  EXPECT_EQ(manager_.progress()->mode, "incremental");
  EXPECT_EQ(HistoryDiff(a_->History(), b_->History()), "");
}

// A backend whose RAID connection died is degraded even with no traffic and
// while its server still answers the heartbeat's own connection (a reset
// socket): it must not stay optimal on a dead connection until a read or
// commit stumbles on it.
TEST_F(RecoveryManagerTest, DeadRaidConnectionIsNoticedWithoutTraffic) {
  StartUp();
  auto raid_connection_of_b = [&]() -> std::shared_ptr<BackendConnection> {
    for (const BackendMember& m : backends_.Optimal()) {
      if (m.name == "b") return m.connection;
    }
    return nullptr;
  };
  std::shared_ptr<BackendConnection> dying = raid_connection_of_b();
  ASSERT_NE(dying, nullptr);
  dying->Close();  // as when the socket is reset; b's server stays up
  ASSERT_FALSE(dying->alive());
  // Twenty heartbeat intervals and more than one supervisor round later, b
  // is either out of service or back on a live connection.
  EXPECT_TRUE(WaitUntil(
      [&] {
        std::shared_ptr<BackendConnection> c = raid_connection_of_b();
        return c == nullptr || c->alive();
      },
      absl::Seconds(1)))
      << "b is " << BackendStateName(StateOf("b"))
      << " on a dead connection with no traffic";
}

// Reconciliation runs whenever no backend is optimal, even while a job runs.
// Here the job's source a has a hiccup (slower than the heartbeat timeout)
// while it is the only optimal backend: a is degraded and the RAID fails; a
// holds every commit and answers again at once, so it must be re-admitted
// right away, not when the job (10 s at this rate; hours for a big storage)
// reaches its cutover. Until then every commit and read would be refused.
TEST_F(RecoveryManagerTest,
       RaidThatFailsDuringARecoveryIsReconciledWithoutWaitingForIt) {
  StartUp();
  ASSERT_TRUE(backends_.Degrade("b", "test: b stopped answering",
                                DegradeKind::kDisagreed));
  ASSERT_TRUE(CommitNewObjects(200).ok());
  manager_.SetRate(RecoveryRate{0, 20});
  ASSERT_TRUE(manager_.Recover("b").ok());
  ASSERT_TRUE(
      WaitUntil([&] { return manager_.progress()->transactions_copied >= 2; },
                absl::Seconds(2)));
  a_->SetCallDelay(absl::Milliseconds(300));  // a hiccup of a
  ASSERT_TRUE(WaitUntil([&] { return StateOf("a") == BackendState::kDegraded; },
                        absl::Seconds(2)));
  a_->SetCallDelay(absl::ZeroDuration());
  EXPECT_EQ(backends_.raid_state(), RaidState::kFailed);
  EXPECT_TRUE(
      WaitUntil([&] { return backends_.raid_state() != RaidState::kFailed; },
                absl::Seconds(2)))
      << "the RAID stays failed while the recovery of b copies from a ("
      << manager_.progress()->transactions_copied << " of 200 copied)";
}

}  // namespace
}  // namespace zeoraid::raidcore
