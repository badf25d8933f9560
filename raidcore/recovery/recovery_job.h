// RecoveryJob: rebuilds one degraded backend from an optimal one while the
// RAID keeps committing (DESIGN.md, RAID rule 4).
//
// It copies every transaction the target lacks with ZEO's iterator
// (iterator_start/next, iterator_record_start/next) on a connection of its
// own to the source, and writes each with tpc_begin(tid, status) + restorea +
// vote + tpc_finish on a connection of its own to the target, so tids,
// metadata and every historic record (undo records, backpointers, deletions)
// arrive as they are on the source. A record with a blob file on the source
// (sendBlob) is stored with that file instead (storeBlob*: ZEO has no
// restoreBlob), at the serial the target has for it. Incremental from the
// target's last transaction when that transaction is on the source with the
// same metadata and records; a full copy into an empty target; a target whose
// last transaction is not the source's has diverged and is refused.
//
// Cutover (as gocept.zeoraid: "caught up = iterator exhausted while holding
// the commit lock"): passes copy, throttled, up to the RAID's head; once a
// pass copied at most `cutover_threshold` transactions, the job takes the
// commit lock, copies the remainder unthrottled, checks the target is at the
// RAID's last tid, and makes it optimal on its connection in the same
// critical section, so no commit is missed and the lock is held only for the
// last few transactions.
#ifndef ZEORAID_RAIDCORE_RECOVERY_RECOVERY_JOB_H_
#define ZEORAID_RAIDCORE_RECOVERY_RECOVERY_JOB_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "raidcore/backend/backend_set.h"
#include "raidcore/commit/commit_clock.h"
#include "raidcore/commit/commit_lock.h"
#include "raidcore/recovery/throttle.h"

namespace zeoraid::raidcore {

struct RecoveryProgress {
  std::string backend;
  std::string source;
  std::string mode;   // "incremental" or "full"
  std::string phase;  // "starting", "copying", "catching up", "done",
                      // "failed", "cancelled"
  uint64_t transactions_copied = 0;
  uint64_t bytes_copied = 0;
  uint64_t transactions_estimated = 0;  // still to copy; 0 = unknown
  double transactions_per_second = 0;
  double bytes_per_second = 0;
  double eta_seconds = 0;
  double elapsed_seconds = 0;
  double longest_lock_hold_seconds = 0;
  std::string message;
  std::string first_tid;  // hex
};

struct RecoveryJobOptions {
  absl::Duration call_timeout = absl::Seconds(30);    // each backend call
  absl::Duration finish_timeout = absl::Seconds(60);  // each tpc_finish
  absl::Duration lock_wait = absl::Seconds(60);       // for the cutover
  // The cutover happens after a pass that copied at most this many.
  uint64_t cutover_threshold = 16;
  // Where blobs are spooled on their way from source to target ("" =
  // $TMPDIR, else /tmp).
  std::string spool_dir;
};

class RecoveryJob {
 public:
  RecoveryJob(std::string target, BackendSet* backends, CommitLock* lock,
              const CommitClock* clock, BackendConnectionFactory* connections,
              Throttle* throttle, RecoveryJobOptions options);

  // Runs to the end. OK: the target is optimal. Otherwise the target stays
  // recovering (the caller abandons it): Cancelled after Cancel(),
  // DataLoss when the target diverged (diverged() is then true), any other
  // error for a failure of either backend.
  // REQUIRES: the target is in state recovering.
  absl::Status Run();
  // Makes Run stop soon (between two transactions, or in a throttle wait).
  void Cancel();

  RecoveryProgress progress() const;
  // Records how the job ended ("done", "failed", "cancelled"), for Status.
  // Rates and elapsed time stop counting then.
  void Finish(const std::string& phase, const std::string& message);
  bool diverged() const { return diverged_.load(); }

 private:
  // Copies the source's transactions after `*pos`, updating `*pos`: up to
  // `head` (a tid) when not empty, else to the end of the source. Returns how
  // many it copied.
  // Sends record `record` (oid, tid, data, prev_txn) of transaction `txn_id`
  // to the target; adds the bytes of its blob file, if any, to *bytes.
  absl::Status CopyRecord(BackendConnection& source, BackendConnection& target,
                          const zeo::Value& record, int64_t txn_id,
                          uint64_t* bytes);
  absl::StatusOr<uint64_t> CopyPass(BackendConnection& source,
                                    BackendConnection& target, std::string* pos,
                                    const std::string& head, bool throttled);
  // OK when `tid` is on both with the same metadata and records; DataLoss
  // (naming what differs) otherwise.
  absl::Status CheckCommonTransaction(BackendConnection& source,
                                      BackendConnection& target,
                                      const std::string& tid);
  // Waits `d` unless cancelled first; false when cancelled.
  bool SleepUnlessCancelled(absl::Duration d);
  void SetPhase(const std::string& phase, const std::string& message = "");
  void Counted(uint64_t bytes, const std::string& tid, const std::string& head);

  const std::string target_;
  BackendSet* const backends_;
  CommitLock* const lock_;
  const CommitClock* const clock_;
  BackendConnectionFactory* const connections_;
  Throttle* const throttle_;
  const RecoveryJobOptions options_;
  int64_t next_txn_id_ = 1;  // the target connection's transaction ids

  std::atomic<bool> diverged_{false};
  mutable Mutex mu_;
  CondVar cancel_cv_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  RecoveryProgress progress_ ABSL_GUARDED_BY(mu_);
  absl::Time started_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Time> ended_ ABSL_GUARDED_BY(mu_);
  // The target's last tid when the job started: the base of the estimate.
  uint64_t base_tid_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_RECOVERY_RECOVERY_JOB_H_
