// IdleParker: watches connections that have nothing to do, so that an idle
// connection needs no thread of its own. One thread waits (epoll) on every
// parked socket; when a socket becomes readable, is closed or fails, the
// parker forgets it and calls its `ready` callback once.
//
// The translator serves each ZEO connection on a thread while it works, and
// parks it after a while without a call: ZEO clients stay connected for hours
// between bursts, and a thread's stack is most of what an idle connection
// costs.
#ifndef ZEORAID_NET_IDLE_PARKER_H_
#define ZEORAID_NET_IDLE_PARKER_H_

#include <cstddef>
#include <functional>
#include <map>
#include <thread>

#include "absl/status/status.h"
#include "base/mutex.h"

namespace zeoraid::net {

class IdleParker {
 public:
  IdleParker();
  // Drops the callbacks of sockets still parked without calling them.
  ~IdleParker();
  IdleParker(const IdleParker&) = delete;
  IdleParker& operator=(const IdleParker&) = delete;

  // Watches `fd` until it has input (bytes, end of stream or an error), then
  // calls `ready` once, on the parker's thread: it must not block (it hands
  // the connection to a thread). The caller keeps `fd` open until then and
  // does not read it meanwhile. Input already waiting calls `ready` at once.
  // Errors: FailedPrecondition after the parker failed, the epoll error
  // otherwise (the caller then serves the connection itself).
  absl::Status Park(int fd, std::function<void()> ready);

  // Sockets parked right now.
  size_t parked() const;
  // False when the parker could not start (no epoll): Park always fails.
  bool running() const { return thread_.joinable(); }

 private:
  void Run();

  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: stop
  mutable Mutex mu_;
  // fd → its callback, while parked.
  std::map<int, std::function<void()>> parked_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace zeoraid::net

#endif  // ZEORAID_NET_IDLE_PARKER_H_
