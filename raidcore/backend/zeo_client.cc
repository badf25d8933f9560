#include "raidcore/backend/zeo_client.h"

#include <algorithm>
#include <array>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "net/buffered_source.h"
#include "net/frame_reader.h"
#include "zeo/message.h"
#include "zeo/pickle.h"

namespace zeoraid::raidcore {

absl::StatusOr<std::unique_ptr<ZeoClient>> ZeoClient::Connect(
    const ZeoClientOptions& options) {
  absl::StatusOr<net::Socket> socket =
      net::Connect(options.address, options.connect_timeout);
  if (!socket.ok()) return socket.status();
  // The server speaks first: its protocol identifier (Z5 pickle, M5 msgpack).
  absl::StatusOr<std::string> hello =
      net::ReadFrame(*socket, 64, options.connect_timeout);
  if (!hello.ok()) {
    return absl::Status(hello.status().code(),
                        absl::StrCat("handshake from ", options.address, ": ",
                                     hello.status().message()));
  }
  // As ZEO 5.4+ clients: protocol 5 only, answered with the server's letter,
  // whose encoding both sides then use.
  if (*hello != "Z5" && *hello != "M5") {
    return absl::FailedPreconditionError(
        absl::StrCat("backend ", options.address, " announced protocol '",
                     *hello, "'; only ZEO 5 (Z5 or M5) is spoken"));
  }
  absl::Status st = net::WriteFrame(*socket, *hello, options.connect_timeout);
  if (!st.ok()) return st;

  std::unique_ptr<ZeoClient> client(new ZeoClient(
      options, std::move(*socket),
      *hello == "M5" ? zeo::Encoding::kMsgpack : zeo::Encoding::kPickle));
  client->reader_ = std::thread([c = client.get()] { c->ReadLoop(); });

  absl::StatusOr<ZeoReply> reg = client->Call(
      "register", {zeo::Value::Str(options.storage), zeo::Value::Bool(false)},
      options.connect_timeout);
  if (reg.ok() && reg->is_error &&
      absl::EndsWith(reg->error_class, "ReadOnlyError")) {
    // A read-only server (or storage): register read-only, as a ZEO client
    // with read_only_fallback does; the RAID then serves read-only clients.
    client->read_only_ = true;
    reg = client->Call(
        "register", {zeo::Value::Str(options.storage), zeo::Value::Bool(true)},
        options.connect_timeout);
  }
  if (!reg.ok()) return reg.status();
  if (reg->is_error) {
    return absl::FailedPreconditionError(absl::StrCat(
        "backend ", options.address, " refused register('", options.storage,
        "'): ", reg->error_class, " ", reg->value.DebugString()));
  }
  if (!reg->value.is_bytes() || reg->value.string_value().size() != 8) {
    return absl::FailedPreconditionError(
        absl::StrCat("backend ", options.address, " answered register with ",
                     reg->value.DebugString()));
  }
  client->registered_tid_ = reg->value.string_value();
  // Mirroring commits every transaction with the tid raidcore chose, which a
  // ZEO server passes on as storage.tpc_begin(txn, tid, status): only a storage
  // that can restore takes that (a MappingStorage raises TypeError at every
  // vote). Refuse such a backend now, with the reason, rather than then.
  absl::StatusOr<ZeoReply> info =
      client->Call("get_info", {}, options.connect_timeout);
  if (!info.ok()) return info.status();
  const zeo::Value* interfaces =
      info->is_error ? nullptr : info->value.Find("interfaces");
  if (interfaces != nullptr && interfaces->is_sequence()) {
    bool restoreable = false;
    for (const zeo::Value& iface : interfaces->items()) {
      if (iface.is_sequence() && iface.items().size() == 2 &&
          iface.items()[1].string_value() == "IStorageRestoreable") {
        restoreable = true;
      }
      if (iface.is_sequence() && iface.items().size() == 2 &&
          iface.items()[1].string_value() == "IBlobStorage") {
        client->blobs_ = true;
      }
    }
    if (!restoreable) {
      return absl::FailedPreconditionError(absl::StrCat(
          "backend ", options.address,
          " serves a storage that cannot commit "
          "a transaction with a given tid (it does not provide "
          "ZODB.interfaces.IStorageRestoreable, e.g. a MappingStorage); "
          "mirrors need one that does, such as a FileStorage"));
    }
  }
  return client;
}

ZeoClient::ZeoClient(ZeoClientOptions options, net::Socket socket,
                     zeo::Encoding encoding)
    : options_(std::move(options)),
      socket_(std::move(socket)),
      encoding_(encoding) {}

ZeoClient::~ZeoClient() {
  Close();
  if (reader_.joinable()) reader_.join();
}

zeo::Value ZeoClient::last_info() const {
  MutexLock lock(&mu_);
  return last_info_;
}

absl::Time ZeoClient::last_heard() const {
  const int64_t ns = last_heard_ns_.load(std::memory_order_relaxed);
  return ns == 0 ? absl::InfinitePast() : absl::FromUnixNanos(ns);
}

bool ZeoClient::alive() const {
  MutexLock lock(&mu_);
  return broken_.ok();
}

void ZeoClient::Close() {
  Fail(absl::UnavailableError(
      absl::StrCat("connection to ", options_.label, " closed")));
}

void ZeoClient::Fail(const absl::Status& status) {
  std::map<int64_t, Callback> callbacks;
  absl::Status broken;
  {
    MutexLock lock(&mu_);
    if (broken_.ok()) broken_ = status;
    broken = broken_;
    for (auto& [id, pending] : pending_) {
      pending->done = true;
      pending->reply = broken_;
      pending->cv.Signal();  // under mu_: the waiter may destroy it after
    }
    pending_.clear();
    callbacks.swap(callbacks_);
  }
  socket_.Shutdown();
  for (auto& [id, callback] : callbacks) Complete(std::move(callback), broken);
}

AlarmThread& ZeoClient::Deadlines() {
  static AlarmThread* const deadlines = new AlarmThread();
  return *deadlines;
}

void ZeoClient::Complete(Callback callback, absl::StatusOr<ZeoReply> reply,
                         bool from_alarm) {
  // Cancelled before `done` runs: once Cancel returns the alarm can no longer
  // touch this client (it waits for a running alarm).
  if (!from_alarm && callback.alarm != 0) Deadlines().Cancel(callback.alarm);
  if (options_.call_observer) {
    options_.call_observer(callback.method, absl::Now() - callback.start,
                           !reply.ok());
  }
  callback.done(std::move(reply));
}

absl::Status ZeoClient::Write(const std::string& payload) {
  MutexLock lock(&write_mu_);
  // A backend that stops reading (SIGSTOP, overload) must not block writers
  // beyond a call's timeout.
  if (queued_.empty()) {
    return net::WriteFrame(socket_, payload, options_.call_timeout);
  }
  // The queued frames, this frame's prefix, then its payload (not copied).
  const std::array<char, 4> prefix =
      net::EncodeFrameLength(static_cast<uint32_t>(payload.size()));
  queued_.append(prefix.data(), prefix.size());
  absl::Status st =
      net::WriteAll(socket_, queued_, payload, options_.call_timeout);
  ClearQueuedLocked();
  return st;
}

absl::Status ZeoClient::WriteQueuedLocked() {
  if (queued_.empty()) return absl::OkStatus();
  absl::Status st = net::WriteAll(socket_, queued_, {}, options_.call_timeout);
  ClearQueuedLocked();
  return st;
}

void ZeoClient::ClearQueuedLocked() {
  queued_.clear();
  // A big frame (a large record) may have grown it: give that back.
  if (queued_.capacity() > 4 * kQueuedBytes) queued_.shrink_to_fit();
}

void ZeoClient::ReadLoop() {
  // A chunk at a time: a frame read alone costs two system calls, and a
  // server's answers often come several together (tpc_finish's `info` and
  // its reply, a burst of loads' answers).
  net::BufferedSource source(std::make_unique<net::SocketSource>(&socket_));
  net::FrameReaderOptions frame_options;
  frame_options.max_frame_bytes = options_.limits.max_frame_bytes;
  // A backend silent mid-frame is the heartbeat's to judge, as between frames.
  frame_options.stall_timeout = absl::InfiniteDuration();
  net::FrameReader reader(&source, frame_options);
  while (true) {
    absl::StatusOr<net::Frame> frame = reader.Next(absl::InfiniteDuration());
    if (!frame.ok()) {
      Fail(absl::UnavailableError(absl::StrCat("backend ", options_.label, ": ",
                                               frame.status().message())));
      return;
    }
    last_heard_ns_.store(absl::GetCurrentTimeNanos(),
                         std::memory_order_relaxed);
    absl::StatusOr<zeo::Message> message = zeo::DecodeMessage(
        frame->payload, encoding_, options_.limits, zeo::GlobalPolicy::kClient);
    if (!message.ok()) {
      // A reply we cannot read would leave its caller waiting: fail everything.
      ZR_LOG(ERROR) << "backend " << options_.label
                    << " sent an undecodable frame: " << message.status();
      Fail(absl::DataLossError(absl::StrCat(
          "backend ", options_.label,
          " sent an undecodable frame: ", message.status().message())));
      return;
    }
    if (!message->is_reply() &&
        absl::StartsWith(message->name, "receiveBlob")) {
      ReceiveBlob(*message);
      continue;
    }
    if (!message->is_reply()) {
      // The server's info callback precedes its tpc_finish (or pack) reply, so
      // a caller sees it once that reply is in. raidcore is the only writer:
      // invalidateTransaction never concerns it.
      if (message->name == "info" && message->args.is_sequence() &&
          !message->args.items().empty()) {
        MutexLock lock(&mu_);
        last_info_ = message->args.items()[0];
      }
      ZR_LOG(DEBUG) << "backend " << options_.label << " callback "
                    << message->name;
      continue;
    }
    if (!message->msgid.is_int()) {
      ZR_LOG(WARNING) << "backend " << options_.label
                      << " replied with an unknown msgid "
                      << message->msgid.DebugString();
      continue;
    }
    ZeoReply reply;
    if (message->is_error_reply()) {
      const zeo::Value& args = message->args;
      if (args.is_sequence() && args.items().size() == 2 &&
          args.items()[0].is_str()) {
        reply =
            ZeoReply::Error(args.items()[0].string_value(), args.items()[1]);
      } else {
        reply = ZeoReply::Error("builtins.Exception", args);
      }
    } else {
      reply = ZeoReply::Result(std::move(message->args));
    }
    const int64_t msgid = message->msgid.int_value();
    std::optional<Callback> callback;
    {
      MutexLock lock(&mu_);
      if (auto it = pending_.find(msgid); it != pending_.end()) {
        it->second->done = true;
        it->second->reply = std::move(reply);
        // Only its caller wakes; under mu_, since the caller may destroy the
        // Pending as soon as it sees it done.
        it->second->cv.Signal();
        pending_.erase(it);
        continue;
      }
      auto it = callbacks_.find(msgid);
      if (it == callbacks_.end()) continue;  // the caller timed out
      callback = std::move(it->second);
      callbacks_.erase(it);
    }
    Complete(std::move(*callback), std::move(reply));  // not under mu_
  }
}

void ZeoClient::ReceiveBlob(const zeo::Message& message) {
  // receiveBlobStart(oid, serial), receiveBlobChunk(oid, serial, chunk),
  // receiveBlobStop(oid, serial).
  const zeo::Value::Items& args = message.args.items();
  MutexLock lock(&mu_);
  if (!blob_sink_.has_value() || args.size() < 2 ||
      args[0] != zeo::Value::Bytes(blob_sink_->oid) ||
      args[1] != zeo::Value::Bytes(blob_sink_->serial)) {
    ZR_LOG(WARNING) << "backend " << options_.label << " sent " << message.name
                    << " for a blob nobody asked for";
    return;
  }
  BlobSink& sink = *blob_sink_;
  if (message.name == "receiveBlobStart") {
    sink.started = true;
  } else if (message.name == "receiveBlobChunk" && args.size() == 3 &&
             args[2].is_bytes() && sink.started && !sink.stopped) {
    // Under mu_: SendBlob's caller may destroy `into` once the transfer is
    // over, which it learns under mu_.
    if (sink.status.ok())
      sink.status = sink.into->Append(args[2].string_value());
  } else if (message.name == "receiveBlobStop" && sink.started) {
    sink.stopped = true;
  } else {
    ZR_LOG(WARNING) << "backend " << options_.label << " sent a malformed "
                    << message.name;
    if (sink.status.ok()) {
      sink.status = absl::DataLossError(absl::StrCat(
          "backend ", options_.label, " sent a malformed ", message.name));
    }
  }
}

absl::StatusOr<ZeoReply> ZeoClient::SendBlob(const std::string& oid,
                                             const std::string& serial,
                                             SpoolFile* into,
                                             absl::Duration timeout) {
  MutexLock transfer(&blob_mu_);
  {
    MutexLock lock(&mu_);
    blob_sink_ = BlobSink{oid, serial, into};
  }
  absl::StatusOr<ZeoReply> reply = Call(
      "sendBlob", {zeo::Value::Bytes(oid), zeo::Value::Bytes(serial)}, timeout);
  BlobSink sink;
  {
    MutexLock lock(&mu_);
    sink = std::move(*blob_sink_);
    blob_sink_.reset();
  }
  if (!reply.ok() || reply->is_error) return reply;
  if (absl::IsResourceExhausted(sink.status)) return sink.status;
  if (!sink.status.ok() || !sink.stopped) {
    // The server's answer came without the whole blob before it.
    absl::Status err = sink.status.ok()
                           ? absl::DataLossError(absl::StrCat(
                                 "backend ", options_.label,
                                 " answered sendBlob without sending the blob"))
                           : sink.status;
    Fail(err);
    return err;
  }
  return reply;
}

namespace {

// What a call that cannot be encoded for this backend is answered with. The
// text names no backend: mirrors that speak the same encoding must answer
// alike, or the commit coordinator would see them disagree.
ZeoReply Unencodable(absl::string_view method, const absl::Status& why) {
  return ZeoReply::Error(
      "ZODB.POSException.StorageError",
      zeo::Value::Tuple({zeo::Value::Str(
          absl::StrCat("the backend speaks msgpack, which cannot carry this ",
                       method, ": ", why.message()))}));
}

}  // namespace

absl::StatusOr<std::string> ZeoClient::Encode(const zeo::Message& message) {
  // Values msgpack cannot carry (objects, lone surrogates, huge ints) would
  // be written as None: refuse the call rather than store something else.
  absl::StatusOr<std::string> payload =
      zeo::TryEncodeMessage(message, encoding_);
  if (!payload.ok()) WarnUnencodable(message.name, payload.status());
  return payload;
}

void ZeoClient::WarnUnencodable(absl::string_view method,
                                const absl::Status& why) const {
  ZR_LOG(WARNING) << "backend " << options_.label << ": cannot send " << method
                  << ": " << why.message();
}

// A call sent to the backend: its Pending is registered with the client
// until answered, failed, or forgotten.
class ZeoClient::InFlight final : public BackendConnection::PendingCall {
 public:
  InFlight(ZeoClient* client, std::string method, absl::Duration timeout)
      : client_(client),
        method_(std::move(method)),
        timeout_(timeout),
        deadline_(CondVar::DeadlineAfter(timeout)),
        start_(absl::Now()) {}
  ~InFlight() override {
    if (registered_ && !awaited_) client_->Forget(msgid_);
  }
  absl::StatusOr<ZeoReply> Await() override {
    if (!registered_) return std::move(immediate_);
    awaited_ = true;
    absl::StatusOr<ZeoReply> reply =
        client_->AwaitReply(msgid_, &pending_, deadline_, method_, timeout_);
    if (client_->options_.call_observer) {
      client_->options_.call_observer(method_, absl::Now() - start_,
                                      !reply.ok());
    }
    return reply;
  }

 private:
  friend class ZeoClient;
  ZeoClient* const client_;
  const std::string method_;
  const absl::Duration timeout_;
  const std::chrono::steady_clock::time_point deadline_;
  const absl::Time start_;
  int64_t msgid_ = 0;
  bool registered_ = false;  // pending_ is in the client's map
  bool awaited_ = false;
  Pending pending_;
  // The answer when the call was never sent (broken connection, unencodable).
  absl::StatusOr<ZeoReply> immediate_ = absl::UnknownError("not sent");
};

std::optional<ZeoReply> ZeoClient::TakeUnsentLocked(absl::string_view method) {
  // A one-way call of this transaction could not be sent: its vote or
  // finish gets that error instead (as ZEO reports a failed one-way call at
  // the next synchronous one); an abort is sent, and harmless. A read that
  // goes out meanwhile on this connection (a transaction's calls may go out
  // well before its vote) is not the transaction's: it leaves the error.
  if (!unsent_.has_value()) return std::nullopt;
  if (method != "vote" && method != "tpc_finish" && method != "tpc_abort") {
    return std::nullopt;
  }
  std::optional<ZeoReply> error = std::move(unsent_);
  unsent_.reset();
  if (method == "tpc_abort") return std::nullopt;
  return error;
}

absl::StatusOr<ZeoReply> ZeoClient::Call(absl::string_view method,
                                         zeo::Value::Items args,
                                         absl::Duration timeout) {
  return Start(method, std::move(args), timeout)->Await();
}

std::unique_ptr<BackendConnection::PendingCall> ZeoClient::Start(
    absl::string_view method, zeo::Value::Items args, absl::Duration timeout) {
  auto call = std::make_unique<InFlight>(this, std::string(method), timeout);
  int64_t msgid;
  {
    MutexLock lock(&mu_);
    if (!broken_.ok()) {
      call->immediate_ = broken_;
      return call;
    }
    if (std::optional<ZeoReply> error = TakeUnsentLocked(method)) {
      call->immediate_ = std::move(*error);
      return call;
    }
    msgid = next_msgid_++;
  }
  absl::StatusOr<std::string> payload = Encode(zeo::MakeCall(
      zeo::Value::Int(msgid), std::string(method), std::move(args)));
  if (!payload.ok()) {
    call->immediate_ = Unencodable(method, payload.status());
    return call;
  }
  {
    MutexLock lock(&mu_);
    if (!broken_.ok()) {
      call->immediate_ = broken_;
      return call;
    }
    call->msgid_ = msgid;
    call->registered_ = true;
    pending_[msgid] = &call->pending_;
  }
  absl::Status st = Write(*payload);
  if (!st.ok()) Fail(st);  // answers the pending call with the failure
  return call;
}

void ZeoClient::StartThen(absl::string_view method, zeo::Value::Items args,
                          absl::Duration timeout, ReplyCallback done) {
  Callback callback{std::move(done), std::string(method), absl::Now()};
  int64_t msgid = 0;
  absl::Status broken;
  std::optional<ZeoReply> unsent;
  {
    MutexLock lock(&mu_);
    broken = broken_;
    if (broken.ok()) msgid = next_msgid_++;
    // Reads, which may run beside the transaction, go on regardless of its
    // unsent one-way call.
    if (broken.ok() &&
        (method == "vote" || method == "tpc_finish" || method == "tpc_abort")) {
      unsent = TakeUnsentLocked(method);
    }
  }
  if (!broken.ok()) {
    Complete(std::move(callback), broken);
    return;
  }
  if (unsent.has_value()) {
    Complete(std::move(callback), std::move(*unsent));
    return;
  }
  absl::StatusOr<std::string> payload = Encode(zeo::MakeCall(
      zeo::Value::Int(msgid), std::string(method), std::move(args)));
  if (!payload.ok()) {
    Complete(std::move(callback), Unencodable(method, payload.status()));
    return;
  }
  // Armed before the call is registered, so that every registered call has
  // its alarm id (see callbacks_). A late answer fails the connection, as a
  // late Call does: the server may still be acting on it.
  callback.alarm = Deadlines().Schedule(timeout, [this, msgid, timeout] {
    std::optional<Callback> late;
    {
      MutexLock lock(&mu_);
      auto it = callbacks_.find(msgid);
      if (it == callbacks_.end()) return;
      late = std::move(it->second);
      callbacks_.erase(it);
    }
    absl::Status err = absl::DeadlineExceededError(
        absl::StrCat("backend ", options_.label, ": ", late->method,
                     " did not answer within ", absl::FormatDuration(timeout)));
    Complete(std::move(*late), err, /*from_alarm=*/true);
    Fail(err);
  });
  {
    MutexLock lock(&mu_);
    broken = broken_;
    if (broken.ok()) callbacks_.emplace(msgid, std::move(callback));
  }
  if (!broken.ok()) {
    Complete(std::move(callback), broken);
    return;
  }
  absl::Status st = Write(*payload);
  if (!st.ok()) Fail(st);  // answers the call with the failure
}

absl::StatusOr<ZeoReply> ZeoClient::AwaitReply(
    int64_t msgid, Pending* pending,
    std::chrono::steady_clock::time_point deadline, absl::string_view method,
    absl::Duration timeout) {
  bool timed_out = false;
  {
    MutexLock lock(&mu_);
    while (!pending->done) {
      if (!pending->cv.WaitUntil(&mu_, deadline) && !pending->done) {
        pending_.erase(msgid);
        timed_out = true;
        break;
      }
    }
  }
  if (timed_out) {
    // The server may still act on the call (a vote may still lock): the only
    // safe state is a closed connection, which makes the server abort.
    absl::Status err = absl::DeadlineExceededError(
        absl::StrCat("backend ", options_.label, ": ", method,
                     " did not answer within ", absl::FormatDuration(timeout)));
    Fail(err);
    return err;
  }
  return std::move(pending->reply);
}

void ZeoClient::Forget(int64_t msgid) {
  MutexLock lock(&mu_);
  pending_.erase(msgid);
}

absl::Status ZeoClient::Send(absl::string_view method, zeo::Value::Items args) {
  OneWayCall call(std::string(method), std::move(args));
  return SendOneWay(call, /*queue=*/false);
}

absl::Status ZeoClient::Queue(absl::string_view method,
                              zeo::Value::Items args) {
  OneWayCall call(std::string(method), std::move(args));
  return SendOneWay(call, /*queue=*/true);
}

absl::Status ZeoClient::QueueCall(OneWayCall& call) {
  return SendOneWay(call, /*queue=*/true);
}

absl::Status ZeoClient::Flush() {
  absl::Status st;
  {
    MutexLock lock(&write_mu_);
    st = WriteQueuedLocked();
  }
  if (!st.ok()) Fail(st);
  return st;
}

absl::Status ZeoClient::SendOneWay(OneWayCall& call, bool queue) {
  {
    MutexLock lock(&mu_);
    if (!broken_.ok()) return broken_;
    // The rest of a transaction whose tpc_begin or store was not sent.
    if (unsent_.has_value()) return absl::OkStatus();
  }
  const absl::StatusOr<std::string>& payload = call.Payload(encoding_);
  if (!payload.ok()) {
    WarnUnencodable(call.method(), payload.status());
    MutexLock lock(&mu_);
    unsent_ = Unencodable(call.method(), payload.status());
    return absl::OkStatus();
  }
  absl::Status st;
  if (queue) {
    MutexLock lock(&write_mu_);
    net::AppendFrame(&queued_, *payload);
    if (queued_.size() < kQueuedBytes) return absl::OkStatus();
    st = WriteQueuedLocked();
  } else {
    st = Write(*payload);
  }
  if (!st.ok()) Fail(st);
  return st;
}

absl::StatusOr<std::shared_ptr<BackendConnection>> ZeoClientFactory::Connect(
    const std::string& name) {
  return ConnectWithin(name, absl::InfiniteDuration());
}

absl::StatusOr<std::shared_ptr<BackendConnection>>
ZeoClientFactory::ConnectWithin(const std::string& name,
                                absl::Duration timeout) {
  ZeoClientOptions options;
  {
    MutexLock lock(&mu_);
    auto it = backends_.find(name);
    if (it == backends_.end()) {
      return absl::NotFoundError(absl::StrCat("no backend named '", name, "'"));
    }
    options = it->second;
  }
  options.connect_timeout = std::min(options.connect_timeout, timeout);
  absl::StatusOr<std::unique_ptr<ZeoClient>> client =
      ZeoClient::Connect(options);
  if (!client.ok()) return client.status();
  // The last reference may go on the connection's own reader thread (a
  // commit's continuation holding a backend the RAID has just dropped); the
  // destructor joins that thread, so it then runs on a thread of its own.
  return std::shared_ptr<BackendConnection>(
      client->release(), [](BackendConnection* connection) {
        auto* zeo = static_cast<ZeoClient*>(connection);
        if (zeo->OnReaderThread()) {
          std::thread([zeo] { delete zeo; }).detach();
        } else {
          delete zeo;
        }
      });
}

void ZeoClientFactory::Set(const std::string& name, ZeoClientOptions options) {
  MutexLock lock(&mu_);
  backends_[name] = std::move(options);
}

void ZeoClientFactory::Erase(const std::string& name) {
  MutexLock lock(&mu_);
  backends_.erase(name);
}

}  // namespace zeoraid::raidcore
