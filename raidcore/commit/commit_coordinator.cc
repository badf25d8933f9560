#include "raidcore/commit/commit_coordinator.h"

#include <chrono>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "raidcore/commit/transaction_calls.h"
#include "zeo/tid.h"

namespace zeoraid::raidcore {

using zeo::NextTid;
using zeo::TidHex;
using zeo::TidToUint64;
namespace {

using zeo::Value;

// Runs fn(member) for every member at once and returns the results in order.
template <typename Fn>
auto OnEach(const std::vector<BackendMember>& members, Fn fn)
    -> std::vector<decltype(fn(members[0]))> {
  std::vector<decltype(fn(members[0]))> results(members.size(),
                                                absl::UnknownError("not run"));
  if (members.size() == 1) {
    results[0] = fn(members[0]);
    return results;
  }
  std::vector<std::thread> threads;
  threads.reserve(members.size());
  for (size_t i = 0; i < members.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = fn(members[i]); });
  }
  for (std::thread& t : threads) t.join();
  return results;
}

// A call that was never sent: its answer is known.
class ReadyCall final : public BackendConnection::PendingCall {
 public:
  explicit ReadyCall(absl::StatusOr<ZeoReply> answer)
      : answer_(std::move(answer)) {}
  absl::StatusOr<ZeoReply> Await() override { return std::move(answer_); }

 private:
  absl::StatusOr<ZeoReply> answer_;
};

// Starts a call on every member (start(member) sends it), then awaits every
// answer, in order: the mirrors work side by side without a thread each.
template <typename Start>
std::vector<absl::StatusOr<ZeoReply>> CallEach(
    const std::vector<BackendMember>& members, Start start) {
  std::vector<std::unique_ptr<BackendConnection::PendingCall>> calls;
  calls.reserve(members.size());
  for (const BackendMember& m : members) calls.push_back(start(m));
  std::vector<absl::StatusOr<ZeoReply>> answers;
  answers.reserve(members.size());
  for (auto& call : calls) answers.push_back(call->Await());
  return answers;
}

// Above this much data a transaction is sent to the mirrors from a thread
// each, so that one slow reader does not hold up the others' copy.
constexpr size_t kPipelinedVoteBytes = 256 << 10;

std::string Describe(const ZeoReply& reply) {
  if (reply.is_error) {
    return absl::StrCat(reply.error_class, reply.value.DebugString());
  }
  return reply.value.DebugString();
}

bool SameMembers(const std::vector<BackendMember>& a,
                 const std::vector<BackendMember>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].connection != b[i].connection) {
      return false;
    }
  }
  return true;
}

}  // namespace

PreparedCommit::~PreparedCommit() {
  if (!done_ && coordinator_ != nullptr) coordinator_->AbortPrepared(this);
}

CommitCoordinator::CommitCoordinator(BackendSet* backends, CommitClock* clock,
                                     InvalidationHub* hub,
                                     CommitOptions options,
                                     BackendConnectionFactory* probes)
    : backends_(backends),
      clock_(clock),
      hub_(hub),
      options_(options),
      probes_(probes) {}

absl::Status CommitCoordinator::AcquireLock() {
  const absl::Time start = absl::Now();
  absl::Status st = lock_.Acquire(options_.lock_wait, "another transaction");
  if (options_.lock_wait_observer) {
    options_.lock_wait_observer(absl::Now() - start);
  }
  return st;
}

void CommitCoordinator::ReleaseLock() {
  serving_in_commit_ = false;
  lock_.Release();
}

std::optional<InvalidationEvent> CommitCoordinator::unconfirmed() const {
  MutexLock lock(&mu_);
  return unconfirmed_;
}

void CommitCoordinator::AdoptUnconfirmed() {
  std::optional<InvalidationEvent> event;
  {
    MutexLock lock(&mu_);
    event = std::move(unconfirmed_);
    unconfirmed_.reset();
    if (event.has_value()) ++commits_;
  }
  if (!event.has_value()) return;
  ZR_LOG(WARNING) << "transaction " << TidHex(event->tid)
                  << " whose tpc_finish no backend confirmed is committed "
                  << "after all: a backend holds it";
  clock_->StartFinish();
  hub_->Publish(*event);
  clock_->EndFinish(event->tid);
}

bool CommitCoordinator::CommittedAnyway(const std::string& name,
                                        const std::string& tid) {
  if (probes_ == nullptr) return false;
  absl::StatusOr<std::shared_ptr<BackendConnection>> fresh =
      probes_->Connect(name);
  if (!fresh.ok()) {
    ZR_LOG(WARNING) << "backend " << name << ": cannot ask whether it "
                    << "committed " << TidHex(tid) << ": "
                    << fresh.status().message();
    return false;
  }
  absl::StatusOr<ZeoReply> last =
      (*fresh)->Call("lastTransaction", {}, options_.backend_timeout);
  (*fresh)->Close();
  return last.ok() && !last->is_error && last->value == Value::Bytes(tid);
}

uint64_t CommitCoordinator::commits() const {
  MutexLock lock(&mu_);
  return commits_;
}

std::optional<absl::StatusOr<VoteOutcome>> CommitCoordinator::PlanVote(
    const PendingTransaction& txn, VotePlan* plan) {
  plan->members = backends_->Optimal();
  if (plan->members.empty()) {
    ReleaseLock();
    return absl::StatusOr<VoteOutcome>(
        absl::UnavailableError("RAID failed: no optimal backend"));
  }
  std::string last = clock_->last_tid();
  if (!txn.requested_tid.empty()) {
    if (TidToUint64(txn.requested_tid) <= TidToUint64(last)) {
      ReleaseLock();
      VoteOutcome outcome;
      outcome.error = ZeoReply::Error(
          "ZODB.POSException.StorageTransactionError",
          Value::Tuple({Value::Str(absl::StrCat(
              "requested tid ", TidHex(txn.requested_tid),
              " is not later than the last committed tid ", TidHex(last)))}));
      return absl::StatusOr<VoteOutcome>(std::move(outcome));
    }
    plan->tid = txn.requested_tid;
  } else {
    plan->tid = NextTid(absl::Now(), last);
  }
  {
    MutexLock lock(&mu_);
    plan->txn_id = next_txn_id_++;
  }
  TakeServingConnections(txn, plan);
  return std::nullopt;
}

void CommitCoordinator::TakeServingConnections(const PendingTransaction& txn,
                                               VotePlan* plan) {
  MutexLock lock(&early_mu_);
  serving_in_commit_ = true;
  EarlyTransaction* mine = txn.early.get();
  if (early_owner_ != nullptr && early_owner_ != mine) {
    AbortEarlyLocked(early_owner_, "another transaction votes first");
    // Other transactions keep voting first (steady small commits): the
    // early path only doubles the backends' work then. After two in a row,
    // the next few transactions go the usual way.
    if (++preempted_in_a_row_ >= 2) early_declines_left_ = kEarlyDeclines;
  }
  if (mine == nullptr || early_owner_ != mine) return;
  if (StoresBlob(txn, mine->sent_ops_)) {
    // Came with the vote. A blob's bytes go to one backend after the other,
    // from the voting thread: the usual way.
    AbortEarlyLocked(mine, "it stores a blob");
    return;
  }
  if (!SameMembers(mine->members_, plan->members)) {
    AbortEarlyLocked(mine, "the optimal backends changed since it began");
    return;
  }
  // Commits are serialized by the lock held here: a tid later than the last
  // committed one keeps the backends' tids in commit order.
  if (TidToUint64(mine->tid_) <= TidToUint64(clock_->last_tid())) {
    AbortEarlyLocked(mine, "a later transaction committed since it began");
    return;
  }
  mine->state_ = EarlyTransaction::State::kVoting;
  early_owner_ = nullptr;
  ++early_counts_.voted;
  preempted_in_a_row_ = 0;
  plan->tid = mine->tid_;
  plan->txn_id = mine->txn_id_;
  plan->begun = true;
  plan->first_op = mine->sent_ops_;
}

void CommitCoordinator::AbortEarlyLocked(EarlyTransaction* early,
                                         absl::string_view why) {
  early->state_ = EarlyTransaction::State::kGone;
  if (early_owner_ == early) early_owner_ = nullptr;
  ZR_LOG(DEBUG) << "transaction begun early as " << TidHex(early->tid_)
                << " aborted on the backends: " << why;
  // Not awaited: the backend handles the calls of a connection in order, so
  // whatever goes next on it (the voting transaction's tpc_begin) follows
  // the abort. A connection that failed is found out by the next vote.
  for (const BackendMember& m : early->members_) {
    m.connection->StartThen(
        "tpc_abort", {Value::Int(early->txn_id_)}, options_.backend_timeout,
        [name = m.name](absl::StatusOr<ZeoReply> answer) {
          if (!answer.ok()) {
            ZR_LOG(DEBUG) << "backend " << name << ": tpc_abort of an early "
                          << "transaction failed: " << answer.status();
          }
        });
  }
}

void CommitCoordinator::DropEarly(EarlyTransaction* early) {
  // Voted or aborted: nothing to do, and no wait for another transaction's
  // sends (this may run on a backend's reader thread, after a finish).
  if (early->state_ != EarlyTransaction::State::kOpen) return;
  MutexLock lock(&early_mu_);
  if (early->state_ == EarlyTransaction::State::kOpen) {
    AbortEarlyLocked(early, "dropped before its vote");
  }
}

EarlyTransaction::~EarlyTransaction() {
  if (coordinator_ != nullptr) coordinator_->DropEarly(this);
}

void CommitCoordinator::SendEarly(PendingTransaction* txn) {
  if (!txn->requested_tid.empty()) return;
  MutexLock lock(&early_mu_);
  EarlyTransaction* early = txn->early.get();
  if (early != nullptr &&
      (early->state_ != EarlyTransaction::State::kOpen || early->held_back_)) {
    return;  // the rest goes at vote
  }
  const size_t first = early != nullptr ? early->sent_ops_ : 0;
  // Sent from this thread (the completion queue's): no more than a vote
  // sends from one thread (see kPipelinedVoteBytes).
  if (TransactionBytes(*txn, first) > kPipelinedVoteBytes) {
    if (early != nullptr) early->held_back_ = true;
    return;
  }
  if (StoresBlob(*txn, first)) {
    // A blob's bytes go to one backend after the other: at vote.
    if (early != nullptr) AbortEarlyLocked(early, "it stores a blob");
    return;
  }
  const bool begins = early == nullptr;
  if (begins) {
    // Another transaction has the serving connections; this one tries again
    // with its next calls.
    if (serving_in_commit_ || early_owner_ != nullptr) return;
    if (early_declines_left_ > 0) {
      --early_declines_left_;
      // Marked, so that its later calls do not count again.
      txn->early = std::shared_ptr<EarlyTransaction>(new EarlyTransaction());
      txn->early->state_ = EarlyTransaction::State::kGone;
      return;
    }
    std::vector<BackendMember> members = backends_->Optimal();
    if (members.empty() || backends_->read_only()) return;
    txn->early = std::shared_ptr<EarlyTransaction>(new EarlyTransaction());
    early = txn->early.get();
    early->coordinator_ = this;
    early->members_ = std::move(members);
    early->tid_ = NextTid(absl::Now(), clock_->last_tid());
    {
      MutexLock ids(&mu_);  // after early_mu_, never before
      early->txn_id_ = next_txn_id_++;
    }
    early_owner_ = early;
    ++early_counts_.started;
  }
  std::vector<absl::Status> sent =
      QueueOnEach(early->members_, *txn, first, early->txn_id_,
                  begins ? &early->tid_ : nullptr);
  for (size_t i = 0; i < sent.size(); ++i) {
    // This message's calls leave now, in as few writes as they fit.
    if (sent[i].ok()) sent[i] = early->members_[i].connection->Flush();
  }
  for (const absl::Status& st : sent) {
    if (!st.ok()) {
      AbortEarlyLocked(early, st.message());
      return;
    }
  }
  early->sent_ops_ = txn->ops.size();
}

CommitCoordinator::EarlyCounts CommitCoordinator::early_counts() const {
  MutexLock lock(&early_mu_);
  return early_counts_;
}

absl::Status CommitCoordinator::SendTransaction(const BackendMember& m,
                                                const PendingTransaction& txn,
                                                const VotePlan& plan) {
  BackendConnection& c = *m.connection;
  absl::Status st =
      plan.begun ? absl::OkStatus() : SendBegin(c, txn, plan.txn_id, plan.tid);
  for (size_t i = plan.first_op; i < txn.ops.size(); ++i) {
    if (!st.ok()) break;
    st = SendOp(c, txn.ops[i], plan.txn_id);
  }
  return st;
}

absl::StatusOr<VoteOutcome> CommitCoordinator::Vote(
    const PendingTransaction& txn) {
  absl::Status locked = AcquireLock();
  if (!locked.ok()) return locked;
  VotePlan plan;
  if (auto early = PlanVote(txn, &plan)) return std::move(*early);
  return JudgeVote(txn, plan, SendAndAwaitVotes(txn, plan));
}

std::vector<absl::StatusOr<ZeoReply>> CommitCoordinator::SendAndAwaitVotes(
    const PendingTransaction& txn, const VotePlan& plan) {
  if (TransactionBytes(txn, plan.first_op) > kPipelinedVoteBytes) {
    return OnEach(plan.members,
                  [&](const BackendMember& m) -> absl::StatusOr<ZeoReply> {
                    absl::Status st = SendTransaction(m, txn, plan);
                    if (!st.ok()) return st;
                    return m.connection->Call("vote", {Value::Int(plan.txn_id)},
                                              options_.backend_timeout);
                  });
  }
  std::vector<absl::Status> sent =
      QueueOnEach(plan.members, txn, plan.first_op, plan.txn_id,
                  plan.begun ? nullptr : &plan.tid);
  size_t i = 0;
  return CallEach(plan.members,
                  [&](const BackendMember& m)
                      -> std::unique_ptr<BackendConnection::PendingCall> {
                    const absl::Status& st = sent[i++];
                    if (!st.ok()) return std::make_unique<ReadyCall>(st);
                    return m.connection->Start("vote",
                                               {Value::Int(plan.txn_id)},
                                               options_.backend_timeout);
                  });
}

namespace {

// A vote result naming conflicts the client resolves (dicts among the oids).
bool HasClientConflicts(const Value& vote_result) {
  for (const Value& item : vote_result.items()) {
    if (item.is_dict()) return true;
  }
  return false;
}

// A tpc_finish answer that confirms `tid`.
bool Confirms(const absl::StatusOr<ZeoReply>& answer, const std::string& tid) {
  return answer.ok() && !answer->is_error && answer->value == Value::Bytes(tid);
}

}  // namespace

bool CommitCoordinator::Unanimous(
    const std::vector<absl::StatusOr<ZeoReply>>& answers) {
  for (const auto& answer : answers) {
    if (!answer.ok() || answer->is_error || !(*answer == *answers[0]) ||
        HasClientConflicts(answer->value)) {
      return false;
    }
  }
  return !answers.empty();
}

absl::StatusOr<VoteOutcome> CommitCoordinator::JudgeVote(
    const PendingTransaction& txn, const VotePlan& plan,
    std::vector<absl::StatusOr<ZeoReply>> answers) {
  const std::vector<BackendMember>& members = plan.members;
  const std::string& tid = plan.tid;
  // The answer given by the most backends wins; ties go to the earliest
  // backend.
  int winner = -1;
  size_t winner_votes = 0;
  for (size_t i = 0; i < answers.size(); ++i) {
    if (!answers[i].ok()) continue;
    size_t votes = 0;
    for (const auto& other : answers) {
      if (other.ok() && *other == *answers[i]) ++votes;
    }
    if (votes > winner_votes) {
      winner = static_cast<int>(i);
      winner_votes = votes;
    }
  }
  std::vector<BackendMember> agreeing;
  std::string reasons;
  for (size_t i = 0; i < answers.size(); ++i) {
    if (winner >= 0 && answers[i].ok() && *answers[i] == *answers[winner]) {
      agreeing.push_back(members[i]);
      continue;
    }
    std::string reason =
        answers[i].ok()
            ? absl::StrCat("vote for tid ", TidHex(tid), " answered ",
                           Describe(*answers[i]), " while the others answered ",
                           Describe(*answers[winner]))
            : absl::StrCat("vote for tid ", TidHex(tid),
                           " failed: ", answers[i].status().message());
    absl::StrAppend(&reasons, members[i].name, ": ", reason, "; ");
    backends_->Degrade(
        members[i].name, reason,
        answers[i].ok() ? DegradeKind::kDisagreed : DegradeKind::kTransport);
  }
  if (winner < 0) {
    ReleaseLock();
    return absl::UnavailableError(
        absl::StrCat("RAID failed: no backend could vote: ", reasons));
  }
  const ZeoReply& answer = *answers[winner];
  if (answer.is_error) {
    // Every remaining backend refused the transaction (a conflict): it is the
    // client's answer, and nothing was committed anywhere.
    AbortOn(agreeing, plan.txn_id);
    ReleaseLock();
    VoteOutcome outcome;
    outcome.error = answer;
    return outcome;
  }

  if (HasClientConflicts(answer.value)) {
    AbortOn(agreeing, plan.txn_id);
    ReleaseLock();
    VoteOutcome outcome;
    outcome.conflicts = answer.value;
    return outcome;
  }

  std::unique_ptr<PreparedCommit> prepared(new PreparedCommit());
  prepared->coordinator_ = this;
  prepared->tid_ = tid;
  prepared->txn_id_ = plan.txn_id;
  prepared->vote_result_ = answer.value;
  prepared->voters_ = std::move(agreeing);
  prepared->invalidation_.tid = tid;
  for (const TransactionOp& op : txn.ops) {
    if (op.kind == TransactionOp::Kind::kStore ||
        op.kind == TransactionOp::Kind::kStoreBlob) {
      prepared->invalidation_.oids.push_back(op.oid);
    } else if (op.kind == TransactionOp::Kind::kDelete ||
               op.kind == TransactionOp::Kind::kRestore) {
      prepared->invalidation_.silent_oids.push_back(op.oid);
    }
  }
  // Objects the backends changed themselves (undone, or conflicts they
  // resolved) change for the other clients too.
  for (const Value& oid : answer.value.items()) {
    if (oid.is_bytes())
      prepared->invalidation_.oids.push_back(oid.string_value());
  }
  prepared->invalidation_.origin_translator = txn.origin_translator;
  prepared->invalidation_.origin_connection = txn.origin_connection;
  VoteOutcome outcome;
  outcome.prepared = std::move(prepared);
  return outcome;
}

absl::StatusOr<CommitCoordinator::Committed> CommitCoordinator::Finish(
    std::unique_ptr<PreparedCommit> prepared) {
  prepared->done_ = true;
  clock_->StartFinish();
  std::vector<absl::StatusOr<ZeoReply>> answers =
      CallEach(prepared->voters_, [&](const BackendMember& m) {
        return m.connection->Start("tpc_finish",
                                   {Value::Int(prepared->txn_id_)},
                                   options_.finish_timeout);
      });
  return JudgeFinish(prepared.get(), std::move(answers));
}

absl::StatusOr<CommitCoordinator::Committed> CommitCoordinator::JudgeFinish(
    PreparedCommit* prepared, std::vector<absl::StatusOr<ZeoReply>> answers) {
  const std::string& tid = prepared->tid_;
  size_t committed = 0;
  Value info;
  for (size_t i = 0; i < answers.size(); ++i) {
    const std::string& name = prepared->voters_[i].name;
    if (Confirms(answers[i], tid)) {
      if (committed++ == 0) info = prepared->voters_[i].connection->last_info();
      backends_->SetLastTid(name, tid);
      continue;
    }
    if (!answers[i].ok()) {
      // A finish that timed out may still have committed: ask afresh before
      // judging (its own connection is gone either way, so it is degraded
      // and comes back through recovery, which then copies nothing).
      bool anyway = CommittedAnyway(name, tid);
      backends_->Degrade(
          name, absl::StrCat("tpc_finish of tid ", TidHex(tid), " failed (",
                             answers[i].status().message(), ")",
                             anyway ? "; it committed the transaction" : ""));
      if (anyway && committed++ == 0) info = Value::None();
      continue;
    }
    backends_->Degrade(name,
                       absl::StrCat("tpc_finish of tid ", TidHex(tid),
                                    " answered ", Describe(*answers[i])),
                       DegradeKind::kDisagreed);
  }
  if (committed == 0) {
    clock_->EndFinish("");
    {
      MutexLock lock(&mu_);
      unconfirmed_ = prepared->invalidation_;
    }
    ReleaseLock();
    ZR_LOG(ERROR) << "transaction " << TidHex(tid)
                  << ": no backend confirmed tpc_finish; outcome unknown (a "
                  << "backend that holds it is re-admitted with it)";
    return absl::UnavailableError(absl::StrCat(
        "RAID failed: no backend committed transaction ", TidHex(tid)));
  }
  // Published before the clock moves: whoever sees the new last tid can rely on
  // the invalidation being on its way (queued for every watcher). The
  // watchers' writes start once the commit lock is released, and the
  // committer answered (Committed::watchers).
  InvalidationHub::Delivery delivery = hub_->Publish(prepared->invalidation_);
  clock_->EndFinish(tid);
  {
    MutexLock lock(&mu_);
    ++commits_;
  }
  ReleaseLock();
  ZR_LOG(DEBUG) << "committed " << TidHex(tid) << " on " << committed
                << " backend(s)";
  return Committed{tid, std::move(info), std::move(delivery)};
}

namespace {

// One answer per backend, collected from their reader threads; whoever
// brings the last one runs `all` with them, in the backends' order.
class AnswerGather {
 public:
  using All = std::function<void(std::vector<absl::StatusOr<ZeoReply>>)>;
  AnswerGather(size_t n, All all)
      : all_(std::move(all)),
        answers_(n, absl::UnknownError("no answer")),
        missing_(n) {}
  void Answer(size_t i, absl::StatusOr<ZeoReply> answer) {
    std::vector<absl::StatusOr<ZeoReply>> answers;
    {
      MutexLock lock(&mu_);
      answers_[i] = std::move(answer);
      if (--missing_ > 0) return;
      answers = std::move(answers_);
    }
    all_(std::move(answers));
  }

 private:
  const All all_;
  Mutex mu_;
  std::vector<absl::StatusOr<ZeoReply>> answers_ ABSL_GUARDED_BY(mu_);
  size_t missing_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

void CommitCoordinator::VoteThen(const PendingTransaction& txn, VoteDone done) {
  // A big transaction is sent from a thread per mirror (see Vote): a helper
  // does it. One that went early has (most of) its calls out already.
  if (txn.early == nullptr && TransactionBytes(txn) > kPipelinedVoteBytes) {
    helpers_.Submit([this, &txn, done = std::move(done)] { done(Vote(txn)); });
    return;
  }
  // No thread waits for the lock: the vote goes on from the thread that
  // hands the lock over (the previous transaction's finish).
  const absl::Time start = absl::Now();
  lock_.AcquireThen(
      options_.lock_wait, "another transaction",
      [this, &txn, done = std::move(done), start](absl::Status locked) {
        if (options_.lock_wait_observer) {
          options_.lock_wait_observer(absl::Now() - start);
        }
        if (!locked.ok()) {
          done(locked);
          return;
        }
        VoteLocked(txn, done);
      });
}

void CommitCoordinator::VoteLocked(const PendingTransaction& txn,
                                   VoteDone done) {
  auto plan = std::make_shared<VotePlan>();
  if (auto early = PlanVote(txn, plan.get())) {
    done(std::move(*early));
    return;
  }
  if (TransactionBytes(txn, plan->first_op) > kPipelinedVoteBytes) {
    // An early transaction that could not be used: sent whole, as Vote does.
    helpers_.Submit([this, &txn, plan, done = std::move(done)] {
      done(JudgeVote(txn, *plan, SendAndAwaitVotes(txn, *plan)));
    });
    return;
  }
  auto gather = std::make_shared<AnswerGather>(
      plan->members.size(), [this, &txn, plan, done = std::move(done)](
                                std::vector<absl::StatusOr<ZeoReply>> answers) {
        if (Unanimous(answers)) {
          done(JudgeVote(txn, *plan, std::move(answers)));
          return;
        }
        // Degrading and aborting block on backends (maybe on this very
        // connection's reader thread): a helper does it.
        helpers_.Submit(
            [this, &txn, plan, done, answers = std::move(answers)]() mutable {
              done(JudgeVote(txn, *plan, std::move(answers)));
            });
      });
  std::vector<absl::Status> sent =
      QueueOnEach(plan->members, txn, plan->first_op, plan->txn_id,
                  plan->begun ? nullptr : &plan->tid);
  for (size_t i = 0; i < plan->members.size(); ++i) {
    const BackendMember& m = plan->members[i];
    if (!sent[i].ok()) {
      gather->Answer(i, sent[i]);
      continue;
    }
    m.connection->StartThen("vote", {Value::Int(plan->txn_id)},
                            options_.backend_timeout,
                            [gather, i](absl::StatusOr<ZeoReply> answer) {
                              gather->Answer(i, std::move(answer));
                            });
  }
}

void CommitCoordinator::FinishThen(std::unique_ptr<PreparedCommit> prepared,
                                   FinishDone done) {
  prepared->done_ = true;
  clock_->StartFinish();
  std::shared_ptr<PreparedCommit> commit(std::move(prepared));
  if (commit->voters_.empty()) {  // not from Vote, which keeps a voter
    helpers_.Submit([this, commit, done = std::move(done)] {
      done(JudgeFinish(commit.get(), {}));
    });
    return;
  }
  auto gather = std::make_shared<AnswerGather>(
      commit->voters_.size(),
      [this, commit,
       done = std::move(done)](std::vector<absl::StatusOr<ZeoReply>> answers) {
        bool confirmed = true;
        for (const auto& answer : answers) {
          if (!Confirms(answer, commit->tid_)) confirmed = false;
        }
        if (confirmed) {
          done(JudgeFinish(commit.get(), std::move(answers)));
          return;
        }
        // A backend that did not confirm is probed afresh and degraded:
        // blocking.
        helpers_.Submit(
            [this, commit, done, answers = std::move(answers)]() mutable {
              done(JudgeFinish(commit.get(), std::move(answers)));
            });
      });
  for (size_t i = 0; i < commit->voters_.size(); ++i) {
    commit->voters_[i].connection->StartThen(
        "tpc_finish", {Value::Int(commit->txn_id_)}, options_.finish_timeout,
        [gather, i](absl::StatusOr<ZeoReply> answer) {
          gather->Answer(i, std::move(answer));
        });
  }
}

void CommitCoordinator::AbortThen(std::unique_ptr<PreparedCommit> prepared,
                                  std::function<void()> done) {
  std::shared_ptr<PreparedCommit> shared(std::move(prepared));
  helpers_.Submit([this, shared, done = std::move(done)] {
    AbortPrepared(shared.get());
    if (done) done();
  });
}

absl::StatusOr<ZeoReply> CommitCoordinator::Pack(double pack_time,
                                                 absl::Duration timeout,
                                                 zeo::Value* published) {
  std::vector<BackendMember> members = backends_->Optimal();
  if (members.empty()) {
    return absl::UnavailableError("RAID failed: no optimal backend");
  }
  std::vector<absl::StatusOr<ZeoReply>> answers =
      OnEach(members, [&](const BackendMember& m) {
        return m.connection->Call(
            "pack", {Value::Float(pack_time), Value::Int(1)}, timeout);
      });
  std::optional<ZeoReply> answer;
  for (size_t i = 0; i < answers.size(); ++i) {
    if (answers[i].ok()) {
      if (!answer.has_value()) answer = *answers[i];
      continue;
    }
    backends_->Degrade(
        members[i].name,
        absl::StrCat("pack failed: ", answers[i].status().message()));
  }
  if (!answer.has_value()) {
    return absl::UnavailableError("RAID failed: no backend could pack");
  }
  // Every client learns the new storage statistics, as from ZEO after a pack.
  // The backend's own info callback may come after its pack reply, so ask
  // for the statistics afresh.
  for (size_t i = 0; i < answers.size(); ++i) {
    if (!answers[i].ok() || answers[i]->is_error) continue;
    Value info = members[i].connection->last_info();
    absl::StatusOr<ZeoReply> fresh =
        members[i].connection->Call("get_info", {}, options_.backend_timeout);
    if (fresh.ok() && !fresh->is_error && fresh->value.is_dict()) {
      const Value* length = fresh->value.Find("length");
      const Value* size = fresh->value.Find("size");
      if (length != nullptr && size != nullptr) {
        info = Value::Dict(
            {{Value::Str("length"), *length}, {Value::Str("size"), *size}});
      }
    }
    hub_->PublishInfo(info);
    if (published != nullptr) *published = info;
    break;
  }
  return *answer;
}

void CommitCoordinator::Abort(std::unique_ptr<PreparedCommit> prepared) {
  AbortPrepared(prepared.get());
}

void CommitCoordinator::AbortPrepared(PreparedCommit* prepared) {
  if (prepared->done_) return;
  prepared->done_ = true;
  AbortOn(prepared->voters_, prepared->txn_id_);
  ReleaseLock();
}

void CommitCoordinator::AbortOn(const std::vector<BackendMember>& members,
                                int64_t txn_id) {
  std::vector<absl::StatusOr<ZeoReply>> answers =
      CallEach(members, [&](const BackendMember& m) {
        return m.connection->Start("tpc_abort", {Value::Int(txn_id)},
                                   options_.backend_timeout);
      });
  for (size_t i = 0; i < answers.size(); ++i) {
    if (!answers[i].ok()) {
      backends_->Degrade(
          members[i].name,
          absl::StrCat("tpc_abort failed: ", answers[i].status().message()));
    }
  }
}

}  // namespace zeoraid::raidcore
