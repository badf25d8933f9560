// CommitLock: the RAID's one commit lock. A transaction holds it from vote to
// finish or abort; a recovery job holds it for its cutover, so that no commit
// can slip between the target's last copied transaction and its becoming
// optimal. It records the longest hold, which is what commits waited at worst.
#ifndef ZEORAID_RAIDCORE_COMMIT_COMMIT_LOCK_H_
#define ZEORAID_RAIDCORE_COMMIT_COMMIT_LOCK_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/alarm_thread.h"
#include "base/mutex.h"

namespace zeoraid::raidcore {

class CommitLock {
 public:
  CommitLock() = default;
  // Cancels the deadlines of AcquireThen waiters still queued (their
  // `granted` never runs).
  ~CommitLock();
  CommitLock(const CommitLock&) = delete;
  CommitLock& operator=(const CommitLock&) = delete;

  // Waits up to `wait` for the lock. Unavailable (naming the holder) when it
  // stays taken. Waiters are served in arrival order, whichever way they
  // wait.
  absl::Status Acquire(absl::Duration wait, absl::string_view holder);
  // Acquire without a waiting thread: `granted` runs with OK once the lock is
  // the caller's — at once on this thread when it is free, else on the
  // thread whose Release hands it over — or with Unavailable on an alarm
  // thread after `wait`. It must not block for long: the releaser runs it.
  void AcquireThen(absl::Duration wait, std::string holder,
                   std::function<void(absl::Status)> granted);
  // REQUIRES: held (by the caller's Acquire or AcquireThen).
  // Hands the lock to the longest waiter, if any.
  void Release();

  // For server_status: how many wait for the lock, and since when it is held
  // (nullopt when free).
  int waiting() const;
  std::optional<absl::Time> held_since() const;

  // The longest a holder kept the lock since the last ResetLongestHold.
  absl::Duration longest_hold() const;
  void ResetLongestHold();

 private:
  // A waiter: a thread in Acquire (no `granted`), or an AcquireThen.
  struct Waiter {
    uint64_t ticket;
    std::string holder;
    std::function<void(absl::Status)> granted;  // empty: a waiting thread
    uint64_t alarm = 0;                         // AcquireThen's deadline
  };
  // The alarm thread of AcquireThen's deadlines; one for the process.
  static AlarmThread& Deadlines();
  // Removes the waiter with `ticket` from the queue, if it is still there.
  std::optional<Waiter> TakeWaiterLocked(uint64_t ticket)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes `holder` the holder. REQUIRES: mu_ held.
  void TakeLocked(const std::string& holder) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string Busy(absl::Duration wait) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  CondVar cv_;  // a waiting thread's ticket was granted
  bool locked_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Waiter> waiters_ ABSL_GUARDED_BY(mu_);  // in arrival order
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 1;
  // The last waiting thread's ticket Release handed the lock to.
  uint64_t granted_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  std::string holder_ ABSL_GUARDED_BY(mu_);
  absl::Time acquired_at_ ABSL_GUARDED_BY(mu_);
  absl::Duration longest_hold_ ABSL_GUARDED_BY(mu_);
};

// Holds a CommitLock for a scope (after a successful Acquire).
class CommitLockHold {
 public:
  explicit CommitLockHold(CommitLock* lock) : lock_(lock) {}
  ~CommitLockHold() { lock_->Release(); }
  CommitLockHold(const CommitLockHold&) = delete;
  CommitLockHold& operator=(const CommitLockHold&) = delete;

 private:
  CommitLock* const lock_;
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_COMMIT_COMMIT_LOCK_H_
