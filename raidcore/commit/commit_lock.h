// CommitLock: the RAID's one commit lock. A transaction holds it from vote to
// finish or abort; a recovery job holds it for its cutover, so that no commit
// can slip between the target's last copied transaction and its becoming
// optimal. It records the longest hold, which is what commits waited at worst.
#ifndef ZEORAID_RAIDCORE_COMMIT_COMMIT_LOCK_H_
#define ZEORAID_RAIDCORE_COMMIT_COMMIT_LOCK_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/mutex.h"

namespace zeoraid::raidcore {

class CommitLock {
 public:
  CommitLock() = default;
  CommitLock(const CommitLock&) = delete;
  CommitLock& operator=(const CommitLock&) = delete;

  // Waits up to `wait` for the lock. Unavailable (naming the holder) when it
  // stays taken.
  absl::Status Acquire(absl::Duration wait, absl::string_view holder);
  // Takes the lock if it is free and nobody waits for it; never waits.
  bool TryAcquire(absl::string_view holder);
  // REQUIRES: held (by the caller's Acquire or TryAcquire).
  void Release();

  // For server_status: how many wait for the lock, and since when it is held
  // (nullopt when free).
  int waiting() const;
  std::optional<absl::Time> held_since() const;

  // The longest a holder kept the lock since the last ResetLongestHold.
  absl::Duration longest_hold() const;
  void ResetLongestHold();

 private:
  mutable Mutex mu_;
  CondVar cv_;
  bool locked_ ABSL_GUARDED_BY(mu_) = false;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
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
