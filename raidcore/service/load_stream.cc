#include "raidcore/service/load_stream.h"

#include <deque>
#include <utility>

#include "base/logging.h"

namespace zeoraid::raidcore {

class LoadStreamServer::Stream {
 public:
  explicit Stream(LoadStreamServer* s) : server(s) {}
  LoadStreamServer* const server;
  grpc::ServerContext context;
  grpc::ServerAsyncReaderWriter<v1::LoadBeforeStreamResponse,
                                v1::LoadBeforeStreamRequest>
      io{&context};
  // Filled by the outstanding Read.
  v1::LoadBeforeStreamRequest incoming;
  Op accept_op{this, Op::kAccept};
  Op read_op{this, Op::kRead};
  Op write_op{this, Op::kWrite};
  Op finish_op{this, Op::kFinish};
  void OnEvent(Op::Kind kind, bool ok) { server->Handle(this, kind, ok); }

  Mutex mu;
  bool reading ABSL_GUARDED_BY(mu) = false;     // a Read is outstanding
  bool reads_done ABSL_GUARDED_BY(mu) = false;  // half-closed or broken
  bool writing ABSL_GUARDED_BY(mu) = false;     // a Write is outstanding
  bool broken ABSL_GUARDED_BY(mu) = false;      // a Write failed
  bool finishing ABSL_GUARDED_BY(mu) = false;   // Finish started
  int loads ABSL_GUARDED_BY(mu) = 0;            // loads not yet answered
  // The one load running came alone: the next Read waits until its answer is
  // being written, so that gRPC's flow-control update for the request goes
  // out with the answer instead of in a packet (and a wake-up) of its own.
  bool read_with_answer ABSL_GUARDED_BY(mu) = false;
  // Answers waiting to be written; the front one is being written.
  std::deque<v1::LoadBeforeStreamResponse> outbox ABSL_GUARDED_BY(mu);
};

LoadStreamServer::LoadStreamServer(StorageService* service,
                                   grpc::ServerCompletionQueue* cq)
    : service_(service), cq_(cq) {}

LoadStreamServer::~LoadStreamServer() = default;

void LoadStreamServer::Start() { Accept(); }

void LoadStreamServer::StopStarting() {
  // Loads in flight end within their backend timeout; their answers are
  // dropped (no operation starts any more) but they use the streams.
  registry_.StopStarting();
}

void LoadStreamServer::Accept() {
  auto* s = new Stream(this);
  registry_.Accept(s, [&] {
    service_->RequestLoadBeforeStream(&s->context, &s->io, cq_, cq_,
                                      &s->accept_op);
  });
}

void LoadStreamServer::Handle(Stream* s, Op::Kind kind, bool ok) {
  switch (kind) {
    case Op::kAccept:
      if (!ok) break;  // shutting down: the stream never started
      Accept();
      {
        MutexLock lock(&s->mu);
        Pump(s);
      }
      return;
    case Op::kRead:
      OnRead(s, ok);
      return;
    case Op::kWrite:
      OnWritten(s, ok);
      return;
    case Op::kFinish:
      break;
    case Op::kDone:
      return;  // not asked for
  }
  registry_.Remove(s);
}

void LoadStreamServer::OnRead(Stream* s, bool ok) {
  v1::LoadBeforeStreamRequest request;
  {
    MutexLock lock(&s->mu);
    s->reading = false;
    const bool start = ok && registry_.BeginWork();
    if (!start) {
      s->reads_done = true;
      Pump(s);
      return;
    }
    request = std::move(s->incoming);
    ++s->loads;
    s->read_with_answer = request.alone() && s->loads == 1;
    Pump(s);  // else the next request is read while this one runs
  }
  const uint64_t id = request.id();
  service_->LoadBeforeThen(
      request.load(),
      [this, s, id](grpc::Status status, v1::LoadBeforeResponse response) {
        OnLoaded(s, id, std::move(status), std::move(response));
      });
}

void LoadStreamServer::OnLoaded(Stream* s, uint64_t id, grpc::Status status,
                                v1::LoadBeforeResponse response) {
  v1::LoadBeforeStreamResponse answer;
  answer.set_id(id);
  answer.set_code(status.error_code());
  if (status.ok()) {
    *answer.mutable_load() = std::move(response);
  } else {
    answer.set_message(status.error_message());
  }
  {
    MutexLock lock(&s->mu);
    --s->loads;
    if (!s->broken) s->outbox.push_back(std::move(answer));
    s->read_with_answer = false;
    Pump(s);
  }
  // Last: once StopStarting sees no load running, none touches a stream
  // again.
  registry_.EndWork();
}

void LoadStreamServer::OnWritten(Stream* s, bool ok) {
  MutexLock lock(&s->mu);
  s->writing = false;
  if (!s->outbox.empty()) s->outbox.pop_front();
  if (!ok) {
    // The translator went away: its answers have nowhere to go. Its Read
    // fails as well, which ends the stream once its loads are back.
    if (!s->broken) {
      ZR_LOG(DEBUG) << "a load stream broke while writing";
    }
    s->broken = true;
    s->outbox.clear();
  }
  Pump(s);
}

void LoadStreamServer::Pump(Stream* s) {
  s->mu.AssertHeld();
  if (s->finishing) return;
  registry_.StartOp([s] {
    s->mu.AssertHeld();  // Pump's caller holds it
    // The Write first: a Read posted while its write is under way has its
    // flow-control update sent in the same packet.
    if (!s->writing && !s->broken && !s->outbox.empty()) {
      s->writing = true;
      s->io.Write(s->outbox.front(), &s->write_op);
    }
    if (!s->reading && !s->reads_done && !s->read_with_answer &&
        s->loads < kMaxLoadsInFlight) {
      s->reading = true;
      s->io.Read(&s->incoming, &s->read_op);
    }
    if (s->reads_done && s->loads == 0 && !s->reading && !s->writing) {
      s->finishing = true;
      s->io.Finish(grpc::Status::OK, &s->finish_op);
    }
  });
}

}  // namespace zeoraid::raidcore
