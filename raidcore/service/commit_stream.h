// CommitStreamServer: serves Storage.Commit, each translator's long-lived
// stream of transactions, with gRPC's completion-queue API, so that no thread
// waits on a stream.
//
// A transaction's data calls are buffered as they arrive; its Vote and Finish
// go to CommitCoordinator::VoteThen/FinishThen, whose answer is written by
// whichever thread brings it (a backend connection's reader thread on the
// fast path). With the synchronous server each commit woke the stream's
// handler thread about ten times (every read, every backend answer, every
// write); here the events run on threads that wake for them anyway.
// (gRPC's callback API was tried: with the poll engine it runs every
// reaction on two "nexting" threads of its own, which cost more switches
// than the synchronous server.)
//
// Threading: the completion-queue thread runs the reads' and writes'
// completions; the coordinator runs the vote's and finish's continuations on
// reader or helper threads. A stream is strictly sequential — a read, the
// message's processing (maybe asynchronous), the answer's write, the next
// read — so one thread at a time touches its transaction, and each hands over
// to the next through gRPC's queue or the coordinator (which order them).
// gRPC operations start through the StreamRegistry, so that none starts once
// the completion queue is shut down.
#ifndef ZEORAID_RAIDCORE_SERVICE_COMMIT_STREAM_H_
#define ZEORAID_RAIDCORE_SERVICE_COMMIT_STREAM_H_

#include <grpcpp/grpcpp.h>

#include "raidcore/service/completion_queue_thread.h"
#include "raidcore/service/storage_service.h"
#include "raidcore/service/stream_registry.h"

namespace zeoraid::raidcore {

class CommitStreamServer {
 public:
  // `cq` is served by a CompletionQueueThread that outlives this.
  CommitStreamServer(StorageService* service, grpc::ServerCompletionQueue* cq);
  // Deletes the streams left: after the queue was drained.
  ~CommitStreamServer();
  CommitStreamServer(const CommitStreamServer&) = delete;
  CommitStreamServer& operator=(const CommitStreamServer&) = delete;

  // Starts accepting streams (after the server was built and started).
  void Start();
  // Call after the grpc::Server's Shutdown and before the queue is stopped:
  // no operation starts any more, and the votes, finishes and aborts in
  // flight (each within its backend timeouts) are waited for.
  void StopStarting();

 private:
  class Stream;
  void Accept();  // asks gRPC for the next stream

  StorageService* const service_;
  grpc::ServerCompletionQueue* const cq_;
  // Votes, finishes and aborts are its work off the queue.
  StreamRegistry<Stream> registry_;
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_SERVICE_COMMIT_STREAM_H_
