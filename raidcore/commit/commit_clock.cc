#include "raidcore/commit/commit_clock.h"

namespace zeoraid::raidcore {

CommitClock::Stamp CommitClock::Begin() const {
  MutexLock lock(&mu_);
  while (sequence_ % 2 == 1) cv_.Wait(&mu_);
  return Stamp{sequence_, last_tid_};
}

std::optional<CommitClock::Stamp> CommitClock::TryBegin() const {
  MutexLock lock(&mu_);
  if (sequence_ % 2 == 1) return std::nullopt;
  return Stamp{sequence_, last_tid_};
}

bool CommitClock::Unchanged(const Stamp& stamp) const {
  MutexLock lock(&mu_);
  return sequence_ == stamp.sequence;
}

void CommitClock::StartFinish() {
  MutexLock lock(&mu_);
  ++sequence_;
}

void CommitClock::EndFinish(const std::string& committed_tid) {
  {
    MutexLock lock(&mu_);
    if (!committed_tid.empty()) last_tid_ = committed_tid;
    ++sequence_;
  }
  cv_.SignalAll();
}

std::string CommitClock::last_tid() const {
  MutexLock lock(&mu_);
  return last_tid_;
}

}  // namespace zeoraid::raidcore
