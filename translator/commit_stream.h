// CommitStream: one client transaction's Commit stream to raidcore.
//
// The transaction's calls (Begin, the data calls) wait in a batch until the
// client votes: raidcore acts on nothing before Vote, so it gets the whole
// transaction in one message, and the stream is opened only then (its
// headers travel with that message). A Finish or Abort half-closes the
// stream with it. Cancelling the stream makes raidcore abort the transaction
// on every backend and free its commit lock.
//
// Not thread-safe: one client session drives it, one call at a time.
#ifndef ZEORAID_TRANSLATOR_COMMIT_STREAM_H_
#define ZEORAID_TRANSLATOR_COMMIT_STREAM_H_

#include <cstddef>
#include <memory>

#include "zeoraid/v1/storage.grpc.pb.h"

namespace zeoraid::translator {

class CommitStream {
 public:
  explicit CommitStream(v1::Storage::Stub* stub) : stub_(stub) {}

  // Queues `request`; a big batch goes out at once. False once the stream
  // broke (the error is reported by the next Ask).
  bool Send(v1::CommitRequest request);
  // Sends `request` after the queued ones and reads raidcore's answer; on
  // failure returns the stream's final status.
  grpc::Status Ask(v1::CommitRequest request, v1::CommitResponse* response);
  // Ends the stream after its last answer (waits for raidcore's status).
  void Close();
  // Abandons the transaction: raidcore aborts it.
  void Cancel();

 private:
  // `last`: nothing follows on this stream.
  bool Flush(bool last);
  // The stream failed: collects raidcore's final status (once; gRPC allows
  // one Finish per call) and returns it, also to every later Ask.
  grpc::Status End();

  // A transaction's calls go to raidcore in messages of about this size.
  static constexpr size_t kMaxBatchBytes = 1 << 20;

  v1::Storage::Stub* const stub_;
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
