#include "translator/load_stream_client.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/logging.h"

namespace zeoraid::translator {

struct LoadStreamClient::Waiter {
  bool done = false;
  grpc::Status status;
  v1::LoadBeforeResponse response;
  std::chrono::steady_clock::time_point deadline;
  // Failed because the stream ended (not by raidcore's answer).
  bool stream_ended = false;
  // Signalled when done, or when the lead is free for it to take.
  CondVar cv;
};

struct LoadStreamClient::Stream {
  // Reads one answer as the leader and hands it to its waiter; at the end of
  // the stream, fails every waiter. Releases mu while it reads.
  void Lead() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriterInterface<
      v1::LoadBeforeStreamRequest, v1::LoadBeforeStreamResponse>>
      io;

  Mutex write_mu;  // one writer at a time; also held for Finish

  Mutex mu;
  uint64_t next_id ABSL_GUARDED_BY(mu) = 1;
  // Calls waiting for their answer, by id. A waiter that gives up removes
  // itself; the leader removes the others as it answers them.
  std::map<uint64_t, Waiter*> waiters ABSL_GUARDED_BY(mu);
  bool leading ABSL_GUARDED_BY(mu) = false;  // a caller is in Read
  bool ended ABSL_GUARDED_BY(mu) = false;
  grpc::Status end_status ABSL_GUARDED_BY(mu);
  // The watchdog cancelled it: a call waited past its deadline.
  bool late ABSL_GUARDED_BY(mu) = false;
};

LoadStreamClient::LoadStreamClient(v1::Storage::StubInterface* stub)
    : stub_(stub), watchdog_([this] { Watch(); }) {}

LoadStreamClient::~LoadStreamClient() {
  std::shared_ptr<Stream> stream;
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    stream = std::move(current_);
  }
  stop_cv_.SignalAll();
  watchdog_.join();
  // Its leader, if any, then fails the calls left.
  if (stream != nullptr) stream->context.TryCancel();
}

void LoadStreamClient::Watch() {
  MutexLock lock(&mu_);
  while (!stopping_) {
    stop_cv_.WaitUntil(&mu_, CondVar::DeadlineAfter(absl::Seconds(1)));
    if (current_ == nullptr) continue;
    bool late = false;
    {
      MutexLock stream_lock(&current_->mu);
      const auto now = std::chrono::steady_clock::now();
      for (const auto& [id, waiter] : current_->waiters) {
        if (waiter->deadline < now) late = true;
      }
      current_->late = current_->late || late;
    }
    if (late) {
      ZR_LOG(WARNING) << "raidcore does not answer loads on the load stream: "
                         "cancelling it";
      current_->context.TryCancel();
    }
  }
}

std::shared_ptr<LoadStreamClient::Stream> LoadStreamClient::Current() {
  MutexLock lock(&mu_);
  if (current_ != nullptr) {
    MutexLock stream_lock(&current_->mu);
    if (!current_->ended) return current_;
  }
  auto stream = std::make_shared<Stream>();
  // No deadline: the stream lives as long as raidcore does; each call has
  // its own timeout.
  stream->io = stub_->LoadBeforeStream(&stream->context);
  current_ = stream;
  return stream;
}

void LoadStreamClient::Stream::Lead() {
  leading = true;
  v1::LoadBeforeStreamResponse answer;
  mu.Unlock();
  const bool ok = io->Read(&answer);
  grpc::Status why;
  if (!ok) {
    MutexLock lock(&write_mu);
    why = io->Finish();
    if (why.ok()) {
      why = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                         "raidcore ended the load stream");
    }
  }
  mu.Lock();
  leading = false;
  if (!ok) {
    if (late) {
      why = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                         "raidcore did not answer a load in time: load "
                         "stream cancelled");
    }
    if (why.error_code() != grpc::StatusCode::CANCELLED &&
        why.error_code() != grpc::StatusCode::UNIMPLEMENTED) {
      ZR_LOG(WARNING) << "load stream to raidcore ended: "
                      << why.error_message();
    }
    ended = true;
    end_status = why;
    for (auto& [id, waiter] : waiters) {
      waiter->status = why;
      waiter->stream_ended = true;
      waiter->done = true;
      waiter->cv.Signal();
    }
    waiters.clear();
    return;
  }
  auto it = waiters.find(answer.id());
  if (it == waiters.end()) return;  // its caller gave up
  Waiter* waiter = it->second;
  waiters.erase(it);
  if (answer.code() == grpc::StatusCode::OK) {
    waiter->response = std::move(*answer.mutable_load());
  } else {
    waiter->status = grpc::Status(static_cast<grpc::StatusCode>(answer.code()),
                                  answer.message());
  }
  waiter->done = true;
  waiter->cv.Signal();  // under mu: the waiter may go as soon as it is done
}

grpc::Status LoadStreamClient::LoadBefore(const v1::LoadBeforeRequest& request,
                                          v1::LoadBeforeResponse* response,
                                          absl::Duration timeout) {
  {
    MutexLock lock(&mu_);
    if (unsupported_) {
      return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                          "raidcore has no LoadBeforeStream");
    }
  }
  const auto deadline = CondVar::DeadlineAfter(timeout);
  grpc::Status status;
  // A stream is found dead only when used: a load that fails because its
  // stream had ended (raidcore restarted since it was opened) is sent once
  // more, on a new stream. A load is a read: asking twice is harmless.
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool stream_ended = false;
    status = Attempt(request, response, deadline, timeout, &stream_ended);
    const grpc::StatusCode code = status.error_code();
    if (!stream_ended || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
        code == grpc::StatusCode::CANCELLED ||
        code == grpc::StatusCode::UNIMPLEMENTED) {
      break;
    }
  }
  if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    MutexLock lock(&mu_);
    if (!unsupported_) {
      ZR_LOG(WARNING) << "raidcore has no LoadBeforeStream (older version): "
                         "loads go as unary calls";
    }
    unsupported_ = true;
  }
  return status;
}

grpc::Status LoadStreamClient::Attempt(
    const v1::LoadBeforeRequest& request, v1::LoadBeforeResponse* response,
    std::chrono::steady_clock::time_point deadline, absl::Duration timeout,
    bool* stream_ended) {
  std::shared_ptr<Stream> stream = Current();
  Waiter waiter;
  waiter.deadline = deadline;
  v1::LoadBeforeStreamRequest call;
  {
    MutexLock lock(&stream->mu);
    if (stream->ended) {
      *stream_ended = true;
      return stream->end_status;
    }
    call.set_id(stream->next_id++);
    // Alone: raidcore may hold its next read back until it answers this one
    // (see the proto); with others in flight it reads on at once.
    call.set_alone(stream->waiters.empty());
    stream->waiters[call.id()] = &waiter;
  }
  *call.mutable_load() = request;
  {
    // A failed write means the stream ended: its leader then fails every
    // waiter, this one included.
    MutexLock lock(&stream->write_mu);
    stream->io->Write(call);
  }
  {
    MutexLock lock(&stream->mu);
    while (!waiter.done) {
      if (!stream->leading) {
        stream->Lead();
        continue;
      }
      if (!waiter.cv.WaitUntil(&stream->mu, waiter.deadline) && !waiter.done &&
          stream->leading) {
        stream->waiters.erase(call.id());
        return grpc::Status(
            grpc::StatusCode::DEADLINE_EXCEEDED,
            absl::StrCat("raidcore did not answer loadBefore within ",
                         absl::FormatDuration(timeout)));
      }
    }
    // The lead is free and others still wait: one of them takes it.
    if (!stream->leading && !stream->waiters.empty()) {
      stream->waiters.begin()->second->cv.Signal();
    }
  }
  *stream_ended = waiter.stream_ended;
  *response = std::move(waiter.response);
  return waiter.status;
}

}  // namespace zeoraid::translator
