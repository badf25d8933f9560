#include "raidcore/commit/commit_lock.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace zeoraid::raidcore {

AlarmThread& CommitLock::Deadlines() {
  static AlarmThread* const deadlines = new AlarmThread();
  return *deadlines;
}

CommitLock::~CommitLock() {
  std::vector<uint64_t> alarms;
  {
    MutexLock lock(&mu_);
    for (const Waiter& w : waiters_) {
      if (w.alarm != 0) alarms.push_back(w.alarm);
    }
    waiters_.clear();
  }
  for (uint64_t alarm : alarms) Deadlines().Cancel(alarm);
}

void CommitLock::TakeLocked(const std::string& holder) {
  locked_ = true;
  holder_ = holder;
  acquired_at_ = absl::Now();
}

std::optional<CommitLock::Waiter> CommitLock::TakeWaiterLocked(
    uint64_t ticket) {
  for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
    if (it->ticket == ticket) {
      Waiter w = std::move(*it);
      waiters_.erase(it);
      return w;
    }
  }
  return std::nullopt;
}

std::string CommitLock::Busy(absl::Duration wait) const {
  return absl::StrCat("commit lock still held by ", holder_, " after ",
                      absl::FormatDuration(wait));
}

absl::Status CommitLock::Acquire(absl::Duration wait,
                                 absl::string_view holder) {
  auto deadline = CondVar::DeadlineAfter(wait);
  MutexLock lock(&mu_);
  if (!locked_ && waiters_.empty()) {
    TakeLocked(std::string(holder));
    return absl::OkStatus();
  }
  const uint64_t ticket = next_ticket_++;
  waiters_.push_back(Waiter{ticket, std::string(holder), nullptr, 0});
  while (granted_ticket_ != ticket) {
    if (!cv_.WaitUntil(&mu_, deadline) && granted_ticket_ != ticket) {
      TakeWaiterLocked(ticket);
      return absl::UnavailableError(Busy(wait));
    }
  }
  return absl::OkStatus();  // Release made us the holder
}

void CommitLock::AcquireThen(absl::Duration wait, std::string holder,
                             std::function<void(absl::Status)> granted) {
  uint64_t ticket;
  {
    MutexLock lock(&mu_);
    if (!locked_ && waiters_.empty()) {
      TakeLocked(holder);
      ticket = 0;
    } else {
      ticket = next_ticket_++;
      waiters_.push_back(Waiter{ticket, std::move(holder), std::move(granted)});
    }
  }
  if (ticket == 0) {
    granted(absl::OkStatus());
    return;
  }
  // Armed after the waiter is queued: whoever removes it from the queue
  // (Release or this alarm) runs its `granted`.
  const uint64_t alarm = Deadlines().Schedule(wait, [this, ticket, wait] {
    std::optional<Waiter> late;
    std::string message;
    {
      MutexLock lock(&mu_);
      late = TakeWaiterLocked(ticket);
      message = Busy(wait);
    }
    if (late.has_value()) late->granted(absl::UnavailableError(message));
  });
  MutexLock lock(&mu_);
  for (Waiter& w : waiters_) {
    if (w.ticket == ticket) w.alarm = alarm;
  }
}

void CommitLock::Release() {
  std::function<void(absl::Status)> granted;
  uint64_t alarm = 0;
  {
    MutexLock lock(&mu_);
    longest_hold_ = std::max(longest_hold_, absl::Now() - acquired_at_);
    if (waiters_.empty()) {
      locked_ = false;
      holder_.clear();
      return;
    }
    // Handed over: the lock stays taken, by the longest waiter.
    Waiter next = std::move(waiters_.front());
    waiters_.pop_front();
    TakeLocked(next.holder);
    if (!next.granted) {
      granted_ticket_ = next.ticket;
      cv_.SignalAll();
      return;
    }
    granted = std::move(next.granted);
    alarm = next.alarm;
  }
  // A deadline that fires now finds the waiter gone. (0: not armed yet; its
  // alarm will find nothing either.)
  if (alarm != 0) Deadlines().Cancel(alarm);
  granted(absl::OkStatus());
}

int CommitLock::waiting() const {
  MutexLock lock(&mu_);
  return static_cast<int>(waiters_.size());
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
