#include "net/write_queue.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace zeoraid::net {

WriteQueue::WriteQueue(int fd, WriteQueueOptions options,
                       OutputFlusher* flusher,
                       std::function<void(const absl::Status&)> on_failure)
    : fd_(fd),
      options_(options),
      flusher_(flusher),
      on_failure_(std::move(on_failure)) {}

WriteQueue::~WriteQueue() { Close(); }

absl::Status WriteQueue::Write(absl::string_view bytes) {
  return WriteParts(bytes, {});
}

absl::Status WriteQueue::WriteFrame(absl::string_view payload) {
  if (payload.size() > 0xffffffffu) {
    return absl::OutOfRangeError("frame larger than 4 GiB");
  }
  const std::array<char, 4> prefix =
      EncodeFrameLength(static_cast<uint32_t>(payload.size()));
  return WriteParts(absl::string_view(prefix.data(), 4), payload);
}

absl::Status WriteQueue::WriteParts(absl::string_view a, absl::string_view b) {
  bool watch = false;
  absl::Status st;
  {
    MutexLock lock(&mu_);
    st = WriteLocked(a, b);
    if (st.ok() && queued_ > 0 && !watched_) watch = watched_ = true;
  }
  if (watch) flusher_->Watch(this);
  return st;
}

absl::Status WriteQueue::WriteLocked(absl::string_view a, absl::string_view b) {
  if (!failed_.ok()) return failed_;
  if (closed_) return absl::FailedPreconditionError("connection closed");
  const size_t total = a.size() + b.size();
  size_t sent = 0;
  if (queued_ == 0) {
    absl::StatusOr<size_t> w = SendNow(fd_, a, b);
    if (!w.ok()) return FailLocked(w.status());
    sent = *w;
    if (sent == total) return absl::OkStatus();
    last_progress_ = absl::Now();
  } else if (queued_ + total > options_.max_bytes) {
    return FailLocked(absl::ResourceExhaustedError(absl::StrCat(
        "the peer is not reading: ", queued_, " bytes waiting, ", total,
        " more would pass the limit of ", options_.max_bytes)));
  }
  // Keep what the socket did not take, in one chunk.
  std::string rest;
  rest.reserve(total - sent);
  if (sent < a.size()) {
    rest.append(a.data() + sent, a.size() - sent);
    rest.append(b.data(), b.size());
  } else {
    rest.append(b.data() + (sent - a.size()), b.size() - (sent - a.size()));
  }
  queued_ += rest.size();
  chunks_.push_back(std::move(rest));
  return absl::OkStatus();
}

absl::Status WriteQueue::SendQueuedLocked() {
  while (!chunks_.empty()) {
    absl::string_view head(chunks_.front());
    head.remove_prefix(head_sent_);
    absl::string_view next =
        chunks_.size() > 1 ? absl::string_view(chunks_[1]) : "";
    absl::StatusOr<size_t> w = SendNow(fd_, head, next);
    if (!w.ok()) return FailLocked(w.status());
    if (*w == 0) break;  // full again
    size_t n = *w;
    queued_ -= n;
    last_progress_ = absl::Now();
    while (n > 0) {
      size_t left = chunks_.front().size() - head_sent_;
      if (n < left) {
        head_sent_ += n;
        break;
      }
      n -= left;
      chunks_.pop_front();
      head_sent_ = 0;
    }
  }
  progress_cv_.SignalAll();
  return absl::OkStatus();
}

absl::Status WriteQueue::FailLocked(absl::Status why) {
  if (failed_.ok()) failed_ = std::move(why);
  chunks_.clear();
  queued_ = 0;
  head_sent_ = 0;
  progress_cv_.SignalAll();
  return failed_;
}

absl::Status WriteQueue::WaitBelow(size_t bytes, absl::Time deadline) {
  MutexLock lock(&mu_);
  while (failed_.ok() && !closed_ && queued_ > bytes) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          absl::StrCat("the peer is not reading: ", queued_,
                       " bytes still waiting to be sent"));
    }
    progress_cv_.WaitUntil(&mu_, CondVar::DeadlineAfter(left));
  }
  if (!failed_.ok()) return failed_;
  if (closed_) return absl::FailedPreconditionError("connection closed");
  return absl::OkStatus();
}

void WriteQueue::Close() {
  {
    MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
    chunks_.clear();
    queued_ = 0;
    progress_cv_.SignalAll();
  }
  flusher_->Forget(this);
}

size_t WriteQueue::queued() const {
  MutexLock lock(&mu_);
  return queued_;
}

OutputFlusher::OutputFlusher()
    : wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  thread_ = std::thread([this] { Run(); });
}

OutputFlusher::~OutputFlusher() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  Wake();
  thread_.join();
  ::close(wake_fd_);
}

void OutputFlusher::Wake() {
  uint64_t one = 1;
  ssize_t ignored = ::write(wake_fd_, &one, sizeof(one));
  (void)ignored;
}

void OutputFlusher::Watch(WriteQueue* queue) {
  {
    MutexLock lock(&mu_);
    watched_.insert(queue);
  }
  Wake();
}

void OutputFlusher::Forget(WriteQueue* queue) {
  MutexLock lock(&mu_);
  watched_.erase(queue);
  while (busy_) idle_cv_.Wait(&mu_);
}

void OutputFlusher::Run() {
  std::vector<WriteQueue*> queues;
  std::vector<struct pollfd> fds;
  while (true) {
    // 1. What to wait for, and until when.
    queues.clear();
    {
      MutexLock lock(&mu_);
      if (stopping_) return;
      queues.assign(watched_.begin(), watched_.end());
      busy_ = true;
    }
    fds.assign(1, {wake_fd_, POLLIN, 0});
    absl::Time wake_at = absl::InfiniteFuture();
    for (WriteQueue* q : queues) {
      fds.push_back({q->fd_, POLLOUT, 0});
      MutexLock lock(&q->mu_);
      if (q->queued_ > 0) {
        wake_at =
            std::min(wake_at, q->last_progress_ + q->options_.stall_timeout);
      }
    }
    {
      MutexLock lock(&mu_);
      busy_ = false;
    }
    idle_cv_.SignalAll();

    // 2. Wait (queues may be forgotten meanwhile: only their fds are used).
    int timeout_ms = -1;
    if (wake_at != absl::InfiniteFuture()) {
      absl::Duration left = wake_at - absl::Now();
      timeout_ms = left <= absl::ZeroDuration()
                       ? 0
                       : static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
    }
    int n = ::poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0 && errno != EINTR) {
      absl::SleepFor(absl::Milliseconds(10));  // cannot happen; do not spin
    }
    if (fds[0].revents & POLLIN) {
      uint64_t count;
      ssize_t ignored = ::read(wake_fd_, &count, sizeof(count));
      (void)ignored;
    }

    // 3. Send, and give up on the peers that stopped reading.
    std::vector<
        std::pair<std::function<void(const absl::Status&)>, absl::Status>>
        failures;
    {
      MutexLock lock(&mu_);
      busy_ = true;
      const absl::Time now = absl::Now();
      for (size_t i = 0; i < queues.size(); ++i) {
        WriteQueue* q = queues[i];
        if (watched_.count(q) == 0) continue;  // forgotten while we waited
        MutexLock qlock(&q->mu_);
        const short revents = fds[i + 1].revents;
        if (q->failed_.ok() && !q->closed_ && q->queued_ > 0) {
          if (revents & (POLLOUT | POLLERR | POLLHUP | POLLNVAL)) {
            q->SendQueuedLocked().IgnoreError();  // a failure is seen below
          }
          if (q->failed_.ok() && q->queued_ > 0 &&
              now - q->last_progress_ >= q->options_.stall_timeout) {
            q->FailLocked(absl::DeadlineExceededError(absl::StrCat(
                              "the peer took no byte for ",
                              absl::FormatDuration(q->options_.stall_timeout),
                              " (", q->queued_, " bytes waiting)")))
                .IgnoreError();
            failures.emplace_back(q->on_failure_, q->failed_);
          } else if (!q->failed_.ok()) {
            failures.emplace_back(q->on_failure_, q->failed_);
          }
        }
        if (!q->failed_.ok() || q->closed_ || q->queued_ == 0) {
          q->watched_ = false;
          watched_.erase(q);
        }
      }
      busy_ = false;
    }
    idle_cv_.SignalAll();
    for (auto& [on_failure, why] : failures) {
      if (on_failure) on_failure(why);
    }
  }
}

}  // namespace zeoraid::net
