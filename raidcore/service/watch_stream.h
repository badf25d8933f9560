// WatchStreamServer: serves Storage.WatchInvalidations, each translator's
// stream of committed transactions, with gRPC's completion-queue API.
//
// Why not the synchronous server: there a handler thread per translator
// waited for the hub's next event and was woken for every commit, and the
// synchronous server's poller woke as well, ~2.9 thread switches per commit
// in raidcore (docs/performance.md). Here the thread that finishes a commit
// (the backend reader thread that judged it, on the fast path) starts the
// write itself, through the subscription's listener, once the commit lock is
// released and the committer answered (CommitCoordinator::Committed); the
// completion-queue thread only takes the write's completion, and writes
// what queued meanwhile.
//
// Threading: events come in on the completion-queue thread (writes, Finish,
// the call's end) and from the hub's listener on publishing threads. Each
// stream's state is guarded by its mutex; at most one Write is in flight,
// and it always carries the front of the subscription's queue, so events go
// out in the hub's order. Lock order: the subscription's notify lock, then
// the stream's mutex, then the subscription's queue lock and the
// StreamRegistry's.
#ifndef ZEORAID_RAIDCORE_SERVICE_WATCH_STREAM_H_
#define ZEORAID_RAIDCORE_SERVICE_WATCH_STREAM_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <set>

#include "base/mutex.h"
#include "raidcore/commit/invalidation_hub.h"
#include "raidcore/service/completion_queue_thread.h"
#include "raidcore/service/storage_service.h"
#include "raidcore/service/stream_registry.h"

namespace zeoraid::raidcore {

class WatchStreamServer {
 public:
  // `cq` is served by a CompletionQueueThread that outlives this; `hub`
  // outlives it too.
  WatchStreamServer(StorageService* service, InvalidationHub* hub,
                    grpc::ServerCompletionQueue* cq);
  // Deletes the streams left: after the queue was drained.
  ~WatchStreamServer();
  WatchStreamServer(const WatchStreamServer&) = delete;
  WatchStreamServer& operator=(const WatchStreamServer&) = delete;

  // Starts accepting streams (after the server was built and started).
  void Start();
  // Call after the grpc::Server's Shutdown and before the queue is stopped:
  // no operation starts any more, and no stream hears from the hub again.
  void StopStarting();

 private:
  class Stream;
  using Op = StreamOp<Stream>;

  void Accept();  // asks gRPC for the next stream
  void Handle(Stream* s, Op::Kind kind, bool ok);
  // Starts what `s` needs next: the write of its next event, or its Finish
  // once it is cut off or its call ended. Requires s->mu.
  void Pump(Stream* s);
  // Once its Finish and its call's end are both in: no event reaches it
  // again, and it is deleted.
  void End(Stream* s);

  StorageService* const service_;
  InvalidationHub* const hub_;
  grpc::ServerCompletionQueue* const cq_;
  StreamRegistry<Stream> registry_;

  Mutex subs_mu_;
  // The subscriptions of the streams alive: StopStarting ends them all, so
  // that no listener touches a stream the registry deletes.
  std::set<std::shared_ptr<InvalidationHub::Subscription>> subs_
      ABSL_GUARDED_BY(subs_mu_);
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_SERVICE_WATCH_STREAM_H_
