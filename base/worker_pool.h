// WorkerPool: a fixed set of threads running submitted jobs in FIFO order.
// The translator answers a client's pipelined calls on it (a ZEO client sends
// calls without waiting for replies), so one connection's calls overlap
// without a thread per call.
#ifndef ZEORAID_BASE_WORKER_POOL_H_
#define ZEORAID_BASE_WORKER_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "base/mutex.h"

namespace zeoraid {

class WorkerPool {
 public:
  explicit WorkerPool(int threads) {
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] { Work(); });
    }
  }
  // Runs every job already submitted, then joins the threads.
  ~WorkerPool() {
    {
      MutexLock lock(&mu_);
      stopping_ = true;
    }
    cv_.SignalAll();
    for (std::thread& t : threads_) t.join();
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Jobs must not throw. Submitting after destruction began is a bug.
  void Submit(std::function<void()> job) {
    {
      MutexLock lock(&mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.Signal();
  }

 private:
  void Work() {
    while (true) {
      std::function<void()> job;
      {
        MutexLock lock(&mu_);
        while (jobs_.empty() && !stopping_) cv_.Wait(&mu_);
        if (jobs_.empty()) return;  // stopping, and nothing left
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::vector<std::thread> threads_;
  Mutex mu_;  // guards the queue; never held while a job runs
  CondVar cv_;
  std::deque<std::function<void()>> jobs_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace zeoraid

#endif  // ZEORAID_BASE_WORKER_POOL_H_
