// Committers: threads that commit through a CommitCoordinator while a test
// recovers, breaks or re-admits backends underneath (recovery_job_test,
// recovery_manager_test). Each committer updates its own object at the serial
// it last committed, so a backend that missed one of its commits answers a
// ConflictError, and adds a new object.
#ifndef ZEORAID_RAIDCORE_RECOVERY_COMMITTERS_H_
#define ZEORAID_RAIDCORE_RECOVERY_COMMITTERS_H_

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "raidcore/commit/commit_coordinator.h"
#include "zeo/tid.h"

namespace zeoraid::raidcore::recovery_testing {

inline std::string Oid(uint64_t n) { return zeo::TidFromUint64(n); }

// Commit timeouts short enough for a test, long enough for TSan.
inline CommitOptions FastCommits() {
  CommitOptions o;
  o.backend_timeout = absl::Seconds(5);
  o.finish_timeout = absl::Seconds(5);
  o.lock_wait = absl::Seconds(5);
  return o;
}

// Vote + Finish; an application error or conflicts count as failures.
inline absl::StatusOr<std::string> CommitOnce(CommitCoordinator* c,
                                              const PendingTransaction& txn) {
  absl::StatusOr<VoteOutcome> vote = c->Vote(txn);
  if (!vote.ok()) return vote.status();
  if (vote->error.has_value()) {
    return absl::AbortedError(absl::StrCat("vote answered ",
                                           vote->error->error_class,
                                           vote->error->value.DebugString()));
  }
  if (vote->conflicts.has_value()) {
    return absl::AbortedError(absl::StrCat("vote answered conflicts ",
                                           vote->conflicts->DebugString()));
  }
  absl::StatusOr<CommitCoordinator::Committed> done =
      c->Finish(std::move(vote->prepared));
  if (!done.ok()) return done.status();
  return done->tid;
}

// A transaction of committer `thread`: its own object (at `serial`, so a
// backend that missed one of its commits answers a ConflictError) and a new
// one.
inline PendingTransaction CommitterTxn(int thread, int n,
                                       const std::string& serial) {
  PendingTransaction txn;
  txn.user = absl::StrCat("committer", thread);
  txn.description = absl::StrCat("commit ", n);
  txn.extension =
      zeo::Value::Dict({{zeo::Value::Str("thread"), zeo::Value::Int(thread)},
                        {zeo::Value::Str("n"), zeo::Value::Int(n)}});
  txn.ops.push_back({TransactionOp::Kind::kStore, Oid(1000000 + thread), serial,
                     absl::StrCat("thread ", thread, " state ", n)});
  txn.ops.push_back(
      {TransactionOp::Kind::kStore, Oid((thread + 2) * 1000000000ull + n),
       std::string(zeo::kZeroTid), std::string(64 + n % 64, 'x')});
  return txn;
}

// Commits from `threads` threads, each pausing `pause` between commits, until
// Stop. Every acknowledged tid and every failure is kept.
class Committers {
 public:
  Committers(CommitCoordinator* coordinator, int threads, absl::Duration pause)
      : coordinator_(coordinator), pause_(pause) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, t] { Run(t); });
    }
  }
  ~Committers() { Stop(); }

  void Stop() {
    stop_ = true;
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int acknowledged() const {
    MutexLock l(&mu_);
    return static_cast<int>(tids_.size());
  }
  // Waits until `n` commits were acknowledged in all; false on timeout.
  bool WaitFor(int n, absl::Duration timeout) const {
    const absl::Time give_up = absl::Now() + timeout;
    while (acknowledged() < n) {
      if (absl::Now() > give_up) return false;
      absl::SleepFor(absl::Milliseconds(2));
    }
    return true;
  }
  std::vector<std::string> tids() const {
    MutexLock l(&mu_);
    return tids_;
  }
  std::vector<std::string> failures() const {
    MutexLock l(&mu_);
    return failures_;
  }

 private:
  void Run(int thread) {
    std::string serial(zeo::kZeroTid);
    for (int n = 0; !stop_; ++n) {
      absl::StatusOr<std::string> tid =
          CommitOnce(coordinator_, CommitterTxn(thread, n, serial));
      {
        MutexLock l(&mu_);
        if (!tid.ok()) {
          failures_.push_back(absl::StrCat("committer ", thread, " commit ", n,
                                           ": ", tid.status().ToString()));
          return;  // its object's serial is unknown now
        }
        tids_.push_back(*tid);
      }
      serial = *tid;
      absl::SleepFor(pause_);
    }
  }

  CommitCoordinator* const coordinator_;
  const absl::Duration pause_;
  std::atomic<bool> stop_{false};
  mutable Mutex mu_;
  std::vector<std::string> tids_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> failures_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

}  // namespace zeoraid::raidcore::recovery_testing

#endif  // ZEORAID_RAIDCORE_RECOVERY_COMMITTERS_H_
