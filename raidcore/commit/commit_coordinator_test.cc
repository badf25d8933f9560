#include "raidcore/commit/commit_coordinator.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <thread>

#include "absl/time/clock.h"
#include "base/notification.h"
#include "gtest/gtest.h"
#include "raidcore/backend/fake_backend.h"

namespace zeoraid::raidcore {
namespace {

using zeo::Value;

std::string Oid(int n) { return zeo::TidFromUint64(n); }

PendingTransaction StoreOne(int oid) {
  PendingTransaction txn;
  txn.user = "alice";
  txn.description = "test";
  txn.ops.push_back({TransactionOp::Kind::kStore, Oid(oid),
                     std::string(zeo::kZeroTid), "data"});
  return txn;
}

class CommitCoordinatorTest : public ::testing::Test {
 protected:
  void AddBackends(int n) {
    for (int i = 0; i < n; ++i) {
      auto b = std::make_shared<FakeBackend>();
      fakes_.push_back(b);
      backends_.Add("b" + std::to_string(i), "fake", b, "");
    }
  }
  BackendState StateOf(const std::string& name) {
    for (const BackendStatus& s : backends_.Status()) {
      if (s.name == name) return s.state;
    }
    return BackendState::kDisabled;
  }
  std::string Commit(const PendingTransaction& txn) {
    absl::StatusOr<VoteOutcome> vote = coordinator_.Vote(txn);
    EXPECT_TRUE(vote.ok()) << vote.status();
    if (!vote.ok() || vote->prepared == nullptr) return "";
    absl::StatusOr<CommitCoordinator::Committed> committed =
        coordinator_.Finish(std::move(vote->prepared));
    EXPECT_TRUE(committed.ok()) << committed.status();
    if (!committed.ok()) return "";
    // The committer's info callback carries what the backend reported.
    EXPECT_EQ(*committed->info.Find("size"), Value::Int(100));
    return committed->tid;
  }

  // The first transaction, StoreOne(1), committed as `tid` on every
  // backend, and published to `watcher`.
  void ExpectStoreOneCommitted(const std::string& tid,
                               InvalidationHub::Subscription& watcher) {
    for (const auto& fake : fakes_) {
      EXPECT_EQ(fake->methods(),
                (std::vector<std::string>{"tpc_begin", "storea", "vote",
                                          "tpc_finish"}));
      std::vector<FakeBackend::RecordedCall> calls = fake->calls();
      ASSERT_GE(calls.size(), 2u);
      EXPECT_EQ(calls[0].args[4],
                Value::Bytes(tid));  // explicit tid to tpc_begin
      EXPECT_EQ(calls[1].args[0], Value::Bytes(Oid(1)));
    }
    EXPECT_EQ(clock_.last_tid(), tid);
    EXPECT_EQ(coordinator_.commits(), 1u);
    InvalidationEvent published;
    ASSERT_TRUE(watcher.Next(&published, absl::Seconds(1)));
    EXPECT_EQ(published.tid, tid);
    EXPECT_EQ(published.oids, std::vector<std::string>{Oid(1)});
  }

  BackendSet backends_;
  CommitClock clock_{std::string(zeo::kZeroTid)};
  InvalidationHub hub_{std::string(zeo::kZeroTid), 100, 1000};
  CommitOptions options_;
  CommitCoordinator coordinator_{&backends_, &clock_, &hub_, options_};
  std::vector<std::shared_ptr<FakeBackend>> fakes_;
};

TEST_F(CommitCoordinatorTest, MirrorsCommitWithOneTidOnEveryBackend) {
  AddBackends(3);
  auto watcher = hub_.Subscribe();
  std::string tid = Commit(StoreOne(1));
  ASSERT_EQ(tid.size(), 8u);
  ExpectStoreOneCommitted(tid, *watcher);
}

TEST_F(CommitCoordinatorTest, WatchersAreToldOnceTheCommitLockIsReleased) {
  // A watcher's listener writes to its translator: not while every other
  // commit waits for the lock.
  AddBackends(2);
  std::atomic<int> told{0}, told_under_lock{0};
  auto watcher = hub_.Subscribe([&] {
    ++told;
    if (coordinator_.commit_lock()->held_since().has_value()) {
      ++told_under_lock;
    }
  });
  std::string tid = Commit(StoreOne(1));
  ExpectStoreOneCommitted(tid, *watcher);
  EXPECT_EQ(told.load(), 1);
  EXPECT_EQ(told_under_lock.load(), 0);
}

TEST_F(CommitCoordinatorTest, TidsStrictlyIncreaseEvenWhenClockIsBehind) {
  AddBackends(1);
  // A last tid far in the future: the next tid must still be later.
  std::string future = zeo::TidFromTime(absl::Now() + absl::Hours(24 * 365));
  CommitClock clock(future);
  CommitCoordinator coordinator(&backends_, &clock, &hub_, options_);
  absl::StatusOr<VoteOutcome> vote = coordinator.Vote(StoreOne(1));
  ASSERT_TRUE(vote.ok());
  EXPECT_EQ(zeo::TidToUint64(vote->prepared->tid()),
            zeo::TidToUint64(future) + 1);
}

TEST_F(CommitCoordinatorTest, BackendFailingVoteIsDegradedAndCommitGoesOn) {
  AddBackends(3);
  fakes_[1]->SetFailure("vote", absl::DeadlineExceededError("stopped"));
  std::string tid = Commit(StoreOne(1));
  EXPECT_FALSE(tid.empty());
  EXPECT_EQ(StateOf("b0"), BackendState::kOptimal);
  EXPECT_EQ(StateOf("b1"), BackendState::kDegraded);
  EXPECT_EQ(StateOf("b2"), BackendState::kOptimal);
  EXPECT_TRUE(fakes_[1]->closed());
  EXPECT_EQ(backends_.raid_state(), RaidState::kDegraded);
  // The degraded backend got no tpc_finish.
  std::vector<std::string> m = fakes_[1]->methods();
  EXPECT_EQ(std::count(m.begin(), m.end(), "tpc_finish"), 0);
}

TEST_F(CommitCoordinatorTest, ConflictOnAllBackendsGoesToTheClient) {
  AddBackends(2);
  ZeoReply conflict = ZeoReply::Error(
      "ZODB.POSException.ConflictError",
      Value::Dict({{Value::Str("message"), Value::Str("conflict")}}));
  for (auto& f : fakes_) f->SetReply("vote", conflict);
  absl::StatusOr<VoteOutcome> vote = coordinator_.Vote(StoreOne(1));
  ASSERT_TRUE(vote.ok());
  ASSERT_TRUE(vote->error.has_value());
  EXPECT_EQ(vote->error->error_class, "ZODB.POSException.ConflictError");
  EXPECT_EQ(vote->prepared, nullptr);
  EXPECT_EQ(backends_.raid_state(), RaidState::kOptimal);
  for (auto& f : fakes_) {
    std::vector<std::string> m = f->methods();
    EXPECT_EQ(m.back(), "tpc_abort");
  }
  // The lock was released: the next transaction can vote.
  for (auto& f : fakes_) f->SetReply("vote", ZeoReply::Result(Value::List({})));
  EXPECT_FALSE(Commit(StoreOne(2)).empty());
  EXPECT_EQ(clock_.last_tid(), hub_.last_tid());
}

TEST_F(CommitCoordinatorTest, ClientResolvedConflictsReleaseTheLock) {
  AddBackends(2);
  Value conflict = Value::Dict({{Value::Str("oid"), Value::Bytes(Oid(1))},
                                {Value::Str("serials"), Value::Tuple({})},
                                {Value::Str("data"), Value::Bytes("d")}});
  for (auto& f : fakes_) {
    f->SetReply("vote", ZeoReply::Result(Value::List({conflict})));
  }
  absl::StatusOr<VoteOutcome> vote = coordinator_.Vote(StoreOne(1));
  ASSERT_TRUE(vote.ok());
  ASSERT_TRUE(vote->conflicts.has_value());
  EXPECT_EQ(vote->prepared, nullptr);
  for (auto& f : fakes_) EXPECT_EQ(f->methods().back(), "tpc_abort");
  // The client resolved and votes again: the whole transaction is replayed.
  for (auto& f : fakes_) f->SetReply("vote", ZeoReply::Result(Value::List({})));
  PendingTransaction txn = StoreOne(1);
  txn.ops.push_back({TransactionOp::Kind::kStore, Oid(1),
                     std::string(zeo::kZeroTid), "resolved"});
  EXPECT_FALSE(Commit(txn).empty());
  std::vector<std::string> m = fakes_[0]->methods();
  EXPECT_EQ(std::count(m.begin(), m.end(), "tpc_begin"), 2);
  EXPECT_EQ(std::count(m.begin(), m.end(), "storea"), 3);
}

TEST_F(CommitCoordinatorTest, BackendThatDisagreesIsDegraded) {
  AddBackends(3);
  fakes_[0]->SetReply("vote", ZeoReply::Error("ZODB.POSException.ConflictError",
                                              Value::Dict({})));
  std::string tid = Commit(StoreOne(1));
  EXPECT_FALSE(tid.empty());
  EXPECT_EQ(StateOf("b0"), BackendState::kDegraded);
  EXPECT_EQ(StateOf("b1"), BackendState::kOptimal);
}

TEST_F(CommitCoordinatorTest, FailingFinishDegradesButCommits) {
  AddBackends(2);
  fakes_[0]->SetFailure("tpc_finish", absl::UnavailableError("killed"));
  std::string tid = Commit(StoreOne(1));
  EXPECT_FALSE(tid.empty());
  EXPECT_EQ(StateOf("b0"), BackendState::kDegraded);
  EXPECT_EQ(StateOf("b1"), BackendState::kOptimal);
  EXPECT_EQ(clock_.last_tid(), tid);
}

TEST_F(CommitCoordinatorTest, NothingCommittedWhenEveryFinishFails) {
  AddBackends(1);
  fakes_[0]->SetFailure("tpc_finish", absl::UnavailableError("killed"));
  absl::StatusOr<VoteOutcome> vote = coordinator_.Vote(StoreOne(1));
  ASSERT_TRUE(vote.ok());
  absl::StatusOr<CommitCoordinator::Committed> committed =
      coordinator_.Finish(std::move(vote->prepared));
  EXPECT_EQ(committed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(clock_.last_tid(), std::string(zeo::kZeroTid));
  EXPECT_EQ(backends_.raid_state(), RaidState::kFailed);
}

// Answers lastTransaction with a fixed tid on every fresh connection.
class FixedTidFactory : public BackendConnectionFactory {
 public:
  explicit FixedTidFactory(std::string tid) : tid_(std::move(tid)) {}
  absl::StatusOr<std::shared_ptr<BackendConnection>> Connect(
      const std::string&) override {
    auto fake = std::make_shared<FakeBackend>(tid_);
    fake->SetReply("lastTransaction", ZeoReply::Result(Value::Bytes(tid_)));
    return std::shared_ptr<BackendConnection>(fake);
  }
  void set_tid(std::string tid) { tid_ = std::move(tid); }

 private:
  std::string tid_;
};

// One backend whose tpc_finish times out; fresh connections (`probes`) report
// the last tid the test gives them.
class CommitCoordinatorFinishTest : public ::testing::Test {
 protected:
  CommitCoordinatorFinishTest() {
    backends.Add("b0", "fake", fake, "");
    fake->SetFailure("tpc_finish", absl::DeadlineExceededError("slow"));
  }
  BackendSet backends;
  std::shared_ptr<FakeBackend> fake = std::make_shared<FakeBackend>();
  CommitClock clock{std::string(zeo::kZeroTid)};
  InvalidationHub hub{std::string(zeo::kZeroTid), 100, 1000};
  FixedTidFactory probes{std::string(zeo::kZeroTid)};
  CommitCoordinator coordinator{&backends, &clock, &hub, CommitOptions(),
                                &probes};
};

TEST_F(CommitCoordinatorFinishTest, FinishThatTimedOutButCommittedCounts) {
  absl::StatusOr<VoteOutcome> vote = coordinator.Vote(StoreOne(1));
  ASSERT_TRUE(vote.ok());
  const std::string tid = vote->prepared->tid();
  probes.set_tid(tid);  // a fresh connection finds the transaction there
  absl::StatusOr<CommitCoordinator::Committed> committed =
      coordinator.Finish(std::move(vote->prepared));
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_EQ(committed->tid, tid);
  EXPECT_EQ(clock.last_tid(), tid);
  EXPECT_FALSE(coordinator.unconfirmed().has_value());
  // Its connection is gone all the same: degraded, for recovery to re-admit.
  EXPECT_EQ(backends.raid_state(), RaidState::kFailed);
}

TEST_F(CommitCoordinatorFinishTest, UnconfirmedFinishIsAdoptedLater) {
  absl::StatusOr<VoteOutcome> vote = coordinator.Vote(StoreOne(1));
  ASSERT_TRUE(vote.ok());
  const std::string tid = vote->prepared->tid();
  EXPECT_FALSE(coordinator.Finish(std::move(vote->prepared)).ok());
  ASSERT_TRUE(coordinator.unconfirmed().has_value());
  EXPECT_EQ(coordinator.unconfirmed()->tid, tid);
  coordinator.AdoptUnconfirmed();
  EXPECT_EQ(clock.last_tid(), tid);
  EXPECT_EQ(hub.last_tid(), tid);
  EXPECT_EQ(coordinator.commits(), 1u);
}

TEST_F(CommitCoordinatorTest, NoOptimalBackendMeansFailed) {
  AddBackends(1);
  backends_.Degrade("b0", "test");
  absl::StatusOr<VoteOutcome> vote = coordinator_.Vote(StoreOne(1));
  EXPECT_EQ(vote.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(fakes_[0]->methods().empty());
}

TEST_F(CommitCoordinatorTest, DroppedPreparedCommitAbortsAndReleasesLock) {
  AddBackends(2);
  {
    absl::StatusOr<VoteOutcome> vote = coordinator_.Vote(StoreOne(1));
    ASSERT_TRUE(vote.ok());
    ASSERT_NE(vote->prepared, nullptr);
    // The client vanished: the prepared commit goes away without Finish.
  }
  for (auto& f : fakes_) EXPECT_EQ(f->methods().back(), "tpc_abort");
  EXPECT_EQ(clock_.last_tid(), std::string(zeo::kZeroTid));
  EXPECT_FALSE(Commit(StoreOne(2)).empty());
}

TEST_F(CommitCoordinatorTest, LockWaitTimesOut) {
  AddBackends(1);
  CommitOptions quick;
  quick.lock_wait = absl::Milliseconds(50);
  CommitCoordinator coordinator(&backends_, &clock_, &hub_, quick);
  absl::StatusOr<VoteOutcome> first = coordinator.Vote(StoreOne(1));
  ASSERT_TRUE(first.ok());
  absl::StatusOr<VoteOutcome> second = coordinator.Vote(StoreOne(2));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  coordinator.Abort(std::move(first->prepared));
  absl::StatusOr<VoteOutcome> third = coordinator.Vote(StoreOne(3));
  EXPECT_TRUE(third.ok());
}

TEST_F(CommitCoordinatorTest, ExplicitTidMustBeLater) {
  AddBackends(1);
  std::string first = Commit(StoreOne(1));
  PendingTransaction txn = StoreOne(2);
  txn.requested_tid = first;
  absl::StatusOr<VoteOutcome> vote = coordinator_.Vote(txn);
  ASSERT_TRUE(vote.ok());
  ASSERT_TRUE(vote->error.has_value());
  EXPECT_EQ(vote->error->error_class,
            "ZODB.POSException.StorageTransactionError");
  txn.requested_tid = zeo::TidFromUint64(zeo::TidToUint64(first) + 5);
  EXPECT_EQ(Commit(txn), txn.requested_tid);
}

// Many writers at once: the lock admits one transaction at a time, and tids
// come out strictly increasing and unique. Run under --config=tsan too.
TEST_F(CommitCoordinatorTest, ConcurrentCommitsAreSerialized) {
  AddBackends(2);
  std::atomic<int> in_commit{0};
  std::atomic<bool> overlap{false};
  Mutex mu;
  std::vector<std::string> tids;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        absl::StatusOr<VoteOutcome> vote =
            coordinator_.Vote(StoreOne(t * 100 + i));
        ASSERT_TRUE(vote.ok());
        if (in_commit.fetch_add(1) != 0) overlap = true;
        std::string tid = vote->prepared->tid();
        in_commit.fetch_sub(1);
        absl::StatusOr<CommitCoordinator::Committed> done =
            coordinator_.Finish(std::move(vote->prepared));
        ASSERT_TRUE(done.ok());
        MutexLock lock(&mu);
        tids.push_back(done->tid);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(overlap);
  ASSERT_EQ(tids.size(), 200u);
  std::vector<std::string> sorted = tids;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());
  EXPECT_EQ(coordinator_.commits(), 200u);
  EXPECT_EQ(clock_.last_tid(), sorted.back());
}

// A big transaction's calls go to the backends as they come, before its vote.
PendingTransaction StoreMany(std::initializer_list<int> oids) {
  PendingTransaction txn = StoreOne(*oids.begin());
  for (auto it = oids.begin() + 1; it != oids.end(); ++it) {
    txn.ops.push_back({TransactionOp::Kind::kStore, Oid(*it),
                       std::string(zeo::kZeroTid), "data"});
  }
  return txn;
}

// Every transaction on a fake's connection: at most one open at a time, its
// data calls and vote within it, and the tids it finished strictly
// increasing. Returns the finished tids.
std::vector<std::string> CheckOneTransactionAtATime(const FakeBackend& fake) {
  std::optional<Value> open;
  std::vector<std::string> finished;
  for (const FakeBackend::RecordedCall& call : fake.calls()) {
    const Value& id = call.args.empty() ? Value() : call.args.back();
    if (call.method == "tpc_begin") {
      EXPECT_FALSE(open.has_value()) << "tpc_begin while a transaction is open";
      open = call.args[0];
    } else if (call.method == "storea" || call.method == "vote") {
      EXPECT_TRUE(open.has_value() && *open == id)
          << call.method << " outside of its transaction";
    } else if (call.method == "tpc_finish" || call.method == "tpc_abort") {
      if (open.has_value() && *open == call.args[0]) open.reset();
    }
  }
  // The tids given to the tpc_begins that were finished, in order.
  std::map<std::string, std::string> tid_of;  // txn id (debug) -> tid
  for (const FakeBackend::RecordedCall& call : fake.calls()) {
    if (call.method == "tpc_begin") {
      tid_of[call.args[0].DebugString()] = call.args[4].string_value();
    } else if (call.method == "tpc_finish") {
      finished.push_back(tid_of[call.args[0].DebugString()]);
    }
  }
  for (size_t i = 1; i < finished.size(); ++i) {
    EXPECT_LT(zeo::TidToUint64(finished[i - 1]), zeo::TidToUint64(finished[i]))
        << "finished out of tid order";
  }
  return finished;
}

TEST_F(CommitCoordinatorTest, AnEarlyTransactionsCallsGoOutBeforeItsVote) {
  AddBackends(2);
  PendingTransaction txn = StoreMany({1, 2});
  coordinator_.SendEarly(&txn);
  for (const auto& fake : fakes_) {
    EXPECT_EQ(fake->methods(),
              (std::vector<std::string>{"tpc_begin", "storea", "storea"}));
  }
  txn.ops.push_back(StoreOne(3).ops[0]);
  coordinator_.SendEarly(&txn);
  txn.ops.push_back(StoreOne(4).ops[0]);  // came with the vote
  std::string tid = Commit(txn);
  ASSERT_EQ(tid.size(), 8u);
  for (const auto& fake : fakes_) {
    EXPECT_EQ(fake->methods(), (std::vector<std::string>{
                                   "tpc_begin", "storea", "storea", "storea",
                                   "storea", "vote", "tpc_finish"}));
    EXPECT_EQ(fake->calls()[0].args[4], Value::Bytes(tid));
    EXPECT_EQ(fake->calls()[4].args[0], Value::Bytes(Oid(4)));
  }
  EXPECT_EQ(coordinator_.early_counts().started, 1u);
  EXPECT_EQ(coordinator_.early_counts().voted, 1u);
  EXPECT_EQ(clock_.last_tid(), tid);
}

TEST_F(CommitCoordinatorTest, AVoteAbortsAnotherTransactionsEarlyCallsFirst) {
  AddBackends(2);
  PendingTransaction early = StoreMany({1, 2});
  coordinator_.SendEarly(&early);
  const Value early_id = fakes_[0]->calls()[0].args[0];
  const std::string other = Commit(StoreOne(3));
  for (const auto& fake : fakes_) {
    EXPECT_EQ(fake->methods(),
              (std::vector<std::string>{"tpc_begin", "storea", "storea",
                                        "tpc_abort", "tpc_begin", "storea",
                                        "vote", "tpc_finish"}));
    EXPECT_EQ(fake->calls()[3].args[0], early_id);
  }
  // Aborted: nothing more of it goes early; its vote sends it whole, with a
  // tid after the other's.
  early.ops.push_back(StoreOne(4).ops[0]);
  coordinator_.SendEarly(&early);
  EXPECT_EQ(fakes_[0]->calls().size(), 8u);
  const std::string tid = Commit(early);
  EXPECT_LT(zeo::TidToUint64(other), zeo::TidToUint64(tid));
  for (const auto& fake : fakes_) {
    EXPECT_EQ(CheckOneTransactionAtATime(*fake),
              (std::vector<std::string>{other, tid}));
    EXPECT_EQ(fake->methods().size(), 8u + 6u);  // begin, 3 stores, vote, fin
  }
  EXPECT_EQ(coordinator_.early_counts().started, 1u);
  EXPECT_EQ(coordinator_.early_counts().voted, 0u);
}

TEST_F(CommitCoordinatorTest, NothingGoesEarlyWhileAVoteHoldsTheBackends) {
  AddBackends(1);
  absl::StatusOr<VoteOutcome> vote = coordinator_.Vote(StoreOne(1));
  ASSERT_TRUE(vote.ok() && vote->prepared != nullptr);
  PendingTransaction waiting = StoreMany({2, 3});
  coordinator_.SendEarly(&waiting);
  EXPECT_EQ(fakes_[0]->methods().size(), 3u);  // begin, store, vote
  ASSERT_TRUE(coordinator_.Finish(std::move(vote->prepared)).ok());
  // Free again: its next calls begin it early, all of them.
  waiting.ops.push_back(StoreOne(4).ops[0]);
  coordinator_.SendEarly(&waiting);
  EXPECT_EQ(
      fakes_[0]->methods(),
      (std::vector<std::string>{"tpc_begin", "storea", "vote", "tpc_finish",
                                "tpc_begin", "storea", "storea", "storea"}));
  EXPECT_FALSE(Commit(waiting).empty());
  CheckOneTransactionAtATime(*fakes_[0]);
}

TEST_F(CommitCoordinatorTest, AnEarlyTransactionDroppedUnvotedIsAborted) {
  AddBackends(2);
  {
    PendingTransaction gone = StoreMany({1, 2});
    coordinator_.SendEarly(&gone);
  }  // the client vanished before its vote
  for (const auto& fake : fakes_) {
    EXPECT_EQ(fake->methods().back(), "tpc_abort");
  }
  // The backends are free for the next one.
  PendingTransaction next = StoreMany({3, 4});
  coordinator_.SendEarly(&next);
  EXPECT_EQ(fakes_[0]->methods().size(), 4u + 3u);
  EXPECT_FALSE(Commit(next).empty());
  EXPECT_EQ(coordinator_.early_counts().voted, 1u);
}

TEST_F(CommitCoordinatorTest,
       AnEarlyTransactionGoesTheUsualWayIfTheSetChanged) {
  AddBackends(2);
  PendingTransaction txn = StoreMany({1, 2});
  coordinator_.SendEarly(&txn);
  backends_.Degrade("b1", "test");
  const std::string tid = Commit(txn);
  EXPECT_EQ(fakes_[0]->methods(),
            (std::vector<std::string>{"tpc_begin", "storea", "storea",
                                      "tpc_abort", "tpc_begin", "storea",
                                      "storea", "vote", "tpc_finish"}));
  EXPECT_EQ(CheckOneTransactionAtATime(*fakes_[0]),
            std::vector<std::string>{tid});
  EXPECT_EQ(fakes_[0]->calls()[4].args[4], Value::Bytes(tid));
  EXPECT_EQ(coordinator_.early_counts().voted, 0u);
}

TEST_F(CommitCoordinatorTest, AnEarlyTransactionWithABlobIsAborted) {
  AddBackends(1);
  PendingTransaction txn = StoreMany({1, 2});
  coordinator_.SendEarly(&txn);
  TransactionOp blob;
  blob.kind = TransactionOp::Kind::kStoreBlob;
  blob.oid = Oid(3);
  txn.ops.push_back(blob);
  coordinator_.SendEarly(&txn);
  EXPECT_EQ(
      fakes_[0]->methods(),
      (std::vector<std::string>{"tpc_begin", "storea", "storea", "tpc_abort"}));
}

TEST_F(CommitCoordinatorTest, EarlyAndUsualCommitsShareTheBackendsInTidOrder) {
  // Early transactions and usual ones from other threads: each backend
  // connection holds one transaction at a time and commits in tid order.
  AddBackends(2);
  std::vector<std::thread> threads;
  Mutex mu;
  std::vector<std::string> tids;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        const int base = 10000 * (t + 1) + 10 * i;
        PendingTransaction txn = StoreMany({base, base + 1});
        if (t % 2 == 0) {
          coordinator_.SendEarly(&txn);
          txn.ops.push_back(StoreOne(base + 2).ops[0]);
          coordinator_.SendEarly(&txn);
          txn.ops.push_back(StoreOne(base + 3).ops[0]);
        }
        if (i % 7 == 3) continue;  // dropped before its vote
        std::string tid = Commit(txn);
        MutexLock lock(&mu);
        tids.push_back(tid);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::sort(tids.begin(), tids.end());
  for (const auto& fake : fakes_) {
    std::vector<std::string> finished = CheckOneTransactionAtATime(*fake);
    EXPECT_EQ(finished, tids);
  }
  EXPECT_GT(coordinator_.early_counts().started, 0u);
}

TEST_F(CommitCoordinatorTest, AfterTwoEarlyTransactionsAbortedInARowSomeWait) {
  // Steady small commits abort every early transaction: then the early path
  // only doubles the backends' work, and is left alone for a while.
  AddBackends(1);
  for (int round = 0; round < 2; ++round) {
    PendingTransaction early = StoreMany({10 * round + 1, 10 * round + 2});
    coordinator_.SendEarly(&early);
    EXPECT_FALSE(Commit(StoreOne(10 * round + 3)).empty());  // votes first
    EXPECT_FALSE(Commit(early).empty());
  }
  EXPECT_EQ(coordinator_.early_counts().started, 2u);
  EXPECT_EQ(coordinator_.early_counts().voted, 0u);
  for (int i = 0; i < 8; ++i) {
    PendingTransaction txn = StoreMany({100 + 3 * i, 101 + 3 * i});
    coordinator_.SendEarly(&txn);
    txn.ops.push_back(StoreOne(102 + 3 * i).ops[0]);
    coordinator_.SendEarly(&txn);
    EXPECT_EQ(fakes_[0]->methods().back(), "tpc_finish");  // nothing sent
    EXPECT_FALSE(Commit(txn).empty());
  }
  EXPECT_EQ(coordinator_.early_counts().started, 2u);
  // Then it is tried again.
  PendingTransaction txn = StoreMany({200, 201});
  coordinator_.SendEarly(&txn);
  EXPECT_EQ(coordinator_.early_counts().started, 3u);
  EXPECT_FALSE(Commit(txn).empty());
  EXPECT_EQ(coordinator_.early_counts().voted, 1u);
  CheckOneTransactionAtATime(*fakes_[0]);
}

TEST_F(CommitCoordinatorTest, AMessageTooBigToSendEarlyWaitsForTheVote) {
  // Early calls go out from the completion queue's thread: a huge record
  // waits for the vote, which sends it from a thread per backend, and so
  // does everything after it.
  AddBackends(2);
  PendingTransaction txn = StoreMany({1, 2});
  coordinator_.SendEarly(&txn);
  TransactionOp big = StoreOne(3).ops[0];
  big.data = std::string(300 << 10, 'x');
  txn.ops.push_back(big);
  coordinator_.SendEarly(&txn);
  txn.ops.push_back(StoreOne(4).ops[0]);
  coordinator_.SendEarly(&txn);
  for (const auto& fake : fakes_) {
    EXPECT_EQ(fake->methods(),
              (std::vector<std::string>{"tpc_begin", "storea", "storea"}));
  }
  std::string tid = Commit(txn);
  for (const auto& fake : fakes_) {
    EXPECT_EQ(fake->methods(), (std::vector<std::string>{
                                   "tpc_begin", "storea", "storea", "storea",
                                   "storea", "vote", "tpc_finish"}));
    EXPECT_EQ(fake->calls()[3].args[0], Value::Bytes(Oid(3)));
    EXPECT_EQ(fake->calls()[0].args[4], Value::Bytes(tid));
  }
  EXPECT_EQ(coordinator_.early_counts().voted, 1u);
}

TEST_F(CommitCoordinatorTest, ABlobThatComesWithTheVoteEndsTheEarlyPath) {
  AddBackends(1);
  PendingTransaction txn = StoreMany({1, 2});
  coordinator_.SendEarly(&txn);
  absl::StatusOr<std::unique_ptr<SpoolFile>> spool =
      SpoolFile::Create(::testing::TempDir());
  ASSERT_TRUE(spool.ok()) << spool.status();
  ASSERT_TRUE((*spool)->Append("blob bytes").ok());
  TransactionOp blob;
  blob.kind = TransactionOp::Kind::kStoreBlob;
  blob.oid = Oid(3);
  blob.data = "record";
  blob.blob = std::move(*spool);
  txn.ops.push_back(blob);
  EXPECT_FALSE(Commit(txn).empty());
  std::vector<std::string> methods = fakes_[0]->methods();
  ASSERT_GE(methods.size(), 6u);
  EXPECT_EQ(methods[3], "tpc_abort");
  EXPECT_EQ(methods[4], "tpc_begin");
  EXPECT_EQ(methods.back(), "tpc_finish");
  EXPECT_EQ(coordinator_.early_counts().voted, 0u);
  CheckOneTransactionAtATime(*fakes_[0]);
}

// The asynchronous calls: what VoteThen and FinishThen hand to `done`, and on
// which thread.
class CommitCoordinatorThenTest : public CommitCoordinatorTest {
 protected:
  // The fakes' answer threads end while the fixture still holds the fakes.
  ~CommitCoordinatorThenTest() override {
    for (auto& f : fakes_) f->StopAnswering();
  }
  void AddAsyncBackends(int n) {
    AddBackends(n);
    for (auto& f : fakes_) f->AnswerOnOwnThread();
  }
  // Waits for a `done` to have run; what it was given.
  template <typename T>
  struct Result {
    Notification ran;
    std::optional<T> value;
    std::thread::id thread;
    void Set(T v) {
      value.emplace(std::move(v));
      thread = std::this_thread::get_id();
      ran.Notify();
    }
    bool Wait() { return ran.WaitFor(absl::Seconds(10)); }
  };
  using VoteResult = Result<absl::StatusOr<VoteOutcome>>;
  using FinishResult = Result<absl::StatusOr<CommitCoordinator::Committed>>;
  void VoteThen(const PendingTransaction& txn, VoteResult* out) {
    coordinator_.VoteThen(
        txn, [out](absl::StatusOr<VoteOutcome> v) { out->Set(std::move(v)); });
  }
  void FinishThen(std::unique_ptr<PreparedCommit> prepared, FinishResult* out) {
    coordinator_.FinishThen(
        std::move(prepared),
        [out](absl::StatusOr<CommitCoordinator::Committed> c) {
          out->Set(std::move(c));
        });
  }
};

TEST_F(CommitCoordinatorThenTest, CommitsAsVoteAndFinishDoWithoutAHelper) {
  AddAsyncBackends(2);
  auto watcher = hub_.Subscribe();
  PendingTransaction txn = StoreOne(1);
  VoteResult vote;
  VoteThen(txn, &vote);
  ASSERT_TRUE(vote.Wait());
  ASSERT_TRUE(vote.value->ok()) << vote.value->status();
  ASSERT_NE((*vote.value)->prepared, nullptr);
  // Answered on a backend's reader thread: no thread waited for it.
  EXPECT_NE(vote.thread, std::this_thread::get_id());
  EXPECT_EQ(coordinator_.helper_threads(), 0);
  const std::string tid = (*vote.value)->prepared->tid();

  FinishResult finish;
  FinishThen(std::move((*vote.value)->prepared), &finish);
  ASSERT_TRUE(finish.Wait());
  ASSERT_TRUE(finish.value->ok()) << finish.value->status();
  EXPECT_EQ((*finish.value)->tid, tid);
  EXPECT_EQ(coordinator_.helper_threads(), 0);
  EXPECT_EQ(*(*finish.value)->info.Find("size"), Value::Int(100));
  ExpectStoreOneCommitted(tid, *watcher);
  // The lock is free again: a blocking vote gets it at once.
  EXPECT_FALSE(Commit(StoreOne(2)).empty());
}

TEST_F(CommitCoordinatorThenTest, AVoteWaitingForTheLockHoldsNoCallerThread) {
  AddAsyncBackends(2);
  absl::StatusOr<VoteOutcome> first = coordinator_.Vote(StoreOne(1));
  ASSERT_TRUE(first.ok());
  PendingTransaction txn = StoreOne(2);
  VoteResult second;
  VoteThen(txn, &second);  // returns although the lock is taken
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(second.ran.HasBeenNotified())
      << "the second vote ran while the first held the lock";
  absl::StatusOr<CommitCoordinator::Committed> one =
      coordinator_.Finish(std::move(first->prepared));
  ASSERT_TRUE(one.ok());
  ASSERT_TRUE(second.Wait());
  ASSERT_TRUE(second.value->ok());
  ASSERT_NE((*second.value)->prepared, nullptr);
  // It went on from the first one's finish: no helper thread waited.
  EXPECT_EQ(coordinator_.helper_threads(), 0);
  EXPECT_GT(zeo::TidToUint64((*second.value)->prepared->tid()),
            zeo::TidToUint64(one->tid));
  FinishResult finish;
  FinishThen(std::move((*second.value)->prepared), &finish);
  ASSERT_TRUE(finish.Wait());
  EXPECT_TRUE(finish.value->ok());
  EXPECT_EQ(coordinator_.commits(), 2u);
}

TEST_F(CommitCoordinatorThenTest, ADisagreeingOrFailingBackendIsDegraded) {
  AddAsyncBackends(2);
  fakes_[1]->SetReply("vote",
                      ZeoReply::Result(Value::List({Value::Bytes(Oid(9))})));
  PendingTransaction txn = StoreOne(1);
  VoteResult vote;
  VoteThen(txn, &vote);
  ASSERT_TRUE(vote.Wait());
  ASSERT_TRUE(vote.value->ok());
  ASSERT_NE((*vote.value)->prepared, nullptr);
  // A tie: the earlier backend wins, the other is degraded.
  EXPECT_EQ(StateOf("b0"), BackendState::kOptimal);
  EXPECT_EQ(StateOf("b1"), BackendState::kDegraded);

  PendingTransaction next = StoreOne(2);
  FinishResult finish;
  FinishThen(std::move((*vote.value)->prepared), &finish);
  ASSERT_TRUE(finish.Wait());
  ASSERT_TRUE(finish.value->ok());

  // b0, now the only voter, fails its tpc_finish: degraded, nothing
  // confirmed.
  fakes_[0]->SetFailure("tpc_finish", absl::UnavailableError("gone"));
  VoteResult vote2;
  VoteThen(next, &vote2);
  ASSERT_TRUE(vote2.Wait());
  ASSERT_TRUE(vote2.value->ok());
  FinishResult finish2;
  FinishThen(std::move((*vote2.value)->prepared), &finish2);
  ASSERT_TRUE(finish2.Wait());
  EXPECT_FALSE(finish2.value->ok());
  EXPECT_EQ(StateOf("b0"), BackendState::kDegraded);
}

TEST_F(CommitCoordinatorThenTest, AConflictIsTheClientsAnswerAndFreesTheLock) {
  AddAsyncBackends(2);
  ZeoReply conflict =
      ZeoReply::Error("ZODB.POSException.ConflictError", Value::Tuple({}));
  for (auto& f : fakes_) f->QueueReplies("vote", {conflict});
  PendingTransaction txn = StoreOne(1);
  VoteResult vote;
  VoteThen(txn, &vote);
  ASSERT_TRUE(vote.Wait());
  ASSERT_TRUE(vote.value->ok());
  ASSERT_TRUE((*vote.value)->error.has_value());
  EXPECT_EQ((*vote.value)->error->error_class,
            "ZODB.POSException.ConflictError");
  for (auto& f : fakes_) EXPECT_EQ(f->methods().back(), "tpc_abort");
  EXPECT_EQ(StateOf("b0"), BackendState::kOptimal);
  EXPECT_EQ(StateOf("b1"), BackendState::kOptimal);
  EXPECT_FALSE(Commit(StoreOne(2)).empty());
}

// Votes and finishes from many callers at once, as the Commit streams of
// several translators: one transaction at a time, unique increasing tids.
// Run under --config=tsan too.
TEST_F(CommitCoordinatorThenTest, ConcurrentAsyncCommitsAreSerialized) {
  AddAsyncBackends(2);
  Mutex mu;
  std::vector<std::string> tids;
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        PendingTransaction txn = StoreOne(t * 100 + i);
        VoteResult vote;
        VoteThen(txn, &vote);
        ASSERT_TRUE(vote.Wait());
        ASSERT_TRUE(vote.value->ok());
        ASSERT_NE((*vote.value)->prepared, nullptr);
        FinishResult finish;
        FinishThen(std::move((*vote.value)->prepared), &finish);
        ASSERT_TRUE(finish.Wait());
        ASSERT_TRUE(finish.value->ok());
        MutexLock lock(&mu);
        tids.push_back((*finish.value)->tid);
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(tids.size(), 120u);
  std::vector<std::string> sorted = tids;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());
  EXPECT_EQ(coordinator_.commits(), 120u);
  EXPECT_EQ(clock_.last_tid(), sorted.back());
}

}  // namespace
}  // namespace zeoraid::raidcore
