// CompletionQueueThread: raidcore's one thread for gRPC's completion-queue
// API. The asynchronous streams (LoadBeforeStream, Commit) put their
// operations on one queue, served here: gRPC's poll engine wakes every thread
// that polls a connection when bytes arrive on it, so each extra queue thread
// would wake on every other stream's traffic too.
//
// Every tag on the queue is a CqTag; its OnEvent runs on this thread.
#ifndef ZEORAID_RAIDCORE_SERVICE_COMPLETION_QUEUE_THREAD_H_
#define ZEORAID_RAIDCORE_SERVICE_COMPLETION_QUEUE_THREAD_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <thread>

namespace zeoraid::raidcore {

class CqTag {
 public:
  // `ok` as gRPC reports it: false for an operation that failed, or for
  // every tag still queued when the queue shuts down.
  virtual void OnEvent(bool ok) = 0;

 protected:
  ~CqTag() = default;
};

// One of a stream's operations on the queue; its event goes to
// `stream->OnEvent(kind, ok)`. A stream has one of each kind.
template <typename Stream>
struct StreamOp final : CqTag {
  enum Kind { kAccept, kRead, kWrite, kFinish, kDone };
  StreamOp(Stream* s, Kind k) : stream(s), kind(k) {}
  void OnEvent(bool ok) override { stream->OnEvent(kind, ok); }
  Stream* const stream;
  const Kind kind;
};

class CompletionQueueThread {
 public:
  // `cq` comes from the ServerBuilder (AddCompletionQueue, before
  // BuildAndStart).
  explicit CompletionQueueThread(
      std::unique_ptr<grpc::ServerCompletionQueue> cq);
  ~CompletionQueueThread();  // Stop()s if needed
  CompletionQueueThread(const CompletionQueueThread&) = delete;
  CompletionQueueThread& operator=(const CompletionQueueThread&) = delete;

  grpc::ServerCompletionQueue* cq() { return cq_.get(); }
  void Start();
  // Shuts the queue down and runs every tag left (with ok false) until it is
  // drained. After the grpc::Server's Shutdown, and after every stream server
  // stopped starting operations (an operation started on a shut-down queue
  // is a crash in gRPC).
  void Stop();

 private:
  void Run();

  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::thread thread_;
  bool stopped_ = false;  // only touched by the owner's thread
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_SERVICE_COMPLETION_QUEUE_THREAD_H_
