#include "net/read_pump.h"

#include <algorithm>
#include <cstring>

#include "absl/time/clock.h"

namespace zeoraid::net {

ReadPump::ReadPump(std::unique_ptr<ByteSource> inner, size_t max_buffered,
                   std::function<void()> stop)
    : inner_(std::move(inner)),
      max_buffered_(std::max<size_t>(max_buffered, 1)),
      stop_(std::move(stop)) {
  thread_ = std::thread([this] { Run(); });
}

ReadPump::~ReadPump() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  changed_cv_.SignalAll();
  if (stop_) stop_();
  thread_.join();
}

void ReadPump::Run() {
  std::string chunk(16384, '\0');
  while (true) {
    size_t room;
    {
      MutexLock lock(&mu_);
      while (!stopping_ && buffer_.size() - taken_ >= max_buffered_) {
        changed_cv_.Wait(&mu_);
      }
      if (stopping_) return;
      room = std::min(chunk.size(), max_buffered_ - (buffer_.size() - taken_));
    }
    absl::StatusOr<size_t> n =
        inner_->Read(chunk.data(), room, absl::InfiniteFuture());
    {
      MutexLock lock(&mu_);
      if (!n.ok()) {
        ended_ = true;
        end_ = n.status();
      } else {
        if (taken_ == buffer_.size()) {
          buffer_.clear();
          taken_ = 0;
        }
        buffer_.append(chunk.data(), *n);
      }
    }
    changed_cv_.SignalAll();
    if (!n.ok()) return;
  }
}

absl::StatusOr<size_t> ReadPump::Read(char* out, size_t n,
                                      absl::Time deadline) {
  size_t got;
  {
    MutexLock lock(&mu_);
    while (taken_ == buffer_.size() && !ended_) {
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        return absl::DeadlineExceededError("read timed out");
      }
      changed_cv_.WaitUntil(&mu_, CondVar::DeadlineAfter(left));
    }
    if (taken_ == buffer_.size()) return end_;
    got = std::min(n, buffer_.size() - taken_);
    std::memcpy(out, buffer_.data() + taken_, got);
    taken_ += got;
  }
  changed_cv_.SignalAll();  // room for the pump
  return got;
}

bool ReadPump::HasPendingInput() {
  MutexLock lock(&mu_);
  return taken_ < buffer_.size();
}

}  // namespace zeoraid::net
