// StreamRegistry: what every stream server on raidcore's completion queue
// keeps besides its streams' own state: the streams alive (deleted when they
// finish, or with the registry once the queue is drained), whether it is
// stopping (no gRPC operation may start then: one started on a shut-down
// queue is a crash in gRPC), and the work running off the queue (loads,
// votes) that stopping waits for.
#ifndef ZEORAID_RAIDCORE_SERVICE_STREAM_REGISTRY_H_
#define ZEORAID_RAIDCORE_SERVICE_STREAM_REGISTRY_H_

#include <functional>
#include <set>

#include "base/mutex.h"

namespace zeoraid::raidcore {

template <typename Stream>
class StreamRegistry {
 public:
  StreamRegistry() = default;
  // Deletes the streams left: after the queue was drained.
  ~StreamRegistry() {
    MutexLock lock(&mu_);
    for (Stream* s : streams_) delete s;
    streams_.clear();
  }
  StreamRegistry(const StreamRegistry&) = delete;
  StreamRegistry& operator=(const StreamRegistry&) = delete;

  // Keeps `s` and runs `request` (which asks gRPC for the stream) unless
  // stopping; deletes `s` when stopping.
  void Accept(Stream* s, const std::function<void()>& request) {
    MutexLock lock(&mu_);
    if (stopping_) {
      delete s;
      return;
    }
    streams_.insert(s);
    request();
  }
  // Deletes a stream that finished (or never started).
  void Remove(Stream* s) {
    MutexLock lock(&mu_);
    streams_.erase(s);
    delete s;
  }
  // Runs `start` (which starts gRPC operations) unless stopping; false if
  // stopping.
  bool StartOp(const std::function<void()>& start) {
    MutexLock lock(&mu_);
    if (stopping_) return false;
    start();
    return true;
  }
  // Around work that runs off the queue and then uses a stream; false (and
  // nothing to end) when stopping.
  bool BeginWork() {
    MutexLock lock(&mu_);
    if (stopping_) return false;
    ++working_;
    return true;
  }
  void EndWork() {
    MutexLock lock(&mu_);
    if (--working_ == 0) idle_cv_.SignalAll();
  }
  // After the grpc::Server's Shutdown and before the queue stops: no
  // operation starts any more; waits for the work begun (each bounded by its
  // backend timeouts).
  void StopStarting() {
    MutexLock lock(&mu_);
    stopping_ = true;
    while (working_ > 0) idle_cv_.Wait(&mu_);
  }

 private:
  Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::set<Stream*> streams_ ABSL_GUARDED_BY(mu_);
  int working_ ABSL_GUARDED_BY(mu_) = 0;
  CondVar idle_cv_;  // signalled when working_ reaches 0
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_SERVICE_STREAM_REGISTRY_H_
