// AlarmThread: runs callbacks at deadlines on one thread, so that arming a
// timeout (e.g. raidcore's commit-lock watchdog, once per transaction) costs
// no thread of its own.
#ifndef ZEORAID_BASE_ALARM_THREAD_H_
#define ZEORAID_BASE_ALARM_THREAD_H_

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <thread>
#include <utility>

#include "absl/time/time.h"
#include "base/mutex.h"

namespace zeoraid {

class AlarmThread {
 public:
  AlarmThread() : thread_([this] { Run(); }) {}
  // Pending alarms are dropped, not run.
  ~AlarmThread() {
    {
      MutexLock lock(&mu_);
      stopping_ = true;
    }
    cv_.SignalAll();
    thread_.join();
  }
  AlarmThread(const AlarmThread&) = delete;
  AlarmThread& operator=(const AlarmThread&) = delete;

  // Runs `fn` on the alarm thread `after` from now, unless cancelled first.
  uint64_t Schedule(absl::Duration after, std::function<void()> fn) {
    const auto deadline = CondVar::DeadlineAfter(after);
    uint64_t id;
    bool earlier;
    {
      MutexLock lock(&mu_);
      id = next_id_++;
      alarms_.emplace(id, Alarm{deadline, std::move(fn)});
      earlier = deadline < wakeup_;
    }
    // The thread wakes by itself in time for a later deadline: no wake-up
    // (a context switch) per alarm armed.
    if (earlier) cv_.SignalAll();
    return id;
  }
  // Cancels alarm `id`. If it is running, waits until it has returned, so
  // that whatever it uses may be destroyed afterwards. True when it never
  // ran. A cancelled alarm's wake-up still comes, and finds nothing to do.
  bool Cancel(uint64_t id) {
    MutexLock lock(&mu_);
    if (alarms_.erase(id) == 1) return true;
    while (running_ == id) done_cv_.Wait(&mu_);
    return false;
  }

 private:
  struct Alarm {
    std::chrono::steady_clock::time_point deadline;
    std::function<void()> fn;
  };

  void Run() {
    MutexLock lock(&mu_);
    while (!stopping_) {
      auto next = alarms_.end();
      for (auto it = alarms_.begin(); it != alarms_.end(); ++it) {
        if (next == alarms_.end() ||
            it->second.deadline < next->second.deadline)
          next = it;
      }
      const auto now = std::chrono::steady_clock::now();
      if (next == alarms_.end() || now < next->second.deadline) {
        // Idle, it still looks every second, so that arming an alarm due
        // later than that needs no signal.
        wakeup_ = now + std::chrono::seconds(1);
        if (next != alarms_.end()) {
          wakeup_ = std::min(wakeup_, next->second.deadline);
        }
        cv_.WaitUntil(&mu_, wakeup_);
        wakeup_ = std::chrono::steady_clock::time_point::min();
        continue;  // an alarm may have been added or cancelled
      }
      uint64_t id = next->first;
      std::function<void()> fn = std::move(next->second.fn);
      alarms_.erase(next);
      running_ = id;
      mu_.Unlock();
      fn();
      mu_.Lock();
      running_ = 0;
      done_cv_.SignalAll();
    }
  }

  Mutex mu_;
  CondVar cv_;       // an alarm was added, or stopping
  CondVar done_cv_;  // a running alarm returned
  // Few alarms are armed at once (one per transaction holding the lock).
  std::map<uint64_t, Alarm> alarms_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t running_ ABSL_GUARDED_BY(mu_) = 0;  // 0: none
  // When the waiting thread wakes next by itself; min() while it is not
  // waiting (it looks at every alarm before it waits again).
  std::chrono::steady_clock::time_point wakeup_ ABSL_GUARDED_BY(mu_) =
      std::chrono::steady_clock::time_point::min();
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace zeoraid

#endif  // ZEORAID_BASE_ALARM_THREAD_H_
