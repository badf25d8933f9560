// Notification: a one-shot event on our Mutex (absl::Notification sits on
// absl::Mutex, which Debian's uninstrumented Abseil hides from TSan).
#ifndef ZEORAID_BASE_NOTIFICATION_H_
#define ZEORAID_BASE_NOTIFICATION_H_

#include "absl/time/time.h"
#include "base/mutex.h"

namespace zeoraid {

class Notification {
 public:
  // Signals under the lock: a waiter may destroy the notification as soon
  // as it sees it notified.
  void Notify() {
    MutexLock lock(&mu_);
    notified_ = true;
    cv_.SignalAll();
  }
  bool HasBeenNotified() const {
    MutexLock lock(&mu_);
    return notified_;
  }
  // True once notified; false if `timeout` passed first.
  bool WaitFor(absl::Duration timeout) {
    const auto deadline = CondVar::DeadlineAfter(timeout);
    MutexLock lock(&mu_);
    while (!notified_) {
      if (!cv_.WaitUntil(&mu_, deadline)) return notified_;
    }
    return true;
  }

 private:
  mutable Mutex mu_;
  CondVar cv_;
  bool notified_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace zeoraid

#endif  // ZEORAID_BASE_NOTIFICATION_H_
