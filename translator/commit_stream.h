// CommitStream: one client transaction's Commit stream to raidcore.
//
// The transaction's calls (Begin, the data calls) wait in a batch until the
// client votes or the batch reaches 32 KiB: a small transaction reaches
// raidcore in one message with its Vote, and the stream is opened only then
// (its headers travel with that message); a big one goes out as the client
// sends it, and raidcore passes its calls on to the backends before the vote
// (CommitCoordinator::SendEarly). A Finish or Abort half-closes the
// stream with it. Cancelling the stream makes raidcore abort the transaction
// on every backend and free its commit lock.
//
// A raidcore that takes several transactions on one stream (stream_reusable
// on its answer to Finish or Abort) gets the stream back for a later
// transaction through a CommitStreamPool: opening a stream costs both sides
// a call's setup, and raidcore's synchronous server a thread.
//
// Not thread-safe: one client session drives it, one call at a time.
#ifndef ZEORAID_TRANSLATOR_COMMIT_STREAM_H_
#define ZEORAID_TRANSLATOR_COMMIT_STREAM_H_

#include <cstddef>
#include <deque>
#include <memory>

#include "base/mutex.h"
#include "zeoraid/v1/storage.grpc.pb.h"

namespace zeoraid::translator {

// An open Commit stream with no transaction on it.
struct IdleCommitStream {
  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<
      grpc::ClientReaderWriter<v1::CommitRequest, v1::CommitResponse>>
      stream;
};

// Commit streams kept open between transactions, shared by a translator's
// sessions. Thread-safe.
class CommitStreamPool {
 public:
  // Keeps at most `max_idle` streams.
  explicit CommitStreamPool(size_t max_idle) : max_idle_(max_idle) {}
  ~CommitStreamPool();  // ends the idle streams
  CommitStreamPool(const CommitStreamPool&) = delete;
  CommitStreamPool& operator=(const CommitStreamPool&) = delete;

  // The most recently returned stream, if any.
  std::unique_ptr<IdleCommitStream> Take();
  // Keeps `idle` for a later Take, or ends it when max_idle are kept.
  void Return(std::unique_ptr<IdleCommitStream> idle);

  // Ends a stream that carries no transaction: half-close, then raidcore's
  // status.
  static void End(IdleCommitStream* idle);

 private:
  const size_t max_idle_;
  Mutex mu_;
  std::deque<std::unique_ptr<IdleCommitStream>> idle_ ABSL_GUARDED_BY(mu_);
};

class CommitStream {
 public:
  // `pool` may be null: a stream of its own, ended with the transaction.
  CommitStream(v1::Storage::Stub* stub, CommitStreamPool* pool = nullptr)
      : stub_(stub), pool_(pool) {}

  // Queues `request`; a big batch goes out at once. False once the stream
  // broke (the error is reported by the next Ask).
  bool Send(v1::CommitRequest request);
  // Sends what is queued when it is at least `bytes` (a client that paused:
  // its data calls so far go on to the backends without waiting for more).
  bool FlushAtLeast(size_t bytes) {
    return batch_bytes_ >= bytes ? Flush(/*last=*/false) : !broken_;
  }
  // Sends `request` after the queued ones and reads raidcore's answer; on
  // failure returns the stream's final status.
  grpc::Status Ask(v1::CommitRequest request, v1::CommitResponse* response);
  // Ends the stream after its last answer (waits for raidcore's status), or
  // gives it back to the pool when reusable() (does not wait).
  void Close();
  bool reusable() const { return reusable_; }
  // Bytes of data calls queued, not yet sent.
  size_t queued_bytes() const { return batch_bytes_; }
  // Abandons the transaction: raidcore aborts it.
  void Cancel();

 private:
  // Opens a new stream (context_, stream_).
  void Open();
  // `last`: nothing follows on this stream.
  bool Flush(bool last);
  // The stream failed: collects raidcore's final status (once; gRPC allows
  // one Finish per call) and returns it, also to every later Ask.
  grpc::Status End();

  // A transaction's data calls go to raidcore in messages of about this
  // size: small enough that the backends decode a big transaction's first
  // stores while the client still sends the rest.
  static constexpr size_t kEarlyBatchBytes = 32 << 10;
  // A blob's chunks, which raidcore spools until the vote anyway, in
  // messages of about this size.
  static constexpr size_t kMaxBatchBytes = 1 << 20;

  v1::Storage::Stub* const stub_;
  CommitStreamPool* const pool_;
  // The stream came from the pool (it may have died while idle); nothing of
  // this transaction was written on it yet.
  bool reused_ = false;
  bool written_ = false;
  // raidcore's answer to Finish or Abort said the stream takes another
  // transaction: Close gives it back to the pool.
  bool reusable_ = false;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<
      grpc::ClientReaderWriter<v1::CommitRequest, v1::CommitResponse>>
      stream_;
  v1::CommitRequest batch_;
  size_t batch_bytes_ = 0;
  bool half_closed_ = false;
  // The stream broke while the client was sending one-way calls; reported at
  // vote.
  bool broken_ = false;
  // Finish was called (the call is over); final_ is what End returns.
  bool finished_ = false;
  grpc::Status final_;
};

}  // namespace zeoraid::translator

#endif  // ZEORAID_TRANSLATOR_COMMIT_STREAM_H_
