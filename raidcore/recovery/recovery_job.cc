#include "raidcore/recovery/recovery_job.h"

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/logging.h"
#include "base/spool_file.h"
#include "raidcore/backend/blob_transfer.h"
#include "raidcore/recovery/history_reader.h"
#include "zeo/tid.h"

namespace zeoraid::raidcore {
namespace {

using zeo::TidFromUint64;
using zeo::TidHex;
using zeo::TidToUint64;
using zeo::Value;

}  // namespace

RecoveryJob::RecoveryJob(std::string target, BackendSet* backends,
                         CommitLock* lock, const CommitClock* clock,
                         BackendConnectionFactory* connections,
                         Throttle* throttle, RecoveryJobOptions options)
    : target_(std::move(target)),
      backends_(backends),
      lock_(lock),
      clock_(clock),
      connections_(connections),
      throttle_(throttle),
      options_(options) {
  MutexLock l(&mu_);
  progress_.backend = target_;
  progress_.phase = "starting";
  started_ = absl::Now();
}

void RecoveryJob::Cancel() {
  {
    MutexLock l(&mu_);
    cancelled_ = true;
  }
  cancel_cv_.SignalAll();
}

bool RecoveryJob::SleepUnlessCancelled(absl::Duration d) {
  auto deadline = CondVar::DeadlineAfter(d);
  MutexLock l(&mu_);
  while (!cancelled_) {
    if (!cancel_cv_.WaitUntil(&mu_, deadline)) break;
  }
  return !cancelled_;
}

RecoveryProgress RecoveryJob::progress() const {
  MutexLock l(&mu_);
  RecoveryProgress p = progress_;
  p.elapsed_seconds =
      absl::ToDoubleSeconds(ended_.value_or(absl::Now()) - started_);
  if (p.elapsed_seconds > 0) {
    p.transactions_per_second = p.transactions_copied / p.elapsed_seconds;
    p.bytes_per_second = p.bytes_copied / p.elapsed_seconds;
  }
  if (p.transactions_estimated > 0 && p.transactions_per_second > 0) {
    p.eta_seconds = p.transactions_estimated / p.transactions_per_second;
  }
  return p;
}

void RecoveryJob::Finish(const std::string& phase, const std::string& message) {
  SetPhase(phase, message);
  MutexLock l(&mu_);
  ended_ = absl::Now();
}

void RecoveryJob::SetPhase(const std::string& phase,
                           const std::string& message) {
  MutexLock l(&mu_);
  progress_.phase = phase;
  if (!message.empty()) progress_.message = message;
}

void RecoveryJob::Counted(uint64_t bytes, const std::string& tid,
                          const std::string& head) {
  MutexLock l(&mu_);
  ++progress_.transactions_copied;
  progress_.bytes_copied += bytes;
  if (progress_.first_tid.empty()) progress_.first_tid = TidHex(tid);
  // Tids are timestamps: the share of the tid range covered so far estimates
  // the share of transactions copied.
  const uint64_t at = TidToUint64(tid);
  const uint64_t end = TidToUint64(head);
  if (end > at && at > base_tid_) {
    const double done = static_cast<double>(at - base_tid_) /
                        static_cast<double>(end - base_tid_);
    const double total = progress_.transactions_copied / done;
    progress_.transactions_estimated =
        static_cast<uint64_t>(total > progress_.transactions_copied
                                  ? total - progress_.transactions_copied
                                  : 0);
  } else {
    progress_.transactions_estimated = 0;
  }
}

namespace {

// Whether a record may have a blob file: its data names ZODB.blob (a
// blob's class is ZODB.blob.Blob), or it is a backpointer (undo), whose data
// is not seen here. The source decides (sendBlob).
bool MayHaveBlob(const Value& data, const Value& prev_txn) {
  if (data.is_none()) return !prev_txn.is_none();
  return data.is_bytes() && absl::StrContains(data.string_value(), "ZODB.blob");
}

// Records (oid, tid, data, data_txn) as iterators return them. A record
// with a blob file that recovery copied is a stored record on the target even
// where the source has a backpointer (undo), so its data_txn may differ.
bool SameRecords(const std::vector<Value>& a, const std::vector<Value>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const Value::Items& x = a[i].items();
    const Value::Items& y = b[i].items();
    if (x.size() != 4 || y.size() != 4) {
      if (!(a[i] == b[i])) return false;
      continue;
    }
    if (!(x[0] == y[0] && x[1] == y[1] && x[2] == y[2])) return false;
    if (!(x[3] == y[3]) && !MayHaveBlob(x[2], Value::None())) return false;
  }
  return true;
}

}  // namespace

absl::Status RecoveryJob::CheckCommonTransaction(BackendConnection& source,
                                                 BackendConnection& target,
                                                 const std::string& tid) {
  std::optional<CopiedTransaction> mine[2];
  BackendConnection* sides[2] = {&source, &target};
  const char* who[2] = {"source", "target"};
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<Value> iid =
        Ask(*sides[i], who[i], "iterator_start",
            {Value::Bytes(tid), Value::Bytes(tid)}, options_.call_timeout);
    if (!iid.ok()) return iid.status();
    absl::StatusOr<std::optional<CopiedTransaction>> txn =
        ReadNext(*sides[i], who[i], *iid, options_.call_timeout);
    if (!txn.ok()) return txn.status();
    Forget(*sides[i], *iid);
    mine[i] = *std::move(txn);
  }
  diverged_ = true;
  if (!mine[0].has_value() || mine[0]->tid() != tid) {
    return absl::DataLossError(absl::StrCat(
        "diverged: the target's last transaction ", TidHex(tid),
        " is not in the source's history; a full rebuild into an empty "
        "storage is needed"));
  }
  if (!mine[1].has_value() || mine[1]->tid() != tid) {
    return absl::DataLossError(absl::StrCat(
        "the target's iterator does not show its last transaction ",
        TidHex(tid)));
  }
  if (!(mine[0]->header == mine[1]->header)) {
    return absl::DataLossError(
        absl::StrCat("diverged at tid ", TidHex(tid), ": the source has ",
                     mine[0]->header.DebugString(), ", the target ",
                     mine[1]->header.DebugString()));
  }
  if (!SameRecords(mine[0]->records, mine[1]->records)) {
    return absl::DataLossError(absl::StrCat(
        "diverged at tid ", TidHex(tid), ": same metadata, different records (",
        mine[0]->records.size(), " on the source, ", mine[1]->records.size(),
        " on the target)"));
  }
  diverged_ = false;
  return absl::OkStatus();
}

absl::Status RecoveryJob::CopyRecord(BackendConnection& source,
                                     BackendConnection& target,
                                     const Value& record, int64_t txn_id,
                                     uint64_t* bytes) {
  const Value::Items& f = record.items();
  const Value& oid = f[0];
  const Value& tid = f[1];
  if (MayHaveBlob(f[2], f[3])) {
    absl::StatusOr<std::unique_ptr<SpoolFile>> spool =
        SpoolFile::Create(options_.spool_dir);
    if (!spool.ok()) return spool.status();
    absl::StatusOr<ZeoReply> blob =
        source.SendBlob(oid.string_value(), tid.string_value(), spool->get(),
                        options_.call_timeout);
    if (!blob.ok() && !absl::IsUnimplemented(blob.status())) {
      return absl::Status(
          blob.status().code(),
          absl::StrCat("source sendBlob: ", blob.status().message()));
    }
    if (blob.ok() && !blob->is_error) {
      // The record has a blob file. ZEO cannot restore one: it is stored as
      // a client stores it, with the record's data (a backpointer's data
      // read from the source) at the serial the target has now.
      Value data = f[2];
      if (data.is_none()) {
        absl::StatusOr<Value> loaded = Ask(source, "source", "loadSerial",
                                           {oid, tid}, options_.call_timeout);
        if (!loaded.ok()) return loaded.status();
        data = *std::move(loaded);
      }
      absl::StatusOr<ZeoReply> current =
          target.Call("getTid", {oid}, options_.call_timeout);
      if (!current.ok()) {
        return absl::Status(
            current.status().code(),
            absl::StrCat("target getTid: ", current.status().message()));
      }
      // POSKeyError: a new object on the target.
      const Value serial = current->is_error || !zeo::IsTid(current->value)
                               ? Value::Bytes(std::string(zeo::kZeroTid))
                               : current->value;
      *bytes += (*spool)->size();
      return SendBlobStore(target, oid, serial, data, spool->get(), txn_id);
    }
    // No blob file for it on the source (POSKeyError): copied as it is.
  }
  // restorea(oid, serial, data, prev_txn, id)
  // Queued: the transaction's calls leave together with its vote.
  return target.Queue("restorea", {f[0], f[1], f[2], f[3], Value::Int(txn_id)});
}

absl::StatusOr<uint64_t> RecoveryJob::CopyPass(BackendConnection& source,
                                               BackendConnection& target,
                                               std::string* pos,
                                               const std::string& head,
                                               bool throttled) {
  const Value start = *pos == zeo::kZeroTid
                          ? Value::None()
                          : Value::Bytes(TidFromUint64(TidToUint64(*pos) + 1));
  absl::StatusOr<Value> iid =
      Ask(source, "source", "iterator_start", {start, Value::None()},
          options_.call_timeout);
  if (!iid.ok()) return iid.status();
  uint64_t copied = 0;
  while (true) {
    if (!head.empty() && TidToUint64(*pos) >= TidToUint64(head)) {
      Forget(source, *iid);
      break;
    }
    absl::StatusOr<std::optional<CopiedTransaction>> txn =
        ReadNext(source, "source", *iid, options_.call_timeout);
    if (!txn.ok()) return txn.status();
    if (!txn->has_value()) break;  // the server freed the iterator
    CopiedTransaction& t = **txn;
    if (TidToUint64(t.tid()) <= TidToUint64(*pos)) {
      Forget(source, *iid);
      return absl::DataLossError(absl::StrCat("source iterator went back from ",
                                              TidHex(*pos), " to ",
                                              TidHex(t.tid())));
    }
    if (throttled) {
      absl::Duration wait = throttle_->Take(t.bytes, absl::Now());
      if (wait > absl::ZeroDuration() && !SleepUnlessCancelled(wait)) {
        Forget(source, *iid);
        return absl::CancelledError("cancelled");
      }
    }
    {
      MutexLock l(&mu_);
      if (cancelled_) {
        Forget(source, *iid);
        return absl::CancelledError("cancelled");
      }
    }
    const Value::Items& h = t.header.items();
    const int64_t txn_id = next_txn_id_++;
    // tpc_begin(id, user, description, extension, tid, status)
    absl::Status st = target.Queue(
        "tpc_begin", {Value::Int(txn_id), h[2], h[3], h[4], h[0], h[1]});
    uint64_t blob_bytes = 0;
    for (const Value& r : t.records) {
      if (!st.ok()) break;
      st = CopyRecord(source, target, r, txn_id, &blob_bytes);
    }
    if (!st.ok()) return st;
    t.bytes += blob_bytes;
    absl::StatusOr<Value> vote = Ask(
        target, "target", "vote", {Value::Int(txn_id)}, options_.call_timeout);
    if (!vote.ok()) return vote.status();
    absl::StatusOr<Value> finished =
        Ask(target, "target", "tpc_finish", {Value::Int(txn_id)},
            options_.finish_timeout);
    if (!finished.ok()) return finished.status();
    if (!(*finished == h[0])) {
      return absl::DataLossError(absl::StrCat("target committed ",
                                              finished->DebugString(),
                                              " instead of ", TidHex(t.tid())));
    }
    *pos = t.tid();
    ++copied;
    Counted(t.bytes, *pos, head.empty() ? clock_->last_tid() : head);
  }
  return copied;
}

absl::Status RecoveryJob::Run() {
  std::string source_name;
  for (const BackendMember& m : backends_->Optimal()) {
    if (m.name != target_) {
      source_name = m.name;
      break;
    }
  }
  if (source_name.empty()) {
    return absl::UnavailableError("no optimal backend to copy from");
  }
  absl::StatusOr<std::shared_ptr<BackendConnection>> source =
      connections_->Connect(source_name);
  if (!source.ok()) {
    return absl::UnavailableError(
        absl::StrCat("source ", source_name, ": ", source.status().message()));
  }
  absl::StatusOr<std::shared_ptr<BackendConnection>> target =
      connections_->Connect(target_);
  if (!target.ok()) {
    (*source)->Close();
    return absl::UnavailableError(
        absl::StrCat("target: ", target.status().message()));
  }
  // The source connection is ours alone; the target's becomes the RAID's on
  // success.
  struct Closer {
    std::shared_ptr<BackendConnection> c;
    ~Closer() {
      if (c) c->Close();
    }
  } close_source{*source}, close_target{*target};
  if ((*source)->supports_blobs() && !(*target)->supports_blobs()) {
    // Its records would arrive without their blob files.
    return absl::FailedPreconditionError(absl::StrCat(
        "backend ", target_, " keeps no blobs (no blob-dir) while ",
        source_name, " does: configure a blob-dir on it"));
  }

  absl::StatusOr<std::string> last = VerifiedLastTransaction(
      **target, (*target)->registered_tid(), options_.call_timeout);
  if (!last.ok()) return last.status();
  if (*last != (*target)->registered_tid()) {
    ZR_LOG(WARNING) << "backend " << target_ << " reports last tid "
                    << TidHex((*target)->registered_tid())
                    << " but its history ends at " << TidHex(*last)
                    << " (a transaction cut short by a crash); copying from "
                    << "there";
  }
  std::string pos = *last;
  const bool full = pos == zeo::kZeroTid;
  {
    MutexLock l(&mu_);
    progress_.source = source_name;
    progress_.mode = full ? "full" : "incremental";
    progress_.phase = "copying";
    base_tid_ = TidToUint64(pos);
  }
  ZR_LOG(INFO) << "recovery of " << target_ << " from " << source_name << ": "
               << (full ? "full copy into an empty storage"
                        : absl::StrCat("incremental after its last tid ",
                                       TidHex(pos)));
  if (!full) {
    absl::Status same = CheckCommonTransaction(**source, **target, pos);
    if (!same.ok()) return same;
  }

  uint64_t previous = UINT64_MAX;
  int growing = 0;
  while (true) {
    const std::string head = clock_->last_tid();
    absl::StatusOr<uint64_t> copied =
        CopyPass(**source, **target, &pos, head, /*throttled=*/true);
    if (!copied.ok()) return copied.status();
    if (*copied <= options_.cutover_threshold) break;
    // Passes that do not shrink: commits arrive as fast as the copy goes.
    growing = *copied >= previous ? growing + 1 : 0;
    previous = *copied;
    if (growing == 3) {
      const std::string warning = absl::StrCat(
          "commits arrive faster than the copy rate (the last pass copied ",
          *copied,
          " transactions): raise the rate (zeoraid-admin rate) or "
          "the job cannot catch up");
      ZR_LOG(WARNING) << "recovery of " << target_ << ": " << warning;
      SetPhase("copying", warning);
    }
  }

  // Cutover: the remainder under the commit lock, then optimal in the same
  // critical section.
  SetPhase("catching up");
  absl::Status locked =
      lock_->Acquire(options_.lock_wait, absl::StrCat("recovery of ", target_));
  if (!locked.ok()) return locked;
  const absl::Time held_since = absl::Now();
  absl::Status result = [&]() -> absl::Status {
    CommitLockHold hold(lock_);
    absl::StatusOr<uint64_t> rest =
        CopyPass(**source, **target, &pos, "", /*throttled=*/false);
    if (!rest.ok()) return rest.status();
    const std::string last = clock_->last_tid();
    std::optional<BackendStatus> src = backends_->StatusOf(source_name);
    if (src.has_value() && src->state != BackendState::kOptimal) {
      return absl::UnavailableError(absl::StrCat(
          "source ", source_name, " left optimal during the copy"));
    }
    if (pos != last) {
      return absl::DataLossError(
          absl::StrCat("after the copy the target is at ", TidHex(pos),
                       " but the RAID at ", TidHex(last)));
    }
    absl::Status done = backends_->CompleteRecovery(target_, *target, pos);
    if (done.ok()) close_target.c = nullptr;  // the RAID's now
    return done;
  }();
  {
    MutexLock l(&mu_);
    progress_.longest_lock_hold_seconds =
        absl::ToDoubleSeconds(absl::Now() - held_since);
  }
  return result;
}

}  // namespace zeoraid::raidcore
