// ClientSession: the connection's life (handshake, reading calls, parking,
// leaving), its output in ZEO's order (replies, invalidations, the
// tpc_finish reply), dispatch and register. The calls themselves are in
// client_session_calls.cc (outside a transaction) and
// client_session_commit.cc (two-phase commit).
#include "translator/client_session.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "net/buffered_source.h"
#include "net/read_pump.h"
#include "translator/commit_stream.h"
#include "translator/session_transaction.h"
#include "translator/zeo_methods.h"
#include "zeo/msgpack.h"
#include "zeo/pickle.h"
#include "zeo/tid.h"

namespace zeoraid::translator {
namespace {

// Stands for the msgid of a call the client sent one-way although the method
// answers: ZEO sends no reply then, and neither do we. (Clients number their
// calls from 1; a one-way call carries 0.)
const zeo::Value& UnansweredMsgid() {
  static const zeo::Value* const kMsgid =
      new zeo::Value(zeo::Value::Int(-0x7fffffffffffffffLL));
  return *kMsgid;
}

// Bytes a TLS connection's reader may take ahead of its calls.
constexpr size_t kTlsReadAhead = 256 << 10;

using zeo::IsTid;
using zeo::Value;

// Calls a ZEO server refuses on a read-only connection (ZEOStorage's
// read_only checks: new_oids, tpc_begin, and everything that names a
// transaction).
bool IsWriteMethod(const std::string& name) {
  static const char* const kWrites[] = {
      "new_oids",        "tpc_begin",
      "storea",          "checkCurrentSerialInTransaction",
      "restorea",        "deleteObject",
      "undoa",           "storeBlobStart",
      "storeBlobChunk",  "storeBlobEnd",
      "storeBlobShared", "vote",
      "tpc_finish",      "tpc_abort"};
  for (const char* m : kWrites) {
    if (name == m) return true;
  }
  return false;
}

}  // namespace

ClientSession::ClientSession(uint64_t id, net::Socket socket, std::string peer,
                             v1::Storage::Stub* stub,
                             InvalidationFanout* fanout,
                             const SessionOptions& options)
    : id_(id),
      socket_(std::move(socket)),
      peer_(std::move(peer)),
      stub_(stub),
      fanout_(fanout),
      options_(options) {}

ClientSession::~ClientSession() = default;

std::unique_ptr<grpc::ClientContext> ClientSession::NewContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        absl::ToChronoNanoseconds(options_.rpc_timeout));
  return context;
}

ClientSession::ServeResult ClientSession::Serve() {
  if (!started_) {
    started_ = true;
    if (!Start()) {
      End();
      return ServeResult::kEnded;
    }
  }
  if (ServeCalls() == ServeResult::kParked) return ServeResult::kParked;
  End();
  return ServeResult::kEnded;
}

bool ClientSession::Start() {
  net::WriteQueueOptions queue_options;
  queue_options.max_bytes = options_.client_queue_bytes;
  queue_options.stall_timeout = options_.write_timeout;
  out_ = std::make_unique<net::WriteQueue>(
      socket_.fd(), queue_options, options_.flusher,
      [weak = weak_from_this()](const absl::Status& why) {
        if (auto self = weak.lock()) {
          if (self->options_.metrics != nullptr) {
            self->options_.metrics->CountCut(
                TranslatorMetrics::CutReason::kWriteStall);
          }
          self->Disconnect(absl::StrCat("cannot write to it: ", why.message()));
        }
      });
  handshake_deadline_ = absl::Now() + options_.handshake_timeout;
  const absl::Time handshake_deadline = handshake_deadline_;
  absl::Status st;
  if (options_.tls != nullptr) {
    auto tls =
        std::make_unique<net::TlsStream>(*options_.tls, &socket_, out_.get());
    st = tls->Handshake(handshake_deadline);
    if (st.ok()) {
      const std::string subject = tls->PeerSubject();
      ZR_LOG(DEBUG) << "connection " << id_ << " from " << peer_
                    << ": TLS established"
                    << (subject.empty() ? "" : ", client " + subject);
    } else if (st.code() == absl::StatusCode::kUnauthenticated) {
      ZR_LOG(WARNING) << "connection " << id_ << " from " << peer_ << ": "
                      << st.message() << "; closing";
    }
    tls_ = tls.get();
    // Read on a thread of its own: a closing TLS client waits for our
    // close_notify even while this thread waits in a call (a vote).
    source_ = std::make_unique<net::ReadPump>(std::move(tls), kTlsReadAhead,
                                              [this] { socket_.Shutdown(); });
  } else {
    // A chunk at a time: a client streaming a transaction's stores sends
    // frames of a hundred bytes, three reads each if read unbuffered.
    source_ = std::make_unique<net::BufferedSource>(
        std::make_unique<net::SocketSource>(&socket_));
  }
  net::FrameReaderOptions hello_options;
  hello_options.max_frame_bytes = 64;
  hello_options.stall_timeout = options_.read_stall_timeout;
  net::FrameReader hello_reader(source_.get(), hello_options);
  if (st.ok()) st = SendFrame(options_.msgpack ? "M5" : "Z5");
  absl::StatusOr<net::Frame> hello;
  if (st.ok()) hello = hello_reader.Next(options_.handshake_timeout);
  if (!st.ok() || !hello.ok()) {
    // Port probes (readiness checks, monitoring) look like this.
    ZR_LOG(DEBUG) << "connection " << id_ << " from " << peer_
                  << " closed during handshake: "
                  << (st.ok() ? hello.status() : st);
  } else if (hello->payload == "ruok") {
    AnswerStatusProbe();
  } else if (hello->payload.size() != 2 || hello->payload[1] != '5') {
    // As ZEO: any version but 5 is closed without a word.
    ZR_LOG(WARNING) << "connection " << id_ << " from " << peer_
                    << " sent unsupported handshake '" << hello->payload
                    << "'; closing";
  } else {
    // As ZEO's server: the client's letter chooses the encoding.
    encoding_ = hello->payload[0] == 'M' ? zeo::Encoding::kMsgpack
                                         : zeo::Encoding::kPickle;
    return true;
  }
  return false;
}

ClientSession::ServeResult ClientSession::ServeCalls() {
  net::FrameReaderOptions frame_options;
  frame_options.max_frame_bytes = options_.limits.max_frame_bytes;
  frame_options.stall_timeout = options_.read_stall_timeout;
  frame_options.budget = options_.frame_budget;
  // Holds nothing between frames: a parked session makes a new one.
  net::FrameReader reader(source_.get(), frame_options);
  while (true) {
    // Backpressure: a client that does not read its replies gets no more.
    absl::Status drained = out_->WaitBelow(
        options_.reply_backlog_bytes, absl::Now() + options_.write_timeout);
    if (!drained.ok()) {
      if (options_.metrics != nullptr) {
        options_.metrics->CountCut(TranslatorMetrics::CutReason::kWriteStall);
      }
      ZR_LOG(WARNING) << "connection " << id_ << " from " << peer_ << ": "
                      << drained.message() << "; closing";
      return ServeResult::kEnded;
    }
    // Until it registered, a connection gets what is left of the handshake
    // time; then it may idle for hours, as ZEO clients do, parked after
    // park_after when nothing else holds it here (a transaction's stream, a
    // TLS session's reader).
    const bool may_park = registered_ &&
                          options_.park_after > absl::ZeroDuration() &&
                          tls_ == nullptr && txn_ == nullptr;
    const absl::Duration idle = !registered_ ? handshake_deadline_ - absl::Now()
                                : may_park   ? options_.park_after
                                             : absl::InfiniteDuration();
    absl::StatusOr<std::optional<net::Frame>> next =
        reader.NextUnlessIdle(std::max(idle, absl::ZeroDuration()));
    if (next.ok() && !next->has_value()) {
      if (may_park) return ServeResult::kParked;
      next = absl::DeadlineExceededError(
          "did not register within the handshake timeout");
    }
    if (!next.ok()) {
      CountCut(next.status());
      if (next.status().code() != absl::StatusCode::kUnavailable ||
          !registered_) {
        ZR_LOG(WARNING) << "connection " << id_ << " from " << peer_ << ": "
                        << (registered_ ? "" : "before register: ")
                        << next.status().message() << "; closing";
      }
      return ServeResult::kEnded;
    }
    const net::Frame& frame = **next;
    // A big transaction's thousand stores skip the general decoder.
    if (encoding_ == zeo::Encoding::kPickle && txn_ != nullptr) {
      std::optional<zeo::StoreaFrame> storea =
          zeo::ParseStoreaPickle(frame.payload, options_.limits);
      if (storea.has_value()) {
        const absl::Time started = absl::Now();
        absl::Status handled;
        if (HandleFastStorea(*storea, &handled)) {
          static const std::string* const kStorea = new std::string("storea");
          if (!Handled(*kStorea, frame, started, handled)) {
            return ServeResult::kEnded;
          }
          continue;
        }
      }
    }
    absl::StatusOr<zeo::Message> message = zeo::DecodeMessage(
        frame.payload, encoding_, options_.limits, zeo::GlobalPolicy::kServer);
    if (!message.ok()) {
      ZR_LOG(WARNING) << "connection " << id_ << " from " << peer_
                      << " sent a bad frame (" << message.status().message()
                      << "); closing";
      return ServeResult::kEnded;
    }
    if (message->is_heartbeat()) continue;
    const absl::Time started = absl::Now();
    if (!Handled(message->name, frame, started, Dispatch(*message))) {
      return ServeResult::kEnded;
    }
  }
}

bool ClientSession::Handled(const std::string& name, const net::Frame& frame,
                            absl::Time started, const absl::Status& handled) {
  if (options_.metrics != nullptr) {
    options_.metrics->CountReceived(frame.payload.size() + 4);
    options_.metrics->ObserveCall(name, absl::Now() - started);
    if (!handled.ok()) {
      options_.metrics->CountError(TranslatorMetrics::ErrorKind::kProtocol);
    }
  }
  if (!handled.ok()) {
    ZR_LOG(WARNING) << "connection " << id_ << " from " << peer_ << " (" << name
                    << "): " << handled.message() << "; closing";
    return false;
  }
  return true;
}

void ClientSession::End() {
  fanout_->Remove(id_);
  {
    // First, so that a fan-out waiting on this connection moves on at once.
    MutexLock lock(&write_mu_);
    closed_ = true;
  }
  delivered_cv_.SignalAll();
  AbortTransaction();
  if (pack_thread_.joinable()) {
    // The client left: raidcore need not finish its pack for it.
    pack_context_->TryCancel();
    pack_thread_.join();
  }
  if (!iterators_.empty()) {
    v1::IterateRequest forget;
    for (const auto& [mine, theirs] : iterators_) {
      forget.mutable_forget()->add_ids(theirs);
    }
    v1::PickledResponse ignored;
    stub_->Iterate(NewContext().get(), forget, &ignored);
  }
  {
    MutexLock lock(&write_mu_);
    closed_ = true;
  }
  delivered_cv_.SignalAll();
  out_->Close();
  socket_.Shutdown();
  ZR_LOG(DEBUG) << "connection " << id_ << " from " << peer_ << " ended";
}

void ClientSession::CountCut(const absl::Status& why) const {
  if (options_.metrics == nullptr) return;
  using Reason = TranslatorMetrics::CutReason;
  switch (why.code()) {
    case absl::StatusCode::kDeadlineExceeded:
      options_.metrics->CountCut(registered_ ? Reason::kReadStall
                                             : Reason::kHandshakeTimeout);
      break;
    case absl::StatusCode::kResourceExhausted:
      options_.metrics->CountCut(Reason::kFrameBudget);
      break;
    default:
      break;
  }
}

void ClientSession::CloseLater(std::unique_ptr<Transaction> txn) {
  if (options_.pool == nullptr || txn->stream.reusable()) {
    txn->stream.Close();
    return;
  }
  // Closing waits for raidcore's end of the stream: not on the way of this
  // client's next call.
  std::shared_ptr<Transaction> shared(std::move(txn));
  options_.pool->Submit([shared] { shared->stream.Close(); });
}

void ClientSession::AbortTransaction() {
  if (txn_ == nullptr) return;
  // Cancelling the stream makes raidcore abort on every backend and free its
  // lock.
  txn_->stream.Cancel();
  txn_.reset();
}

void ClientSession::Disconnect(const std::string& reason) {
  {
    MutexLock lock(&write_mu_);
    if (closed_) return;  // already leaving
    closed_ = true;
  }
  ZR_LOG(INFO) << "disconnecting connection " << id_ << " from " << peer_
               << ": " << reason;
  delivered_cv_.SignalAll();
  socket_.Shutdown();
}

absl::Status ClientSession::SendFrame(absl::string_view payload) {
  return tls_ != nullptr ? tls_->WriteFrame(payload)
                         : out_->WriteFrame(payload);
}

absl::Status ClientSession::Write(const zeo::Message& message) {
  MutexLock lock(&write_mu_);
  if (closed_) return absl::UnavailableError("connection closed");
  return WriteLocked(message);
}

absl::Status ClientSession::WriteLocked(const zeo::Message& message) {
  if (message.is_reply() && message.msgid == UnansweredMsgid()) {
    return absl::OkStatus();  // the answer to a one-way call: not sent
  }
  const std::string payload = EncodeForClient(message);
  // Never blocks: a client that stops reading cannot stall the fan-out for
  // everyone; its queue fills and it is disconnected.
  absl::Status written = SendFrame(payload);
  if (written.ok() && options_.metrics != nullptr) {
    options_.metrics->CountSent(payload.size() + 4);
  }
  return written;
}

std::string ClientSession::EncodeForClient(const zeo::Message& message) const {
  absl::StatusOr<std::string> payload =
      zeo::TryEncodeMessage(message, encoding_);
  if (!payload.ok() && encoding_ == zeo::Encoding::kMsgpack) {
    // As ZEO's msgpack server: exceptions inside a value (MultipleUndoErrors)
    // go as (class path, state).
    zeo::Message converted = message;
    converted.args = zeo::ExceptionsAsTuples(message.args);
    payload = zeo::TryEncodeMessage(converted, encoding_);
  }
  if (!payload.ok()) {
    // What ZEO answers when a result cannot be encoded (e.g. an object in an
    // extension dict over msgpack).
    ZR_LOG(WARNING) << "connection " << id_ << ": cannot encode "
                    << message.name << ": " << payload.status().message();
    payload = zeo::EncodeMessage(
        zeo::MakeErrorReply(
            message.msgid, "builtins.ValueError",
            Value::Tuple({Value::Str("Couldn't pickle response")})),
        encoding_);
  }
  return *std::move(payload);
}

absl::Status ClientSession::SendFrames(absl::Span<const std::string> payloads) {
  absl::Status st;
  if (tls_ != nullptr) {
    for (const std::string& payload : payloads) {
      if (st.ok()) st = tls_->WriteFrame(payload);
    }
  } else {
    // One send for all: a client woken by the first frame would otherwise
    // often wake again for the next.
    std::string frames;
    for (const std::string& payload : payloads) {
      net::AppendFrame(&frames, payload);
    }
    st = out_->Write(frames);
  }
  if (st.ok() && options_.metrics != nullptr) {
    for (const std::string& payload : payloads) {
      options_.metrics->CountSent(payload.size() + 4);
    }
  }
  return st;
}

absl::Status ClientSession::Reply(const Value& msgid, Value result) {
  return Write(zeo::MakeReply(msgid, std::move(result)));
}

absl::Status ClientSession::ReplyError(const Value& msgid,
                                       const std::string& class_path,
                                       Value payload) {
  if (options_.metrics != nullptr) {
    options_.metrics->CountError(TranslatorMetrics::ErrorKind::kZeoError);
  }
  return Write(zeo::MakeErrorReply(msgid, class_path, std::move(payload)));
}

absl::Status ClientSession::ReplyZeoError(const Value& msgid,
                                          const v1::ZeoError& error) {
  absl::StatusOr<Value> payload = zeo::DecodePickle(
      error.payload_pickle(), options_.limits, zeo::GlobalPolicy::kClient);
  if (!payload.ok()) {
    payload = Value::Tuple({Value::Str(error.message())});
  }
  return ReplyError(msgid, error.class_path(), std::move(*payload));
}

absl::Status ClientSession::ReplyFrom(const Value& msgid,
                                      const grpc::Status& status,
                                      const v1::PickledResponse& response) {
  if (!status.ok()) return ReplyRpcFailure(msgid, status);
  if (response.has_error()) return ReplyZeoError(msgid, response.error());
  return ReplyPickled(msgid, response.result_pickle());
}

absl::Status ClientSession::ReplyPickled(const Value& msgid,
                                         const std::string& pickle) {
  absl::StatusOr<Value> value =
      zeo::DecodePickle(pickle, options_.limits, zeo::GlobalPolicy::kClient);
  if (!value.ok()) return ReplyUnreadable(msgid, value.status());
  return Reply(msgid, std::move(*value));
}

absl::Status ClientSession::ReplyUnreadable(const Value& msgid,
                                            const absl::Status& why) {
  return ReplyError(
      msgid, "ZODB.POSException.StorageError",
      Value::Tuple({Value::Str(absl::StrCat(
          "zeoraid: unreadable answer from raidcore: ", why.message()))}));
}

bool ClientSession::ReplacedSinceLocked(const std::string& oid,
                                        uint64_t snapshot) {
  return delivered_ > snapshot &&
         fanout_->recent_changes().ChangedBetween(oid, snapshot, delivered_) !=
             RecentChanges::Answer::kUnchanged;
}

absl::Status ClientSession::ReplyRpcFailure(const Value& msgid,
                                            const grpc::Status& status) {
  if (options_.metrics != nullptr) {
    options_.metrics->CountError(TranslatorMetrics::ErrorKind::kRaidcore);
  }
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
      status.error_code() == grpc::StatusCode::CANCELLED) {
    // The client treats a lost connection as transient (ClientDisconnected) and
    // reconnects; that is the right reaction to a raidcore it cannot reach.
    return absl::UnavailableError(
        absl::StrCat("raidcore unavailable: ", status.error_message()));
  }
  return Write(zeo::MakeErrorReply(
      msgid, "ZODB.POSException.StorageError",
      Value::Tuple(
          {Value::Str(absl::StrCat("zeoraid: ", status.error_message()))})));
}

void ClientSession::DeliverInvalidation(const std::string& tid,
                                        const std::vector<std::string>& oids) {
  uint64_t t = zeo::TidToUint64(tid);
  Value::Items oid_values;
  oid_values.reserve(oids.size());
  for (const std::string& oid : oids) oid_values.push_back(Value::Bytes(oid));
  MutexLock lock(&write_mu_);
  // Never a tid the client already knows (its own commit, or its register
  // reply).
  if (closed_ || t <= delivered_) return;
  absl::Status st = WriteLocked(
      zeo::MakeOneway("invalidateTransaction",
                      {Value::Bytes(tid), Value::List(std::move(oid_values))}));
  delivered_ = t;
  if (st.ok() && options_.metrics != nullptr) {
    options_.metrics->CountInvalidation();
  }
  if (!st.ok()) {
    // Half a frame may be out: the stream is unusable. The client reconnects.
    ZR_LOG(WARNING) << "connection " << id_ << " from " << peer_
                    << ": invalidation not delivered (" << st.message()
                    << "); disconnecting it";
    closed_ = true;
    socket_.Shutdown();
  }
}

void ClientSession::DeliverInfo(const Value& stats) {
  MutexLock lock(&write_mu_);
  if (closed_) return;
  absl::Status st = WriteLocked(zeo::MakeOneway("info", {stats}));
  if (!st.ok()) {
    closed_ = true;
    socket_.Shutdown();
  }
}

bool ClientSession::ReachedOwnCommit(const std::string& tid,
                                     absl::Duration timeout) {
  const uint64_t t = zeo::TidToUint64(tid);
  std::vector<std::pair<std::string, std::string>> records;
  {
    MutexLock lock(&write_mu_);
    own_reached_ = std::max(own_reached_, t);
    if (pending_finish_.has_value() && pending_finish_->tid == t) {
      // The session has raidcore's answer already and went on: the reply is
      // written here, before the fan-out moves past the tid.
      FinishReply reply = std::move(*pending_finish_);
      pending_finish_.reset();
      if (!closed_) {
        absl::Status st = WriteFinishReplyLocked(reply);
        if (!st.ok()) {
          ZR_LOG(DEBUG) << "connection " << id_
                        << ": tpc_finish reply not written: " << st;
        }
      }
      records = std::move(reply.records);
    }
  }
  if (!records.empty()) {
    // While the fan-out is at this tid, so the cache's last tid is this
    // transaction's.
    fanout_->cache().StoreCommitted(t, records);
  }
  auto deadline = CondVar::DeadlineAfter(timeout);
  MutexLock lock(&write_mu_);
  while (!closed_ && delivered_ < t) {
    if (!delivered_cv_.WaitUntil(&write_mu_, deadline)) {
      ZR_LOG(WARNING) << "connection " << id_
                      << " did not write its tpc_finish reply for "
                      << zeo::TidHex(tid) << " in time";
      return false;
    }
  }
  return true;
}

absl::Status ClientSession::WriteFinishReplyLocked(const FinishReply& reply) {
  // As ZEO: the committer hears the new storage statistics before the tid;
  // both frames go out in one send.
  std::vector<std::string> frames;
  if (reply.stats.is_dict()) {
    frames.push_back(EncodeForClient(zeo::MakeOneway("info", {reply.stats})));
  }
  frames.push_back(EncodeForClient(zeo::MakeReply(
      reply.msgid, Value::Bytes(zeo::TidFromUint64(reply.tid)))));
  absl::Status st = SendFrames(frames);
  delivered_ = std::max(delivered_, reply.tid);
  return st;
}

absl::Status ClientSession::Dispatch(const zeo::Message& message) {
  if (message.is_reply()) {
    return absl::InvalidArgumentError("a client sent a reply");
  }
  if (!message.args.is_sequence()) {
    return absl::InvalidArgumentError("arguments are not a tuple");
  }
  const std::string& name = message.name;
  if (!registered_) {
    if (name != "register") {
      return absl::FailedPreconditionError(
          absl::StrCat("'", name, "' called before register"));
    }
    return HandleRegister(message);
  }
  if (!IsZeoMethod(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid method '", name, "'"));
  }
  if (read_only_ && IsWriteMethod(name)) {
    // As ZEO: a read-only connection refuses every writing call; a one-way one
    // can only be refused by closing the connection.
    if (message.is_oneway()) {
      return absl::PermissionDeniedError(
          absl::StrCat(name, " on a read-only connection"));
    }
    return ReplyError(message.msgid, "ZODB.POSException.ReadOnlyError",
                      Value::Tuple({}));
  }
  if (message.is_oneway() && !IsOneWayMethod(name)) {
    // A method that answers, called one-way: a ZEO server runs it and sends
    // nothing back (a reply the client never asked for would break it).
    if (name == "loadBefore") return absl::OkStatus();  // no effect at all
    zeo::Message unanswered = message;
    unanswered.msgid = UnansweredMsgid();
    unanswered.flag = Value::Bool(false);
    return Dispatch(unanswered);
  }
  if (name == "loadBefore") return HandleLoadBefore(message);
  if (IsOneWayCall(name)) {
    // Methods clients call one-way. A ZEO server answers any method called
    // synchronously (ZEO's own tests do, for iterator_gc): then the reply is
    // None, or the error instead of closing the connection.
    absl::Status handled = name == "tpc_begin"     ? HandleTpcBegin(message)
                           : name == "iterator_gc" ? HandleIterator(message)
                                                   : HandleDataCall(message);
    if (message.is_oneway()) return handled;
    if (handled.ok()) return Reply(message.msgid, Value());
    if (name != "tpc_begin" && name != "iterator_gc" &&
        absl::IsFailedPrecondition(handled)) {
      // ZEO's _check_tid: StorageTransactionError(current id or None, id).
      const Value& given =
          message.args.items().empty() ? Value() : message.args.items().back();
      return ReplyError(
          message.msgid, "ZODB.POSException.StorageTransactionError",
          Value::Tuple({txn_ == nullptr ? Value() : txn_->txn_id, given}));
    }
    return ReplyError(
        message.msgid,
        absl::IsFailedPrecondition(handled)
            ? "ZODB.POSException.StorageTransactionError"
            : "builtins.ValueError",
        Value::Tuple({Value::Str(std::string(handled.message()))}));
  }
  if (IsBlobStoreCall(name)) {
    absl::Status handled = HandleBlobStore(message);
    if (message.is_oneway() || !handled.ok()) return handled;
    return Reply(message.msgid, Value());
  }
  if (name == "sendBlob") return HandleSendBlob(message);
  if (name == "vote") return HandleVote(message);
  if (name == "tpc_finish") return HandleFinish(message);
  if (name == "tpc_abort") return HandleAbort(message);
  if (name == "ping") return HandlePing(message);
  if (name.rfind("iterator_", 0) == 0) return HandleIterator(message);
  return HandleSimpleCall(message);
}

absl::Status ClientSession::HandleRegister(const zeo::Message& message) {
  const Value::Items& args = message.args.items();
  if (message.is_oneway() || args.empty() || !args[0].is_str()) {
    return absl::InvalidArgumentError("malformed register");
  }
  const bool wants_read_only = args.size() > 1 && args[1].Truthy();
  if (options_.read_only && !wants_read_only) {
    // As a read-only ZEO server; the connection stays open for a
    // read_only_fallback client to register again, read-only.
    return ReplyError(message.msgid, "ZODB.POSException.ReadOnlyError",
                      Value::Tuple({}));
  }
  std::string processed = fanout_->Add(shared_from_this());
  {
    MutexLock lock(&write_mu_);
    delivered_ = std::max(delivered_, zeo::TidToUint64(processed));
  }
  v1::RegisterRequest request;
  request.set_storage_name(args[0].string_value());
  request.set_read_only(wants_read_only);
  v1::RegisterResponse response;
  grpc::Status status = stub_->Register(NewContext().get(), request, &response);
  if (!status.ok() || response.has_error()) {
    fanout_->Remove(id_);
    if (!status.ok()) return ReplyRpcFailure(message.msgid, status);
    return ReplyZeoError(message.msgid, response.error());
  }
  if (!fanout_->WaitProcessed(response.last_tid(), options_.ordering_timeout)) {
    return absl::UnavailableError(
        "invalidations from raidcore are not flowing");
  }
  registered_ = true;
  read_only_ = request.read_only();
  MutexLock lock(&write_mu_);
  if (closed_) return absl::UnavailableError("connection closed");
  // Everything up to the tid we answer is reflected in what the client will
  // read; everything after it will reach it as an invalidation.
  delivered_ = std::max(delivered_, zeo::TidToUint64(response.last_tid()));
  ZR_LOG(DEBUG) << "connection " << id_ << " registered at "
                << zeo::TidHex(zeo::TidFromUint64(delivered_));
  return WriteLocked(zeo::MakeReply(
      message.msgid, Value::Bytes(zeo::TidFromUint64(delivered_))));
}

}  // namespace zeoraid::translator
