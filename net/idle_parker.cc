#include "net/idle_parker.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace zeoraid::net {

IdleParker::IdleParker()
    : epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (epoll_fd_ >= 0 && wake_fd_ >= 0) {
    struct epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.fd = wake_fd_;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
    thread_ = std::thread([this] { Run(); });
  }
}

IdleParker::~IdleParker() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) {
    uint64_t one = 1;
    ssize_t ignored = ::write(wake_fd_, &one, sizeof(one));
    (void)ignored;
    thread_.join();
  }
  std::map<int, std::function<void()>> dropped;
  {
    MutexLock lock(&mu_);
    dropped.swap(parked_);
  }
  dropped.clear();  // outside the lock: a callback may own a connection
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

absl::Status IdleParker::Park(int fd, std::function<void()> ready) {
  if (!thread_.joinable()) {
    return absl::FailedPreconditionError("idle parker could not start");
  }
  MutexLock lock(&mu_);
  if (stopping_) return absl::FailedPreconditionError("idle parker stopping");
  // Registered before the fd is watched: the parker's thread may see it
  // ready as soon as epoll_ctl returns.
  parked_[fd] = std::move(ready);
  struct epoll_event ev = {};
  // Level-triggered, once: input already waiting reports at once.
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    const int err = errno;
    ready = std::move(parked_[fd]);  // handed back to be destroyed outside
    parked_.erase(fd);
    return absl::InternalError(
        absl::StrCat("epoll_ctl(ADD, ", fd, "): ", std::strerror(err)));
  }
  return absl::OkStatus();
}

size_t IdleParker::parked() const {
  MutexLock lock(&mu_);
  return parked_.size();
}

void IdleParker::Run() {
  constexpr int kMaxEvents = 64;
  struct epoll_event events[kMaxEvents];
  std::vector<std::function<void()>> ready;
  while (true) {
    const int n = ::epoll_wait(epoll_fd_, events, kMaxEvents, -1);
    if (n < 0 && errno != EINTR) return;
    ready.clear();
    {
      MutexLock lock(&mu_);
      if (stopping_) return;
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == wake_fd_) continue;
        auto it = parked_.find(fd);
        if (it == parked_.end()) continue;
        // Forgotten before its owner hears of it: the owner may close the
        // fd, and the number may be reused by another connection at once.
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
        ready.push_back(std::move(it->second));
        parked_.erase(it);
      }
    }
    for (auto& callback : ready) callback();
    ready.clear();
  }
}

}  // namespace zeoraid::net
