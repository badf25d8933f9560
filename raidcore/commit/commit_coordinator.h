// CommitCoordinator: mirrored two-phase commit across the optimal backends
// (DESIGN.md, RAID rule 2).
//
// raidcore holds one commit lock from vote to finish/abort. At vote it assigns
// the tid (later than every tid it committed or any backend reported) and runs
// tpc_begin(tid) + the buffered data calls + vote on every optimal backend in
// parallel. A big transaction may instead go to the backends while its client
// is still sending (SendEarly): then the lock covers only its vote and finish.
// Answers are compared: the answer most backends gave wins (ties go to the
// earlier-configured backend); a backend that errs, times out or disagrees is
// degraded and the commit goes on with the rest. tpc_finish goes to every
// backend that voted yes; one that fails then is degraded. The transaction is
// committed when at least one backend committed it.
#ifndef ZEORAID_RAIDCORE_COMMIT_COMMIT_COORDINATOR_H_
#define ZEORAID_RAIDCORE_COMMIT_COMMIT_COORDINATOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/elastic_pool.h"
#include "base/mutex.h"
#include "base/spool_file.h"
#include "raidcore/backend/backend_set.h"
#include "raidcore/commit/commit_clock.h"
#include "raidcore/commit/commit_lock.h"
#include "raidcore/commit/invalidation_hub.h"
#include "raidcore/commit/pending_transaction.h"

namespace zeoraid::raidcore {

class CommitCoordinator;

// A transaction whose tpc_begin and data calls went to the backends before
// its vote, on their serving connections (CommitCoordinator::SendEarly).
// Dropped before its vote (the client aborted or vanished, or the vote went
// the usual way), it aborts the backends' transaction if it is still open.
class EarlyTransaction {
 public:
  ~EarlyTransaction();
  EarlyTransaction(const EarlyTransaction&) = delete;
  EarlyTransaction& operator=(const EarlyTransaction&) = delete;

 private:
  friend class CommitCoordinator;
  EarlyTransaction() = default;
  enum class State {
    kOpen,    // begun on the backends, its calls going out
    kVoting,  // its vote took it over
    kGone     // aborted on the backends (preempted, failed or abandoned)
  };

  // Set at creation, then read-only.
  CommitCoordinator* coordinator_ = nullptr;
  std::vector<BackendMember> members_;
  std::string tid_;
  int64_t txn_id_ = 0;
  // Changed under the coordinator's early_mu_ (not expressible as an
  // annotation here), read without it only to see that it is no longer
  // kOpen (it never returns to kOpen). kOpen exactly while the
  // coordinator's early_owner_ is this transaction.
  std::atomic<State> state_{State::kOpen};
  // Guarded by the coordinator's early_mu_:
  size_t sent_ops_ = 0;  // ops[0, sent_ops_) went to every member
  // A message too big to send from the caller's thread came: it and the
  // rest go at vote.
  bool held_back_ = false;
};

struct CommitOptions {
  absl::Duration backend_timeout =
      absl::Seconds(10);  // each tpc_begin…vote and abort call
  // tpc_finish may write a lot (fsync of a big transaction): longer.
  absl::Duration finish_timeout = absl::Seconds(30);
  absl::Duration lock_wait = absl::Seconds(60);  // waiting for the commit lock
  // Told how long each vote waited for the commit lock (metrics); may be
  // empty. Called on the voting thread, without locks held.
  std::function<void(absl::Duration)> lock_wait_observer;
};

// A transaction that voted yes: it holds the commit lock until Finish or Abort.
// Destroying it without either aborts (so a vanished client never leaves the
// lock).
class PreparedCommit {
 public:
  ~PreparedCommit();
  const std::string& tid() const { return tid_; }
  // What the client's vote() returns (resolved oids).
  const zeo::Value& vote_result() const { return vote_result_; }

 private:
  friend class CommitCoordinator;
  PreparedCommit() = default;

  CommitCoordinator* coordinator_ = nullptr;
  std::string tid_;
  int64_t txn_id_ = 0;
  zeo::Value vote_result_;
  std::vector<BackendMember> voters_;
  InvalidationEvent invalidation_;
  bool done_ = false;
};

struct VoteOutcome {
  // Set when the vote succeeded.
  std::unique_ptr<PreparedCommit> prepared;
  // Set when the backends agreed on an application error (ConflictError…):
  // nothing was committed and the lock is already released.
  std::optional<ZeoReply> error;
  // Set when backends that leave conflict resolution to clients returned
  // conflict dicts: the backends' transactions are aborted and the lock
  // released; the client resolves, adds stores and votes again, and the whole
  // transaction is replayed.
  std::optional<zeo::Value> conflicts;
};

class CommitCoordinator {
 public:
  // `probes` (may be null) opens fresh connections to ask a backend whose
  // tpc_finish failed whether it committed anyway.
  CommitCoordinator(BackendSet* backends, CommitClock* clock,
                    InvalidationHub* hub, CommitOptions options,
                    BackendConnectionFactory* probes = nullptr);

  // Non-OK: no backend could vote (RAID failed) or the lock was not free in
  // time.
  absl::StatusOr<VoteOutcome> Vote(const PendingTransaction& txn);
  struct Committed {
    std::string tid;
    // The storage statistics a backend sent with its tpc_finish ({length,
    // size}), for the committing client's info callback; None if none came.
    zeo::Value info;
    // Tells the invalidation watchers when destroyed: the committer's answer
    // goes out first, so that its translator mostly has it before the
    // invalidation and writes the client's reply as the invalidation comes
    // in, without one of its threads waiting for the other.
    InvalidationHub::Delivery watchers;
  };
  // Non-OK when no backend committed.
  absl::StatusOr<Committed> Finish(std::unique_ptr<PreparedCommit> prepared);
  void Abort(std::unique_ptr<PreparedCommit> prepared);

  // Vote and Finish without holding the caller's thread, for a caller that
  // must not block (raidcore's Commit stream runs on gRPC's polling
  // threads). `done` runs exactly once with what the blocking call returns.
  // On the fast path (the transaction small, every backend answering alike
  // and well) the calls go out from the caller's thread — or, when the lock
  // was taken, from the thread that hands it over — and `done` runs on the
  // reader thread of the backend connection that brings the last answer:
  // `done` must be quick and must not block. Otherwise (a big transaction, a
  // backend that fails or disagrees, a conflict) the rest runs on a helper
  // thread of an ElasticPool. `txn` must stay valid until `done`.
  using VoteDone = std::function<void(absl::StatusOr<VoteOutcome>)>;
  using FinishDone = std::function<void(absl::StatusOr<Committed>)>;
  void VoteThen(const PendingTransaction& txn, VoteDone done);
  void FinishThen(std::unique_ptr<PreparedCommit> prepared, FinishDone done);
  // Threads of the slow paths' pool now (running or idle).
  int helper_threads() const { return helpers_.threads(); }
  // Abort on a helper thread; `done` (may be empty) runs there afterwards.
  void AbortThen(std::unique_ptr<PreparedCommit> prepared,
                 std::function<void()> done);

  uint64_t commits() const;

  // Sends the calls `txn` received since the last SendEarly to the backends
  // now, ahead of its vote, so that they decode and log its stores while the
  // client is still sending (ZEO's server does so on its client's
  // connection). For big transactions, whose calls come in several messages:
  // the first such call begins the transaction on every optimal backend, on
  // their serving connections, with a tid chosen now. A ZEO connection holds
  // one transaction at a time, so one transaction at a time goes early, and
  // only while no vote holds those connections; a vote that finds another
  // transaction early there aborts it on the backends first (that one's vote
  // then sends everything again, as usual). Its own vote uses the early
  // transaction when nothing changed in between: the same optimal backends
  // and connections, and no commit since (its tid still later than the last
  // committed one). Otherwise, or when a send fails, the early transaction
  // is aborted on the backends and the vote goes the usual way. When other
  // votes keep aborting early transactions (two in a row), the next eight
  // transactions do not go early. Never blocks
  // on the commit lock; may block on sending to a backend, at most about
  // 256 KiB per backend and call: a message with more is held back with
  // everything after it, and goes at vote from a thread per backend.
  // Not for transactions with a requested tid or blobs (a blob aborts it).
  void SendEarly(PendingTransaction* txn);
  // Transactions that went early, and those of them whose vote used it.
  struct EarlyCounts {
    uint64_t started = 0;
    uint64_t voted = 0;
  };
  EarlyCounts early_counts() const;

  // The lock every commit holds from vote to finish; recovery holds it for its
  // cutover.
  CommitLock* commit_lock() { return &lock_; }

  // A transaction whose tpc_finish no backend confirmed (not even when asked
  // afresh): it may be on some backends. Re-admission of a failed RAID adopts
  // it from a backend that reports its tid (publishing this invalidation).
  // REQUIRES for Adopt: the commit lock is held.
  std::optional<InvalidationEvent> unconfirmed() const;
  void AdoptUnconfirmed();

  // pack(t) on every optimal backend at once, with the same pack time. A
  // backend that fails for a transport reason is degraded; an application error
  // that every backend gives is returned.
  // `info` (if given) receives the storage statistics published afterwards.
  absl::StatusOr<ZeoReply> Pack(double pack_time, absl::Duration timeout,
                                zeo::Value* info = nullptr);

 private:
  friend class PreparedCommit;
  friend class EarlyTransaction;
  // What a vote that holds the lock sends to which backends.
  struct VotePlan {
    std::vector<BackendMember> members;
    std::string tid;
    int64_t txn_id = 0;
    // Set when the transaction went early: tpc_begin and ops[0, first_op)
    // are on the backends already.
    bool begun = false;
    size_t first_op = 0;
  };
  // With the lock held: the plan, or (the lock released) the vote's result
  // when it ends before any backend is asked.
  std::optional<absl::StatusOr<VoteOutcome>> PlanVote(
      const PendingTransaction& txn, VotePlan* plan);
  // Sends the transaction (what is not on the backends yet) and its vote to
  // every member, and returns their answers.
  std::vector<absl::StatusOr<ZeoReply>> SendAndAwaitVotes(
      const PendingTransaction& txn, const VotePlan& plan);
  // Sends the transaction (what is not on the backends yet) to `m`.
  // Returns the send's failure (the vote is not started then).
  absl::Status SendTransaction(const BackendMember& m,
                               const PendingTransaction& txn,
                               const VotePlan& plan);
  // The vote's outcome from the backends' answers (lock held; released
  // unless a PreparedCommit holds it). Blocks only when some answer is not
  // Unanimous (it degrades and aborts).
  absl::StatusOr<VoteOutcome> JudgeVote(
      const PendingTransaction& txn, const VotePlan& plan,
      std::vector<absl::StatusOr<ZeoReply>> answers);
  // VoteThen's part once the lock is held: sends, and judges on the thread
  // that brings the last answer.
  void VoteLocked(const PendingTransaction& txn, VoteDone done);
  // Every answer OK, alike, no error and no conflict to resolve.
  static bool Unanimous(const std::vector<absl::StatusOr<ZeoReply>>& answers);
  // Finish's end from the backends' tpc_finish answers. Blocks only when some
  // backend did not confirm (it probes and degrades).
  absl::StatusOr<Committed> JudgeFinish(
      PreparedCommit* prepared, std::vector<absl::StatusOr<ZeoReply>> answers);
  absl::Status AcquireLock();
  void ReleaseLock();
  // After `name`'s tpc_finish of `tid` failed: true if a fresh connection
  // finds `tid` as its last transaction.
  bool CommittedAnyway(const std::string& name, const std::string& tid);
  void AbortOn(const std::vector<BackendMember>& members, int64_t txn_id);
  void AbortPrepared(PreparedCommit* prepared);
  // With the lock held: takes the serving connections for this vote, and
  // the early transaction for `plan` when it may be used; an early
  // transaction of another (or one that may not be used) is aborted.
  void TakeServingConnections(const PendingTransaction& txn, VotePlan* plan)
      ABSL_LOCKS_EXCLUDED(early_mu_);
  // Aborts `early` on its backends (without waiting for their answers).
  void AbortEarlyLocked(EarlyTransaction* early, absl::string_view why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(early_mu_);
  // ~EarlyTransaction.
  void DropEarly(EarlyTransaction* early) ABSL_LOCKS_EXCLUDED(early_mu_);

  BackendSet* const backends_;
  CommitClock* const clock_;
  InvalidationHub* const hub_;
  const CommitOptions options_;
  BackendConnectionFactory* const probes_;
  CommitLock lock_;

  mutable Mutex mu_;
  int64_t next_txn_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t commits_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<InvalidationEvent> unconfirmed_ ABSL_GUARDED_BY(mu_);

  // Who has a transaction open on the backends' serving connections. Held
  // while sending an early transaction's calls, so that an abort that
  // preempts it follows its last call on each connection. Taken after the
  // commit lock, never before.
  mutable Mutex early_mu_;
  // The early transaction open on them (its state kOpen), if any.
  EarlyTransaction* early_owner_ ABSL_GUARDED_BY(early_mu_) = nullptr;
  // A vote holds them, from TakeServingConnections to ReleaseLock. Set under
  // early_mu_; cleared without it, so that a finish's thread (a backend's
  // reader) never waits for an early transaction's sends.
  std::atomic<bool> serving_in_commit_{false};
  EarlyCounts early_counts_ ABSL_GUARDED_BY(early_mu_);
  // Early transactions aborted in a row because another voted first; after
  // two, the next kEarlyDeclines transactions do not go early.
  static constexpr int kEarlyDeclines = 8;
  int preempted_in_a_row_ ABSL_GUARDED_BY(early_mu_) = 0;
  int early_declines_left_ ABSL_GUARDED_BY(early_mu_) = 0;

  // The slow paths of VoteThen, FinishThen and AbortThen. Last: destroyed
  // (its jobs run to their end) before anything they use.
  ElasticPool helpers_;
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_COMMIT_COMMIT_COORDINATOR_H_
