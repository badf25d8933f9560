// Whole-system tests of recovery: real BackendSet, CommitCoordinator,
// CommitClock, InvalidationHub and RecoveryJob over in-memory ZEO servers
// (fake_storage.h), with committing threads and injected faults. No sockets,
// no gRPC: they run under --config=tsan.
#include "raidcore/recovery/recovery_job.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
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
#include "raidcore/recovery/throttle.h"
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

using ::testing::HasSubstr;
using zeo::Value;

using recovery_testing::CommitOnce;
using recovery_testing::Committers;
using recovery_testing::CommitterTxn;
using recovery_testing::Oid;

using recovery_testing::FastCommits;

RecoveryJobOptions FastJob() {
  RecoveryJobOptions o;
  o.call_timeout = absl::Seconds(5);
  o.finish_timeout = absl::Seconds(5);
  o.lock_wait = absl::Seconds(5);
  return o;
}

// A RAID over fake ZEO servers, wired like main.cc: the cluster is both the
// coordinator's probe factory and the recovery's connection factory.
void Seed(FakeStorageServer& server,
          const std::vector<StoredTransaction>& txns);

struct Raid {
  explicit Raid(const std::vector<std::string>& names) {
    for (const std::string& name : names) servers[name] = cluster.Add(name);
  }
  // The backend serves on a fresh connection.
  void AddOptimal(const std::string& name) {
    absl::StatusOr<std::shared_ptr<BackendConnection>> c =
        cluster.Connect(name);
    ASSERT_TRUE(c.ok()) << c.status();
    backends.Add(name, "fake", *c, "");
  }
  void AddDegraded(const std::string& name) {
    backends.Add(name, "fake", nullptr, "test: starts degraded");
  }
  // The RAID's last committed tid (after seeding servers directly).
  void SetLastTid(const std::string& tid) {
    clock.StartFinish();
    clock.EndFinish(tid);
    hub.Restart(tid);
  }
  BackendState StateOf(const std::string& name) const {
    std::optional<BackendStatus> s = backends.StatusOf(name);
    return s.has_value() ? s->state : BackendState::kDisabled;
  }
  std::unique_ptr<RecoveryJob> Job(const std::string& target,
                                   Throttle* throttle) {
    return std::make_unique<RecoveryJob>(target, &backends,
                                         coordinator.commit_lock(), &clock,
                                         &cluster, throttle, FastJob());
  }
  FakeStorageServer& operator[](const std::string& name) {
    return *servers.at(name);
  }

  // a holds `history` and is optimal at its last tid; b (empty) is degraded
  // and in recovery.
  absl::Status StartRecoveryOfB(const std::vector<StoredTransaction>& history) {
    Seed((*this)["a"], history);
    AddOptimal("a");
    AddDegraded("b");
    SetLastTid((*this)["a"].last_tid());
    return backends.BeginRecovery("b");
  }

  // Commits `n` transactions of one committer in a row; `victim` is degraded
  // before commit `miss_from`, so it misses the rest. Returns the last tid.
  absl::StatusOr<std::string> CommitInARow(int n, const std::string& victim,
                                           int miss_from) {
    std::string serial(zeo::kZeroTid);
    for (int i = 0; i < n; ++i) {
      if (i == miss_from && !backends.Degrade(victim, "test: stopped")) {
        return absl::FailedPreconditionError(victim + " was not optimal");
      }
      absl::StatusOr<std::string> tid =
          CommitOnce(&coordinator, CommitterTxn(0, i, serial));
      if (!tid.ok()) return tid.status();
      serial = *tid;
    }
    return serial;
  }

  FakeStorageCluster cluster;
  std::map<std::string, std::shared_ptr<FakeStorageServer>> servers;
  BackendSet backends;
  CommitClock clock{std::string(zeo::kZeroTid)};
  InvalidationHub hub{std::string(zeo::kZeroTid), 1000, 1 << 20};
  CommitCoordinator coordinator{&backends, &clock, &hub, FastCommits(),
                                &cluster};
};

// `prefix` is the start of `history`.
std::string PrefixDiff(const std::vector<StoredTransaction>& history,
                       const std::vector<StoredTransaction>& prefix) {
  if (prefix.size() > history.size()) return "longer than the history";
  return HistoryDiff(std::vector<StoredTransaction>(
                         history.begin(), history.begin() + prefix.size()),
                     prefix);
}

// A record as the iterator shows it (the tid field is the transaction's).
Value Record(const std::string& oid, Value data, Value data_txn = Value()) {
  return Value::Tuple(
      {Value::Bytes(oid), Value::None(), std::move(data), std::move(data_txn)});
}

StoredTransaction Txn(uint64_t tid, std::string user, std::string description,
                      std::vector<Value> records, std::string status = " ",
                      Value extension = Value::Dict({})) {
  StoredTransaction t;
  t.header = Value::Tuple(
      {Value::Bytes(zeo::TidFromUint64(tid)), Value::Str(std::move(status)),
       Value::Bytes(std::move(user)), Value::Bytes(std::move(description)),
       std::move(extension)});
  t.records = std::move(records);
  for (Value& r : t.records) {
    r.mutable_items()[1] = Value::Bytes(zeo::TidFromUint64(tid));
  }
  return t;
}

// An hour ago, so the coordinator's next tid (now) is later.
uint64_t BaseTid() {
  return zeo::TidToUint64(zeo::TidFromTime(absl::Now() - absl::Hours(1)));
}

// `n` transactions of every kind FileStorage's iterator shows: plain stores,
// several records, an empty record, undo of a creation (data None), records
// that point back at an earlier transaction's data, packed and undone
// statuses, extensions.
std::vector<StoredTransaction> VariedHistory(uint64_t base, int n) {
  std::vector<StoredTransaction> out;
  for (int i = 0; i < n; ++i) {
    const uint64_t tid = base + (i + 1) * 1000;
    std::vector<Value> records;
    if (i % 5 == 3) {
      records.push_back(Record(Oid(i), Value::None()));  // undone creation
    } else if (i % 7 == 4 && i >= 4) {
      // Undo: the data of transaction i-2, with a backpointer to it.
      records.push_back(
          Record(Oid(i - 2), Value::Bytes(absl::StrCat("d", i - 2)),
                 Value::Bytes(zeo::TidFromUint64(base + (i - 1) * 1000))));
    } else {
      for (int r = 0; r <= i % 3; ++r) {
        records.push_back(
            Record(Oid(i * 10 + r), Value::Bytes(absl::StrCat("d", i))));
      }
      if (i % 4 == 1) records.push_back(Record(Oid(999), Value::Bytes("")));
    }
    Value ext = i % 2 == 0 ? Value::Dict({})
                           : Value::Dict({{Value::Str("note"),
                                           Value::Str(absl::StrCat("n", i))}});
    out.push_back(Txn(tid, absl::StrCat("user", i % 3), absl::StrCat("txn ", i),
                      std::move(records),
                      i % 11 == 5 ? "p" : (i % 13 == 7 ? "u" : " "),
                      std::move(ext)));
  }
  return out;
}

void Seed(FakeStorageServer& server,
          const std::vector<StoredTransaction>& txns) {
  for (const StoredTransaction& t : txns) {
    absl::Status st = server.Append(t);
    ASSERT_TRUE(st.ok()) << st;
  }
}

void ExpectNoProtocolErrors(Raid& raid) {
  for (const auto& [name, server] : raid.servers) {
    EXPECT_THAT(server->protocol_errors(), ::testing::IsEmpty()) << name;
  }
}

// The scenario recovery exists for: b missed 300 commits, and is rebuilt
// while four clients keep committing. Nothing they were told is committed may
// be missing from either backend, and none of their commits may fail.
TEST(RecoveryJobTest, IncrementalRecoveryWhileFourThreadsCommit) {
  Raid raid({"a", "b"});
  raid.AddOptimal("a");
  raid.AddOptimal("b");
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(CommitOnce(&raid.coordinator,
                           CommitterTxn(100, i,
                                        i == 0 ? std::string(zeo::kZeroTid)
                                               : raid.clock.last_tid()))
                    .ok());
  }
  ASSERT_TRUE(raid.backends.Degrade("b", "test: b stopped answering"));
  for (int i = 20; i < 320; ++i) {
    ASSERT_TRUE(CommitOnce(&raid.coordinator,
                           CommitterTxn(100, i, raid.clock.last_tid()))
                    .ok());
  }
  ASSERT_EQ(raid["b"].History().size(), 20u);
  ASSERT_EQ(raid["a"].History().size(), 320u);

  Committers committers(&raid.coordinator, 4, absl::Milliseconds(5));
  ASSERT_TRUE(committers.WaitFor(20, absl::Seconds(3)));
  ASSERT_TRUE(raid.backends.BeginRecovery("b").ok());
  // Fast enough to catch up with the committers, slow enough that they
  // commit while the job copies (the bucket starts empty: >= 75 ms).
  Throttle throttle(RecoveryRate{0, 4000});
  std::unique_ptr<RecoveryJob> job = raid.Job("b", &throttle);
  const int before = committers.acknowledged();
  absl::Status result = job->Run();
  const int during = committers.acknowledged() - before;
  ASSERT_TRUE(result.ok()) << result;
  EXPECT_EQ(raid.StateOf("b"), BackendState::kOptimal);
  EXPECT_EQ(raid.backends.raid_state(), RaidState::kOptimal);
  EXPECT_GT(during, 0) << "no commit overlapped the recovery";
  // Commits after the cutover go to both.
  ASSERT_TRUE(
      committers.WaitFor(committers.acknowledged() + 20, absl::Seconds(3)));
  committers.Stop();

  EXPECT_THAT(committers.failures(), ::testing::IsEmpty());
  const std::vector<StoredTransaction> a = raid["a"].History();
  const std::vector<StoredTransaction> b = raid["b"].History();
  EXPECT_EQ(HistoryDiff(a, b), "");
  const std::vector<std::string> acked = committers.tids();
  EXPECT_EQ(a.size(), 320 + acked.size());
  for (const std::string& tid : acked) {
    EXPECT_TRUE(raid["a"].HasTransaction(tid)) << zeo::TidHex(tid);
    EXPECT_TRUE(raid["b"].HasTransaction(tid)) << zeo::TidHex(tid);
  }
  EXPECT_EQ(raid.clock.last_tid(), raid["a"].last_tid());
  EXPECT_EQ(raid.clock.last_tid(), raid["b"].last_tid());
  EXPECT_EQ(raid.backends.StatusOf("b")->last_tid, raid.clock.last_tid());
  const RecoveryProgress p = job->progress();
  EXPECT_EQ(p.mode, "incremental");
  EXPECT_EQ(p.source, "a");
  EXPECT_GE(p.transactions_copied, 300u + during - 4);
  EXPECT_LT(p.longest_lock_hold_seconds, 1.0);
  ExpectNoProtocolErrors(raid);
}

// The cutover, made deterministic: a commit holds the commit lock (voted, not
// finished) while the job's passes catch up to the RAID's head; the job then
// waits for the lock, and the commit finishes (on a only) before the job gets
// it. The job must copy that commit under the lock before b becomes optimal.
TEST(RecoveryJobTest, CommitFinishedWhileTheJobWaitsForTheLockIsCopied) {
  Raid raid({"a", "b"});
  raid.AddOptimal("a");
  raid.AddOptimal("b");
  absl::StatusOr<std::string> last = raid.CommitInARow(60, "b", 5);
  ASSERT_TRUE(last.ok()) << last.status();
  const std::string serial = *last;
  absl::StatusOr<VoteOutcome> vote =
      raid.coordinator.Vote(CommitterTxn(0, 60, serial));
  ASSERT_TRUE(vote.ok()) << vote.status();
  ASSERT_NE(vote->prepared, nullptr);

  ASSERT_TRUE(raid.backends.BeginRecovery("b").ok());
  Throttle unlimited;
  std::unique_ptr<RecoveryJob> job = raid.Job("b", &unlimited);
  absl::Status result;
  std::thread runner([&] { result = job->Run(); });
  const absl::Time give_up = absl::Now() + absl::Seconds(3);
  while (job->progress().phase != "catching up" && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(job->progress().phase, "catching up");
  EXPECT_EQ(raid["b"].last_tid(), serial);  // the passes reached the head
  absl::SleepFor(absl::Milliseconds(20));   // the job waits for the lock
  absl::StatusOr<CommitCoordinator::Committed> late =
      raid.coordinator.Finish(std::move(vote->prepared));
  ASSERT_TRUE(late.ok()) << late.status();
  runner.join();
  ASSERT_TRUE(result.ok()) << result;
  EXPECT_EQ(raid.StateOf("b"), BackendState::kOptimal);
  EXPECT_TRUE(raid["b"].HasTransaction(late->tid));
  EXPECT_EQ(HistoryDiff(raid["a"].History(), raid["b"].History()), "");
  EXPECT_EQ(job->progress().transactions_copied, 56u);
  ExpectNoProtocolErrors(raid);
}

TEST(RecoveryJobTest, FullCopyIntoAnEmptyServerKeepsEveryRecord) {
  Raid raid({"a", "b"});
  const std::vector<StoredTransaction> history = VariedHistory(BaseTid(), 60);
  ASSERT_TRUE(raid.StartRecoveryOfB(history).ok());
  Throttle unlimited;
  std::unique_ptr<RecoveryJob> job = raid.Job("b", &unlimited);
  absl::Status result = job->Run();
  ASSERT_TRUE(result.ok()) << result;
  EXPECT_EQ(raid.StateOf("b"), BackendState::kOptimal);
  EXPECT_EQ(HistoryDiff(raid["a"].History(), raid["b"].History()), "");
  EXPECT_EQ(HistoryDiff(history, raid["b"].History()), "");
  EXPECT_EQ(job->progress().mode, "full");
  EXPECT_EQ(job->progress().transactions_copied, 60u);
  EXPECT_FALSE(job->diverged());

  // The recovered backend takes part in the next commit.
  absl::StatusOr<std::string> tid = CommitOnce(
      &raid.coordinator, CommitterTxn(0, 0, std::string(zeo::kZeroTid)));
  ASSERT_TRUE(tid.ok()) << tid.status();
  EXPECT_EQ(raid["b"].last_tid(), *tid);
  EXPECT_EQ(HistoryDiff(raid["a"].History(), raid["b"].History()), "");
  ExpectNoProtocolErrors(raid);
}

// A target whose last transaction is not the source's has diverged: the job
// refuses it and writes nothing.
struct DivergedCase {
  const char* name;
  // The target's last transaction, given the source's 6th.
  StoredTransaction (*last)(const StoredTransaction& source_sixth);
  const char* message;
};

class DivergedTargetTest : public ::testing::TestWithParam<DivergedCase> {};

TEST_P(DivergedTargetTest, IsRefusedAndNotWrittenTo) {
  Raid raid({"a", "b"});
  const std::vector<StoredTransaction> history = VariedHistory(BaseTid(), 10);
  Seed(raid["a"], history);
  Seed(raid["b"],
       std::vector<StoredTransaction>(history.begin(), history.begin() + 5));
  ASSERT_TRUE(raid["b"].Append(GetParam().last(history[5])).ok());
  const std::vector<StoredTransaction> before = raid["b"].History();
  raid.AddOptimal("a");
  raid.AddDegraded("b");
  raid.SetLastTid(raid["a"].last_tid());
  ASSERT_TRUE(raid.backends.BeginRecovery("b").ok());
  Throttle unlimited;
  std::unique_ptr<RecoveryJob> job = raid.Job("b", &unlimited);
  absl::Status result = job->Run();
  EXPECT_EQ(result.code(), absl::StatusCode::kDataLoss) << result;
  EXPECT_THAT(std::string(result.message()), HasSubstr(GetParam().message));
  EXPECT_TRUE(job->diverged());
  EXPECT_EQ(raid.StateOf("b"), BackendState::kRecovering);
  EXPECT_EQ(HistoryDiff(before, raid["b"].History()), "");
  EXPECT_EQ(raid["b"].tpc_begins(), 0);
  ExpectNoProtocolErrors(raid);
}

INSTANTIATE_TEST_SUITE_P(
    RecoveryJobTest, DivergedTargetTest,
    ::testing::Values(DivergedCase{"TidNotOnSource",
                                   [](const StoredTransaction& s) {
                                     // Between the source's 5th and 6th.
                                     return Txn(
                                         zeo::TidToUint64(s.tid()) - 500,
                                         "intruder", "only on b",
                                         {Record(Oid(1), Value::Bytes("b's"))});
                                   },
                                   "is not in the source's history"},
                      DivergedCase{"SameTidDifferentRecords",
                                   [](const StoredTransaction& s) {
                                     StoredTransaction t = s;
                                     t.records.push_back(
                                         Record(Oid(77), Value::Bytes("b's")));
                                     return t;
                                   },
                                   "same metadata, different records"},
                      DivergedCase{"SameTidDifferentMetadata",
                                   [](const StoredTransaction& s) {
                                     StoredTransaction t = s;
                                     t.header.mutable_items()[3] =
                                         Value::Bytes("b's");
                                     return t;
                                   },
                                   "diverged at tid"}),
    [](const ::testing::TestParamInfo<DivergedCase>& info) {
      return std::string(info.param.name);
    });

TEST(RecoveryJobTest, CancelMidCopyLeavesTheTargetNotOptimal) {
  Raid raid({"a", "b"});
  const std::vector<StoredTransaction> history = VariedHistory(BaseTid(), 300);
  ASSERT_TRUE(raid.StartRecoveryOfB(history).ok());
  Throttle slow(RecoveryRate{0, 100});  // 3 s for everything
  std::unique_ptr<RecoveryJob> job = raid.Job("b", &slow);
  absl::Status result;
  std::thread runner([&] { result = job->Run(); });
  const absl::Time give_up = absl::Now() + absl::Seconds(3);
  while (job->progress().transactions_copied < 5 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(job->progress().phase, "copying");
  const absl::Time cancelled = absl::Now();
  job->Cancel();
  runner.join();
  EXPECT_LT(absl::Now() - cancelled, absl::Milliseconds(500));
  EXPECT_EQ(result.code(), absl::StatusCode::kCancelled) << result;
  EXPECT_FALSE(job->diverged());
  EXPECT_NE(raid.StateOf("b"), BackendState::kOptimal);
  const std::vector<StoredTransaction> b = raid["b"].History();
  EXPECT_GE(b.size(), 5u);
  EXPECT_LT(b.size(), 300u);
  EXPECT_EQ(PrefixDiff(history, b), "");
  ExpectNoProtocolErrors(raid);
}

TEST(RecoveryJobTest, SourceDownMidCopyFailsThenTheOtherSourceSucceeds) {
  Raid raid({"a", "b", "c"});
  for (const char* name : {"a", "b", "c"}) raid.AddOptimal(name);
  absl::StatusOr<std::string> last = raid.CommitInARow(110, "c", 10);
  ASSERT_TRUE(last.ok()) << last.status();
  const std::string serial = *last;
  ASSERT_EQ(raid["c"].History().size(), 10u);
  // a goes down while the job reads its 40th transaction.
  raid["a"].GoDownAtCall("iterator_next", 40);
  ASSERT_TRUE(raid.backends.BeginRecovery("c").ok());
  Throttle unlimited;
  std::unique_ptr<RecoveryJob> first = raid.Job("c", &unlimited);
  absl::Status result = first->Run();
  EXPECT_EQ(result.code(), absl::StatusCode::kUnavailable) << result;
  EXPECT_THAT(std::string(result.message()), HasSubstr("source"));
  EXPECT_FALSE(first->diverged());
  EXPECT_EQ(first->progress().source, "a");
  EXPECT_NE(raid.StateOf("c"), BackendState::kOptimal);
  std::vector<StoredTransaction> c = raid["c"].History();
  EXPECT_GT(c.size(), 10u);  // it copied some before a went down
  EXPECT_LT(c.size(), 110u);
  EXPECT_EQ(PrefixDiff(raid["b"].History(), c), "");
  raid.backends.AbandonRecovery("c", "recovery failed",
                                DegradeKind::kTransport);

  // The next commit finds a down: it goes on with b alone.
  absl::StatusOr<std::string> tid =
      CommitOnce(&raid.coordinator, CommitterTxn(0, 110, serial));
  ASSERT_TRUE(tid.ok()) << tid.status();
  EXPECT_EQ(raid.StateOf("a"), BackendState::kDegraded);

  ASSERT_TRUE(raid.backends.BeginRecovery("c").ok());
  std::unique_ptr<RecoveryJob> second = raid.Job("c", &unlimited);
  result = second->Run();
  ASSERT_TRUE(result.ok()) << result;
  EXPECT_EQ(second->progress().source, "b");
  EXPECT_EQ(second->progress().mode, "incremental");
  EXPECT_EQ(raid.StateOf("c"), BackendState::kOptimal);
  EXPECT_EQ(HistoryDiff(raid["b"].History(), raid["c"].History()), "");
  EXPECT_EQ(raid["c"].last_tid(), *tid);
  ExpectNoProtocolErrors(raid);
}

// A FileStorage that crashed while writing its last transaction truncates it
// when reopened but may report its tid all the same: the job copies from the
// last transaction the history really holds.
TEST(RecoveryJobTest, TargetReportingATruncatedTransactionIsRecovered) {
  Raid raid({"a", "b"});
  const std::vector<StoredTransaction> history = VariedHistory(BaseTid(), 10);
  Seed(raid["a"], history);
  Seed(raid["b"],
       std::vector<StoredTransaction>(history.begin(), history.begin() + 6));
  raid["b"].ReportLastTid(history[6].tid());
  raid.AddOptimal("a");
  raid.AddDegraded("b");
  raid.SetLastTid(raid["a"].last_tid());
  ASSERT_TRUE(raid.backends.BeginRecovery("b").ok());
  Throttle unlimited;
  std::unique_ptr<RecoveryJob> job = raid.Job("b", &unlimited);
  absl::Status result = job->Run();
  ASSERT_TRUE(result.ok()) << result;
  EXPECT_EQ(job->progress().transactions_copied, 4u);
  EXPECT_EQ(HistoryDiff(history, raid["b"].History()), "");
  EXPECT_EQ(raid.StateOf("b"), BackendState::kOptimal);
  ExpectNoProtocolErrors(raid);
}

// The target goes down mid-copy: an error, and it is not made optimal.
TEST(RecoveryJobTest, TargetDownMidCopyFails) {
  Raid raid({"a", "b"});
  Seed(raid["a"], VariedHistory(BaseTid(), 50));
  raid.AddOptimal("a");
  raid.AddDegraded("b");
  raid.SetLastTid(raid["a"].last_tid());
  raid["b"].GoDownAtCall("tpc_finish", 20);
  ASSERT_TRUE(raid.backends.BeginRecovery("b").ok());
  Throttle unlimited;
  std::unique_ptr<RecoveryJob> job = raid.Job("b", &unlimited);
  absl::Status result = job->Run();
  EXPECT_EQ(result.code(), absl::StatusCode::kUnavailable) << result;
  EXPECT_THAT(std::string(result.message()), HasSubstr("target"));
  EXPECT_NE(raid.StateOf("b"), BackendState::kOptimal);
  EXPECT_EQ(raid["b"].History().size(), 19u);
  ExpectNoProtocolErrors(raid);
}

// Status shows a finished job's figures as they were at its end: its rate must
// not keep falling while the clock runs on.
TEST(RecoveryJobProgressTest, ElapsedStopsWhenTheJobEnds) {
  Throttle throttle;
  RecoveryJob job("b", nullptr, nullptr, nullptr, nullptr, &throttle,
                  RecoveryJobOptions());
  job.Finish("done", "");
  const double at_end = job.progress().elapsed_seconds;
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(job.progress().elapsed_seconds, at_end);
  EXPECT_EQ(job.progress().phase, "done");
}

}  // namespace
}  // namespace zeoraid::raidcore
