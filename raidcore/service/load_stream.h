// LoadStreamServer: serves Storage.LoadBeforeStream, a translator's
// long-lived stream of loadBefore calls, with gRPC's completion-queue API on
// raidcore's completion-queue thread.
//
// Why not the synchronous server: a unary call costs each side about twice
// the CPU of a message on an open stream, and the synchronous server hands
// every request from a poller thread to a handler thread, which then waits
// for the backend's reader thread (measured in docs/performance.md). Here a
// request is read on the completion-queue thread, sent to a backend without
// waiting (StorageService::LoadBeforeThen), and its answer is written by the
// backend connection's reader thread as soon as it arrives. Answers go out in
// the order they complete, matched to requests by id, so one slow load holds
// up no other. A request the translator marks `alone` (nothing else of its in
// flight) has the next request read only as its answer is written: gRPC's
// flow-control update for it then rides with the answer, where it would wake
// the translator in a packet of its own (one switch and ~20 us of CPU per
// load there; docs/performance.md, tenth session).
//
// Threading: the completion-queue thread runs every gRPC event; loads
// complete on backend reader threads (or the read router's pool). Each
// stream's state is guarded by its own mutex; gRPC operations start through
// the StreamRegistry, so that none starts once the completion queue is shut
// down.
#ifndef ZEORAID_RAIDCORE_SERVICE_LOAD_STREAM_H_
#define ZEORAID_RAIDCORE_SERVICE_LOAD_STREAM_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "base/mutex.h"
#include "raidcore/service/completion_queue_thread.h"
#include "raidcore/service/storage_service.h"
#include "raidcore/service/stream_registry.h"

namespace zeoraid::raidcore {

class LoadStreamServer {
 public:
  // `cq` is served by a CompletionQueueThread that outlives this.
  LoadStreamServer(StorageService* service, grpc::ServerCompletionQueue* cq);
  // Deletes the streams left: after the queue was drained.
  ~LoadStreamServer();
  LoadStreamServer(const LoadStreamServer&) = delete;
  LoadStreamServer& operator=(const LoadStreamServer&) = delete;

  // Starts accepting streams (after the server was built and started).
  void Start();
  // Call after the grpc::Server's Shutdown (which ends every stream) and
  // before the queue is stopped: no operation starts any more, and the loads
  // still running on backends (each within its backend timeout) are waited
  // for.
  void StopStarting();

  // A stream stops reading requests while this many of its loads run; gRPC's
  // flow control then holds the translator back.
  static constexpr int kMaxLoadsInFlight = 4096;

 private:
  class Stream;
  using Op = StreamOp<Stream>;

  void Accept();  // asks gRPC for the next stream
  void Handle(Stream* s, Op::Kind kind, bool ok);
  void OnRead(Stream* s, bool ok);
  void OnLoaded(Stream* s, uint64_t id, grpc::Status status,
                v1::LoadBeforeResponse response);
  void OnWritten(Stream* s, bool ok);
  // Starts what `s` needs next: the next read (unless paused), the next
  // write, or its Finish once it is done. Requires s->mu_.
  void Pump(Stream* s);

  StorageService* const service_;
  grpc::ServerCompletionQueue* const cq_;

  StreamRegistry<Stream> registry_;
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_SERVICE_LOAD_STREAM_H_
