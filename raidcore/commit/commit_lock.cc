#include "raidcore/commit/commit_lock.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace zeoraid::raidcore {

absl::Status CommitLock::Acquire(absl::Duration wait,
                                 absl::string_view holder) {
  auto deadline = CondVar::DeadlineAfter(wait);
  MutexLock lock(&mu_);
  while (locked_) {
    ++waiting_;
    const bool signalled = cv_.WaitUntil(&mu_, deadline);
    --waiting_;
    if (!signalled && locked_) {
      return absl::UnavailableError(absl::StrCat("commit lock still held by ",
                                                 holder_, " after ",
                                                 absl::FormatDuration(wait)));
    }
  }
  locked_ = true;
  holder_ = std::string(holder);
  acquired_at_ = absl::Now();
  return absl::OkStatus();
}

bool CommitLock::TryAcquire(absl::string_view holder) {
  MutexLock lock(&mu_);
  // Never ahead of a waiter (Release woke it, it has yet to take the lock).
  if (locked_ || waiting_ > 0) return false;
  locked_ = true;
  holder_ = std::string(holder);
  acquired_at_ = absl::Now();
  return true;
}

void CommitLock::Release() {
  {
    MutexLock lock(&mu_);
    longest_hold_ = std::max(longest_hold_, absl::Now() - acquired_at_);
    locked_ = false;
    holder_.clear();
  }
  cv_.Signal();
}

int CommitLock::waiting() const {
  MutexLock lock(&mu_);
  return waiting_;
}

std::optional<absl::Time> CommitLock::held_since() const {
  MutexLock lock(&mu_);
  if (!locked_) return std::nullopt;
  return acquired_at_;
}

absl::Duration CommitLock::longest_hold() const {
  MutexLock lock(&mu_);
  return longest_hold_;
}

void CommitLock::ResetLongestHold() {
  MutexLock lock(&mu_);
  longest_hold_ = absl::ZeroDuration();
}

}  // namespace zeoraid::raidcore
