#include "raidcore/service/watch_stream.h"

#include <optional>
#include <utility>
#include <vector>

#include "base/logging.h"
#include "zeo/pickle.h"
#include "zeo/tid.h"

namespace zeoraid::raidcore {
namespace {

using zeo::TidHex;

// What `translator` is sent for `event`; nothing for another translator's
// disconnect request, or statistics that are not a dict.
std::optional<v1::Invalidation> MessageFor(const InvalidationEvent& event,
                                           const std::string& translator) {
  v1::Invalidation out;
  if (event.tid.empty() && !event.disconnect_reason.empty()) {
    if (event.origin_translator != translator) return std::nullopt;
    out.set_origin_translator(event.origin_translator);
    out.set_origin_connection(event.origin_connection);
    out.set_disconnect_reason(event.disconnect_reason);
    return out;
  }
  if (event.tid.empty()) {  // new storage statistics, not a transaction
    if (!event.info.is_dict()) return std::nullopt;
    out.set_info_pickle(zeo::EncodePickle(event.info));
    return out;
  }
  out.set_tid(event.tid);
  for (const std::string& oid : event.oids) out.add_oids(oid);
  for (const std::string& oid : event.silent_oids) out.add_silent_oids(oid);
  out.set_origin_translator(event.origin_translator);
  out.set_origin_connection(event.origin_connection);
  return out;
}

}  // namespace

class WatchStreamServer::Stream {
 public:
  explicit Stream(WatchStreamServer* s) : server(s) {}
  WatchStreamServer* const server;
  grpc::ServerContext context;
  v1::WatchInvalidationsRequest request;
  grpc::ServerAsyncWriter<v1::Invalidation> writer{&context};
  Op accept_op{this, Op::kAccept};
  Op write_op{this, Op::kWrite};
  Op finish_op{this, Op::kFinish};
  Op done_op{this, Op::kDone};  // the call ended (AsyncNotifyWhenDone)
  void OnEvent(Op::Kind kind, bool ok) { server->Handle(this, kind, ok); }

  Mutex mu;
  // Set once accepted, before any listener can run (Subscribe happens under
  // mu); reset by End.
  std::shared_ptr<InvalidationHub::Subscription> sub ABSL_GUARDED_BY(mu);
  bool sync_sent ABSL_GUARDED_BY(mu) = false;     // the start tid went out
  bool writing ABSL_GUARDED_BY(mu) = false;       // a Write is outstanding
  bool broken ABSL_GUARDED_BY(mu) = false;        // a Write failed
  bool call_done ABSL_GUARDED_BY(mu) = false;     // done_op came
  bool finishing ABSL_GUARDED_BY(mu) = false;     // Finish started
  bool finished ABSL_GUARDED_BY(mu) = false;      // finish_op came
  bool cut_off_seen ABSL_GUARDED_BY(mu) = false;  // and logged
  bool cancelled ABSL_GUARDED_BY(mu) = false;     // TryCancel'ed once cut off
  // The message being written.
  v1::Invalidation out ABSL_GUARDED_BY(mu);
};

WatchStreamServer::WatchStreamServer(StorageService* service,
                                     InvalidationHub* hub,
                                     grpc::ServerCompletionQueue* cq)
    : service_(service), hub_(hub), cq_(cq) {}

WatchStreamServer::~WatchStreamServer() = default;

void WatchStreamServer::Start() { Accept(); }

void WatchStreamServer::StopStarting() {
  registry_.StopStarting();
  std::set<std::shared_ptr<InvalidationHub::Subscription>> subs;
  {
    MutexLock lock(&subs_mu_);
    subs.swap(subs_);
  }
  // Waits for listeners running (which start nothing any more).
  for (const auto& sub : subs) hub_->Unsubscribe(sub);
}

void WatchStreamServer::Accept() {
  auto* s = new Stream(this);
  registry_.Accept(s, [&] {
    // The done tag comes only for a call that started (grpc issue 10136):
    // a stream never accepted is removed at its accept_op.
    s->context.AsyncNotifyWhenDone(&s->done_op);
    service_->RequestWatchInvalidations(&s->context, &s->request, &s->writer,
                                        cq_, cq_, &s->accept_op);
  });
}

void WatchStreamServer::Handle(Stream* s, Op::Kind kind, bool ok) {
  switch (kind) {
    case Op::kAccept: {
      if (!ok) {  // shutting down: the stream never started
        registry_.Remove(s);
        return;
      }
      Accept();
      MutexLock lock(&s->mu);
      s->sub = hub_->Subscribe([this, s] {
        MutexLock lock(&s->mu);
        Pump(s);
      });
      {
        MutexLock subs_lock(&subs_mu_);
        subs_.insert(s->sub);
      }
      ZR_LOG(INFO) << "translator '" << s->request.translator() << "' ("
                   << s->context.peer() << ") watches invalidations from "
                   << TidHex(s->sub->start_tid());
      Pump(s);
      return;
    }
    case Op::kWrite: {
      MutexLock lock(&s->mu);
      s->writing = false;
      if (!ok) s->broken = true;
      Pump(s);
      return;
    }
    case Op::kDone: {
      MutexLock lock(&s->mu);
      s->call_done = true;
      if (s->finished) break;
      Pump(s);  // a cancelled call's outstanding write fails, then Finish
      return;
    }
    case Op::kFinish: {
      MutexLock lock(&s->mu);
      s->finished = true;
      if (s->call_done) break;
      return;
    }
    case Op::kRead:
      return;  // a watch is never read
  }
  End(s);
}

void WatchStreamServer::Pump(Stream* s) {
  s->mu.AssertHeld();
  // No subscription: ended (a listener cannot run then), or not accepted
  // yet (a call's end is queued behind its accept on the one queue thread).
  if (s->finishing || s->sub == nullptr) return;
  const bool cut_off = s->sub->closed();
  if (cut_off && !s->cut_off_seen) {
    s->cut_off_seen = true;
    ZR_LOG(WARNING) << "translator '" << s->request.translator()
                    << "' fell too far behind the invalidations; ending its "
                       "watch (it reconnects, its clients verify their "
                       "caches)";
  }
  if (s->writing) {
    // A translator that stopped reading holds its write forever: cancelling
    // fails it, and the stream ends.
    if (cut_off && !s->cancelled) {
      s->cancelled = true;
      s->context.TryCancel();
    }
    return;
  }
  if (s->broken || s->call_done || cut_off) {
    registry_.StartOp([s, cut_off] {
      s->mu.AssertHeld();  // Pump's caller holds it
      s->finishing = true;
      s->writer.Finish(
          cut_off ? grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "invalidation watcher fell too far behind")
                  : grpc::Status::OK,
          &s->finish_op);
    });
    return;
  }
  std::optional<v1::Invalidation> next;
  if (!s->sync_sent) {
    // The sync point: raidcore's last tid when the watch began.
    next.emplace();
    next->set_tid(s->sub->start_tid());
  } else {
    InvalidationEvent event;
    while (!next.has_value() && s->sub->TryNext(&event)) {
      next = MessageFor(event, s->request.translator());
    }
  }
  if (!next.has_value()) return;
  registry_.StartOp([s, &next] {
    s->mu.AssertHeld();  // Pump's caller holds it
    s->sync_sent = true;
    s->writing = true;
    s->out = std::move(*next);
    s->writer.Write(s->out, &s->write_op);
  });
}

void WatchStreamServer::End(Stream* s) {
  std::shared_ptr<InvalidationHub::Subscription> sub;
  {
    MutexLock lock(&s->mu);
    sub = std::move(s->sub);
  }
  if (sub != nullptr) {
    bool ours;
    {
      MutexLock lock(&subs_mu_);
      ours = subs_.erase(sub) > 0;
    }
    // Not after StopStarting, which ended it already.
    if (ours) hub_->Unsubscribe(sub);
  }
  ZR_LOG(INFO) << "translator '" << s->request.translator()
               << "' stopped watching invalidations";
  registry_.Remove(s);
}

}  // namespace zeoraid::raidcore
