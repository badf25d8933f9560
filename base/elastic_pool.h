// ElasticPool: runs each submitted job at once, on an idle thread or on a new
// one, never behind another job. For jobs that may block on each other: a
// vote waiting for the commit lock must not hold up the finish that releases
// it, which a fixed pool could (every thread waiting, the releaser queued).
// Threads left idle for `keep_idle` end, so a burst costs threads only while
// it lasts.
#ifndef ZEORAID_BASE_ELASTIC_POOL_H_
#define ZEORAID_BASE_ELASTIC_POOL_H_

#include <deque>
#include <functional>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "base/mutex.h"

namespace zeoraid {

class ElasticPool {
 public:
  explicit ElasticPool(absl::Duration keep_idle = absl::Seconds(10))
      : keep_idle_(keep_idle) {}
  // Runs every job already submitted, then joins the threads.
  ~ElasticPool() {
    std::map<int, std::thread> threads;
    {
      MutexLock lock(&mu_);
      stopping_ = true;
      threads.swap(threads_);
    }
    cv_.SignalAll();
    for (auto& [id, t] : threads) t.join();
    JoinEnded();
  }
  ElasticPool(const ElasticPool&) = delete;
  ElasticPool& operator=(const ElasticPool&) = delete;

  // Jobs must not throw. Submitting after destruction began is a bug.
  void Submit(std::function<void()> job) {
    JoinEnded();
    bool start = false;
    {
      MutexLock lock(&mu_);
      jobs_.push_back(std::move(job));
      // Each idle thread takes one job; more jobs than idle threads start
      // threads.
      if (static_cast<int>(jobs_.size()) > idle_) {
        start = true;
        const int id = next_id_++;
        threads_.emplace(id, std::thread([this, id] { Work(id); }));
      }
    }
    if (!start) cv_.Signal();
  }

  // Threads now (running a job or idle).
  int threads() const {
    MutexLock lock(&mu_);
    return static_cast<int>(threads_.size());
  }

 private:
  void Work(int id) {
    while (true) {
      std::function<void()> job;
      {
        MutexLock lock(&mu_);
        const auto deadline = CondVar::DeadlineAfter(keep_idle_);
        ++idle_;
        bool timed_out = false;
        while (jobs_.empty() && !stopping_ && !timed_out) {
          timed_out = !cv_.WaitUntil(&mu_, deadline);
        }
        --idle_;
        if (jobs_.empty()) {
          // Idle too long, or stopping with nothing left: this thread ends;
          // the next Submit (or the destructor) joins it.
          auto it = threads_.find(id);
          if (it != threads_.end()) {
            ended_.push_back(std::move(it->second));
            threads_.erase(it);
          }
          return;
        }
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  void JoinEnded() {
    std::vector<std::thread> ended;
    {
      MutexLock lock(&mu_);
      ended.swap(ended_);
    }
    for (std::thread& t : ended) t.join();
  }

  const absl::Duration keep_idle_;
  mutable Mutex mu_;  // guards everything below; never held while a job runs
  CondVar cv_;        // a job was queued, or stopping
  std::deque<std::function<void()>> jobs_ ABSL_GUARDED_BY(mu_);
  int idle_ ABSL_GUARDED_BY(mu_) = 0;  // threads waiting for a job
  int next_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int, std::thread> threads_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> ended_ ABSL_GUARDED_BY(mu_);  // to be joined
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace zeoraid

#endif  // ZEORAID_BASE_ELASTIC_POOL_H_
