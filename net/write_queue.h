// WriteQueue: the bytes waiting to go out on one connection, sent without
// ever blocking the thread that writes them. What the socket takes at once is
// sent at once (the common case: no copy, no other thread); the rest waits in
// the queue and an OutputFlusher sends it when the peer reads again.
//
// So a peer that stops reading delays nobody else (the translator's fan-out
// writes every client's invalidations through these queues), holds at most
// `max_bytes`, and is given up on once no byte went out for `stall_timeout`.
#ifndef ZEORAID_NET_WRITE_QUEUE_H_
#define ZEORAID_NET_WRITE_QUEUE_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "net/socket.h"

namespace zeoraid::net {

class OutputFlusher;

struct WriteQueueOptions {
  // Bytes a queue may hold; a write that finds the queue not empty and would
  // pass it fails the queue (one write larger than this is still taken into
  // an empty queue, or a large record could never be sent).
  size_t max_bytes = 16u << 20;
  // While bytes wait: the longest the peer may go without taking any.
  absl::Duration stall_timeout = absl::Seconds(30);
};

class WriteQueue {
 public:
  // The flusher calls `on_failure` once, on its thread and without locks
  // held, when it fails the queue (the peer stopped reading, or a send
  // error); the owner then closes the connection. A Write that fails returns
  // the error to its caller instead (which may hold its own locks).
  WriteQueue(int fd, WriteQueueOptions options, OutputFlusher* flusher,
             std::function<void(const absl::Status&)> on_failure);
  ~WriteQueue();
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;

  // Queues `bytes` after everything queued before. Never waits. Returns the
  // queue's failure if it has failed (then nothing more is sent).
  absl::Status Write(absl::string_view bytes);
  // Queues a ZEO frame: the 4-byte length, then `payload`.
  absl::Status WriteFrame(absl::string_view payload);

  // Waits until at most `bytes` are queued (backpressure for a connection's
  // own replies), the queue failed, or `deadline`.
  absl::Status WaitBelow(size_t bytes, absl::Time deadline);
  // Waits until everything queued is sent.
  absl::Status Drain(absl::Time deadline) { return WaitBelow(0, deadline); }

  // Sends nothing more; the flusher forgets the queue. Call before the file
  // descriptor is closed.
  void Close();

  size_t queued() const;

 private:
  friend class OutputFlusher;

  // Write and WriteFrame: `a` then `b`, and the flusher told when bytes wait.
  absl::Status WriteParts(absl::string_view a, absl::string_view b);
  // Writes as much of `a` then `b` (after what is queued) as the socket takes
  // now; the rest is queued. Requires mu_.
  absl::Status WriteLocked(absl::string_view a, absl::string_view b)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends queued bytes until the socket is full. Requires mu_.
  absl::Status SendQueuedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks the queue failed (the first failure wins) and returns it.
  absl::Status FailLocked(absl::Status why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int fd_;
  const WriteQueueOptions options_;
  OutputFlusher* const flusher_;
  const std::function<void(const absl::Status&)> on_failure_;

  mutable Mutex mu_;  // guards everything below; a send happens only under it
  CondVar progress_cv_;
  std::deque<std::string> chunks_ ABSL_GUARDED_BY(mu_);
  size_t head_sent_ ABSL_GUARDED_BY(mu_) = 0;  // of chunks_.front()
  size_t queued_ ABSL_GUARDED_BY(mu_) = 0;     // bytes in chunks_ not sent
  // When the queue last became non-empty or last sent a byte.
  absl::Time last_progress_ ABSL_GUARDED_BY(mu_);
  absl::Status failed_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // In the flusher's set (it has bytes to send).
  bool watched_ ABSL_GUARDED_BY(mu_) = false;
};

// One thread that sends the queued bytes of every connection whose peer was
// slower than its writers, and fails the queues whose peer stopped reading.
class OutputFlusher {
 public:
  OutputFlusher();
  ~OutputFlusher();
  OutputFlusher(const OutputFlusher&) = delete;
  OutputFlusher& operator=(const OutputFlusher&) = delete;

 private:
  friend class WriteQueue;
  // A queue that has bytes waiting. Lock order: OutputFlusher::mu_ before
  // WriteQueue::mu_ (never call this holding a queue's lock).
  void Watch(WriteQueue* queue);
  // Forgets a queue (closed or destroyed).
  void Forget(WriteQueue* queue);
  void Wake();
  void Run();

  int wake_fd_ = -1;  // eventfd
  Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::set<WriteQueue*> watched_ ABSL_GUARDED_BY(mu_);
  // Set while Run works on queues outside mu_: Forget waits for it to clear,
  // so a queue is never touched after it is destroyed.
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  CondVar idle_cv_;
  std::thread thread_;
};

}  // namespace zeoraid::net

#endif  // ZEORAID_NET_WRITE_QUEUE_H_
