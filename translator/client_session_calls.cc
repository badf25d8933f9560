// ClientSession's calls outside a transaction: loadBefore (from the record
// cache or raidcore, in ZEO's order with the invalidations), sendBlob, the
// iterators, ping and the status probe, and the calls that map onto one
// unary RPC each.
#include <algorithm>
#include <chrono>
#include <optional>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "translator/client_session.h"
#include "translator/oid_reserve.h"
#include "translator/session_transaction.h"
#include "translator/zeo_methods.h"
#include "zeo/pickle.h"
#include "zeo/tid.h"

namespace zeoraid::translator {
namespace {

using zeo::IsTid;
using zeo::Value;

// Iterators one connection may hold open (ZODB's iterators are a handful;
// more are left over, and dropped oldest first).
constexpr size_t kMaxIteratorsPerConnection = 256;

// ZEO's new_oids hands out at most this many a call; raidcore's NewOids up
// to kOidsPerFetch (OidAllocator::kMaxCount).
constexpr uint32_t kOidsPerCall = 100;
constexpr uint32_t kOidsPerFetch = 1000;

// The ruok probe's status dict as a protobuf Value, for protobuf's JSON
// printer: str keys, numbers, str, bool and None; anything else as its repr.
google::protobuf::Value JsonValueOf(const Value& v) {
  google::protobuf::Value out;
  switch (v.kind()) {
    case Value::Kind::kNone:
      out.set_null_value(google::protobuf::NULL_VALUE);
      break;
    case Value::Kind::kBool:
      out.set_bool_value(v.bool_value());
      break;
    case Value::Kind::kInt:
      out.set_number_value(static_cast<double>(v.int_value()));
      break;
    case Value::Kind::kFloat:
      out.set_number_value(v.float_value());
      break;
    case Value::Kind::kDict: {
      auto* fields = out.mutable_struct_value()->mutable_fields();
      for (const auto& [key, value] : v.dict_items()) {
        (*fields)[key.is_str() ? key.string_value() : key.DebugString()] =
            JsonValueOf(value);
      }
      break;
    }
    default:
      out.set_string_value(v.is_str() ? v.string_value() : v.DebugString());
      break;
  }
  return out;
}

std::string JsonOf(const Value& v) {
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(JsonValueOf(v), &json)
           .ok()) {
    return "{}";
  }
  return json;
}

Value BytesList(const google::protobuf::RepeatedPtrField<std::string>& items) {
  Value::Items out;
  for (const std::string& s : items) out.push_back(Value::Bytes(s));
  return Value::List(std::move(out));
}

}  // namespace

absl::Status ClientSession::HandleLoadBefore(const zeo::Message& message) {
  const Value::Items& args = message.args.items();
  if (args.size() != 2 || !IsTid(args[0]) || !IsTid(args[1])) {
    return ReplyError(message.msgid, "builtins.TypeError",
                      Value::Tuple({Value::Str("loadBefore(oid, before)")}));
  }
  const std::string& oid = args[0].string_value();
  const std::string& before = args[1].string_value();
  absl::StatusOr<bool> cached =
      LoadFromCache(message.msgid, oid, zeo::TidToUint64(before));
  if (!cached.ok()) return cached.status();
  if (*cached) return absl::OkStatus();
  // The client already sent its next call: let this load run beside it
  // (ZEO's client pipelines loads; prefetch sends hundreds at once).
  bool pipelined = false;
  if (options_.pool != nullptr && source_->HasPendingInput()) {
    MutexLock lock(&loads_mu_);
    if (pipelined_loads_ < options_.max_pipelined_loads) {
      ++pipelined_loads_;
      pipelined = true;
    }
  }
  if (!pipelined) return LoadFromRaidcore(message.msgid, oid, before);
  options_.pool->Submit(
      [self = shared_from_this(), msgid = message.msgid, oid, before] {
        absl::Status st = self->LoadFromRaidcore(msgid, oid, before);
        {
          MutexLock lock(&self->loads_mu_);
          --self->pipelined_loads_;
        }
        if (!st.ok()) self->Disconnect(std::string(st.message()));
      });
  return absl::OkStatus();
}

absl::StatusOr<bool> ClientSession::LoadFromCache(const Value& msgid,
                                                  const std::string& oid,
                                                  uint64_t before) {
  std::optional<ObjectCache::Hit> hit =
      fanout_->cache().LoadBefore(oid, before);
  if (!hit.has_value()) return false;
  bool told;
  {
    MutexLock lock(&write_mu_);
    told = std::max(hit->start, hit->end) <= delivered_;
  }
  // The answer names a transaction this client has not been told about yet:
  // its invalidations must reach the client first.
  if (!told && !fanout_->WaitProcessed(zeo::TidFromUint64(hit->snapshot),
                                       options_.ordering_timeout)) {
    return absl::UnavailableError(
        "invalidations from raidcore are not flowing");
  }
  {
    MutexLock lock(&write_mu_);
    if (closed_) return absl::UnavailableError("connection closed");
    if (hit->end == 0 && ReplacedSinceLocked(oid, hit->snapshot)) {
      return false;  // read it from raidcore
    }
    absl::Status st = WriteLocked(zeo::MakeReply(
        msgid, Value::Tuple({Value::Bytes(*hit->data),
                             Value::Bytes(zeo::TidFromUint64(hit->start)),
                             hit->end == 0 ? Value::None()
                                           : Value::Bytes(zeo::TidFromUint64(
                                                 hit->end))})));
    if (!st.ok()) return st;
  }
  return true;
}

absl::Status ClientSession::LoadFromRaidcore(const Value& msgid,
                                             const std::string& oid,
                                             const std::string& before) {
  v1::LoadBeforeRequest request;
  request.set_oid(oid);
  request.set_before(before);
  // Bounded: each retry means this object changed meanwhile.
  for (int attempt = 0; attempt < 20; ++attempt) {
    v1::LoadBeforeResponse response;
    grpc::Status status(grpc::StatusCode::UNIMPLEMENTED, "no load stream");
    if (options_.load_stream != nullptr) {
      status = options_.load_stream->LoadBefore(request, &response,
                                                options_.rpc_timeout);
    }
    if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      status = stub_->LoadBefore(NewContext().get(), request, &response);
    }
    if (!status.ok()) return ReplyRpcFailure(msgid, status);
    if (!fanout_->WaitProcessed(response.snapshot_tid(),
                                options_.ordering_timeout)) {
      return absl::UnavailableError(
          "invalidations from raidcore are not flowing");
    }
    if (response.has_error()) {
      return ReplyZeoError(msgid, response.error());
    }
    Value result;
    bool current = response.found() && response.end_tid().empty();
    if (response.found()) {
      result = Value::Tuple(
          {Value::Bytes(response.data()), Value::Bytes(response.start_tid()),
           current ? Value::None() : Value::Bytes(response.end_tid())});
    }
    {
      MutexLock lock(&write_mu_);
      if (closed_) return absl::UnavailableError("connection closed");
      if (current &&
          ReplacedSinceLocked(oid, zeo::TidToUint64(response.snapshot_tid()))) {
        continue;  // read again
      }
      absl::Status st = WriteLocked(zeo::MakeReply(msgid, std::move(result)));
      if (!st.ok()) return st;
    }
    if (response.found()) {
      fanout_->cache().StoreLoaded(
          oid, std::move(*response.mutable_data()),
          zeo::TidToUint64(response.start_tid()),
          current ? 0 : zeo::TidToUint64(response.end_tid()),
          zeo::TidToUint64(response.snapshot_tid()));
    }
    return absl::OkStatus();
  }
  return absl::UnavailableError("loadBefore kept racing newer commits");
}

absl::Status ClientSession::HandleSendBlob(const zeo::Message& message) {
  const Value::Items& args = message.args.items();
  if (args.size() != 2 || !IsTid(args[0]) || !IsTid(args[1])) {
    return ReplyError(message.msgid, "builtins.TypeError",
                      Value::Tuple({Value::Str("sendBlob(oid, serial)")}));
  }
  const Value& oid = args[0];
  const Value& serial = args[1];
  v1::LoadBlobRequest request;
  request.set_oid(oid.string_value());
  request.set_serial(serial.string_value());
  // A big blob takes longer than one call: a deadline of its own.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoNanoseconds(options_.rpc_timeout * 20));
  std::unique_ptr<grpc::ClientReader<v1::LoadBlobResponse>> reader =
      stub_->LoadBlob(&context, request);
  v1::LoadBlobResponse response;
  bool started = false;
  absl::Status written;
  auto write = [&](zeo::Message oneway) {
    MutexLock lock(&write_mu_);
    if (closed_) return absl::UnavailableError("connection closed");
    return WriteLocked(oneway);
  };
  while (written.ok() && reader->Read(&response)) {
    if (response.has_error()) {
      context.TryCancel();
      reader->Finish();
      return ReplyZeoError(message.msgid, response.error());
    }
    // As a ZEO server (sendBlob): the blob goes to the client as callbacks,
    // which its ClientStorage writes into its blob cache, before the reply.
    if (!started) {
      started = true;
      written = write(zeo::MakeOneway("receiveBlobStart", {oid, serial}));
    }
    if (written.ok() && !response.chunk().empty()) {
      written = write(zeo::MakeOneway(
          "receiveBlobChunk",
          {oid, serial, Value::Bytes(std::move(*response.mutable_chunk()))}));
      // The blob goes out no faster than the client takes it: the queue,
      // not this loop, must wait, or a whole blob would pile up in memory.
      if (written.ok()) {
        written = out_->WaitBelow(options_.reply_backlog_bytes,
                                  absl::Now() + options_.write_timeout);
      }
    }
  }
  if (!written.ok()) {
    context.TryCancel();
    reader->Finish();
    return written;
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return ReplyRpcFailure(message.msgid, status);
  if (!started) {
    return ReplyError(message.msgid, "ZODB.POSException.StorageError",
                      Value::Tuple({Value::Str("raidcore sent no blob")}));
  }
  absl::Status st = write(zeo::MakeOneway("receiveBlobStop", {oid, serial}));
  if (!st.ok()) return st;
  return Reply(message.msgid, Value());
}

void ClientSession::AnswerStatusProbe() {
  // The "ruok" probe (zeo-nagios): {storage name: server_status dict} as JSON.
  v1::ServerStatusRequest request;
  request.set_keyed_by_storage(true);
  request.set_connections(fanout_->connections());
  v1::PickledResponse response;
  grpc::Status status =
      stub_->ServerStatus(NewContext().get(), request, &response);
  absl::StatusOr<Value> value =
      status.ok() && !response.has_error()
          ? zeo::DecodePickle(response.result_pickle(), options_.limits,
                              zeo::GlobalPolicy::kClient)
          : absl::UnavailableError(status.error_message());
  std::string json = value.ok() ? JsonOf(*value) : "{}";
  {
    MutexLock lock(&write_mu_);
    SendFrame(json).IgnoreError();
  }
  out_->Drain(absl::Now() + options_.write_timeout).IgnoreError();
}

absl::Status ClientSession::HandlePing(const zeo::Message& message) {
  // A client pings (server_sync) to see every transaction committed before the
  // ping: answer only once the invalidations up to raidcore's last tid are
  // written.
  v1::LastTransactionResponse response;
  grpc::Status status = stub_->LastTransaction(
      NewContext().get(), v1::LastTransactionRequest(), &response);
  if (!status.ok()) return ReplyRpcFailure(message.msgid, status);
  if (!fanout_->WaitProcessed(response.tid(), options_.ordering_timeout)) {
    return absl::UnavailableError(
        "invalidations from raidcore are not flowing");
  }
  return Reply(message.msgid, Value());
}

absl::Status ClientSession::HandleIterator(const zeo::Message& message) {
  const std::string& name = message.name;
  const Value::Items& args = message.args.items();
  // As ZEO's server, whose iterators live in a dict keyed by these ids: an id
  // that is not this client's (exhausted, collected, never issued) is a
  // KeyError(iid).
  auto unknown = [&](const Value& iid) {
    return ReplyError(message.msgid, "builtins.KeyError", Value::Tuple({iid}));
  };
  auto raidcore_id = [&](size_t i) -> std::optional<uint64_t> {
    if (i >= args.size() || !args[i].is_int()) return std::nullopt;
    auto it = iterators_.find(args[i].int_value());
    if (it == iterators_.end()) return std::nullopt;
    return it->second;
  };
  v1::IterateRequest request;
  if (name == "iterator_gc") {
    if (args.empty() || !args[0].is_sequence()) {
      return absl::InvalidArgumentError("malformed iterator_gc");
    }
    for (const Value& v : args[0].items()) {
      if (!v.is_int()) continue;
      auto it = iterators_.find(v.int_value());
      if (it == iterators_.end()) continue;  // ZEO ignores unknown ids too
      request.mutable_forget()->add_ids(it->second);
      iterators_.erase(it);
    }
    if (request.forget().ids_size() == 0) return absl::OkStatus();
    v1::PickledResponse ignored;
    stub_->Iterate(NewContext().get(), request, &ignored);
    return absl::OkStatus();  // one-way
  }
  auto tid_or_empty = [](const Value& v) {
    return v.is_bytes() ? v.string_value() : std::string();
  };
  if (name == "iterator_start") {
    request.mutable_start()->set_start(args.size() > 0 ? tid_or_empty(args[0])
                                                       : "");
    request.mutable_start()->set_stop(args.size() > 1 ? tid_or_empty(args[1])
                                                      : "");
  } else if (name == "iterator_next" || name == "iterator_record_next") {
    if (args.size() != 1) {
      return ReplyError(
          message.msgid, "builtins.TypeError",
          Value::Tuple({Value::Str(absl::StrCat("bad arguments for ", name))}));
    }
    std::optional<uint64_t> id = raidcore_id(0);
    if (!id) return unknown(args[0]);
    if (name == "iterator_next") {
      request.set_next(*id);
    } else {
      request.set_record_next(*id);
    }
  } else if (name == "iterator_record_start" && args.size() == 2 &&
             IsTid(args[1])) {
    std::optional<uint64_t> id = raidcore_id(0);
    if (!id) return unknown(args[0]);
    request.mutable_record_start()->set_id(*id);
    request.mutable_record_start()->set_tid(args[1].string_value());
  } else {
    return ReplyError(
        message.msgid, "builtins.TypeError",
        Value::Tuple({Value::Str(absl::StrCat("bad arguments for ", name))}));
  }
  v1::PickledResponse response;
  grpc::Status status = stub_->Iterate(NewContext().get(), request, &response);
  if (status.ok() && !response.has_error()) {
    absl::StatusOr<Value> result = zeo::DecodePickle(
        response.result_pickle(), options_.limits, zeo::GlobalPolicy::kClient);
    if (!result.ok()) {
      return ReplyRpcFailure(
          message.msgid, grpc::Status(grpc::StatusCode::INTERNAL,
                                      std::string(result.status().message())));
    }
    if (result->is_int() &&
        (name == "iterator_start" || name == "iterator_record_start")) {
      // Hand out this connection's next id for raidcore's.
      const int64_t mine = next_iterator_id_++;
      iterators_[mine] = static_cast<uint64_t>(result->int_value());
      if (iterators_.size() > kMaxIteratorsPerConnection) {
        // A client that leaves iterators open without end: its own oldest
        // goes (raidcore's bound is shared by every client, which one client
        // must not be able to push out). Its id then answers KeyError.
        auto oldest = iterators_.begin();
        v1::IterateRequest forget;
        forget.mutable_forget()->add_ids(oldest->second);
        iterators_.erase(oldest);
        v1::PickledResponse ignored;
        stub_->Iterate(NewContext().get(), forget, &ignored);
      }
      return Reply(message.msgid, Value::Int(mine));
    }
    if (result->is_none() &&
        (name == "iterator_next" || name == "iterator_record_next")) {
      iterators_.erase(args[0].int_value());  // exhausted: raidcore forgot it
    }
    return Reply(message.msgid, *std::move(result));
  }
  if (status.ok() && response.has_error() &&
      response.error().class_path() == "builtins.KeyError" && !args.empty()) {
    // raidcore lost it (evicted): the client's id, as ZEO would name it.
    if (args[0].is_int()) iterators_.erase(args[0].int_value());
    return unknown(args[0]);
  }
  return ReplyFrom(message.msgid, status, response);
}

absl::Status ClientSession::HandleSimpleCall(const zeo::Message& message) {
  const std::string& name = message.name;
  const Value::Items& args = message.args.items();
  const Value& msgid = message.msgid;
  auto bad_args = [&] {
    return ReplyError(
        msgid, "builtins.TypeError",
        Value::Tuple({Value::Str(absl::StrCat("bad arguments for ", name))}));
  };
  if (name == "set_client_label") {
    if (!args.empty() && args[0].is_str()) label_ = args[0].string_value();
    ZR_LOG(DEBUG) << "connection " << id_ << " is labelled '" << label_ << "'";
    return absl::OkStatus();
  }
  if (name == "get_info") {
    v1::PickledResponse response;
    grpc::Status status =
        stub_->GetInfo(NewContext().get(), v1::GetInfoRequest(), &response);
    return ReplyFrom(msgid, status, response);
  }
  if (name == "server_status") {
    if (txn_ != nullptr) {
      // This connection's one-way tpc_begin must count before the answer, as
      // on a ZEO server, which handles one connection's calls in order.
      v1::CommitRequest sync;
      sync.mutable_sync();
      v1::CommitResponse ignored;
      txn_->stream.Ask(sync, &ignored).IgnoreError();
    }
    v1::ServerStatusRequest request;
    request.set_connections(fanout_->connections());
    v1::PickledResponse response;
    grpc::Status status =
        stub_->ServerStatus(NewContext().get(), request, &response);
    return ReplyFrom(msgid, status, response);
  }
  if (name == "getTid") {
    if (args.size() != 1 || !IsTid(args[0])) return bad_args();
    v1::GetTidRequest request;
    request.set_oid(args[0].string_value());
    v1::PickledResponse response;
    grpc::Status status = stub_->GetTid(NewContext().get(), request, &response);
    return ReplyFrom(msgid, status, response);
  }
  if (name == "record_iternext") {
    v1::RecordIternextRequest request;
    if (!args.empty() && IsTid(args[0]))
      request.set_next(args[0].string_value());
    v1::PickledResponse response;
    grpc::Status status =
        stub_->RecordIternext(NewContext().get(), request, &response);
    return ReplyFrom(msgid, status, response);
  }
  if (name == "new_oid") {
    // Listed by ZEO's server but never implemented there: the same answer.
    return ReplyError(msgid, "builtins.AttributeError",
                      Value::Tuple({Value::Str(
                          "'ZEOStorage' object has no attribute 'new_oid'")}));
  }
  if (name == "lastTransaction") {
    v1::LastTransactionResponse response;
    grpc::Status status = stub_->LastTransaction(
        NewContext().get(), v1::LastTransactionRequest(), &response);
    if (!status.ok()) return ReplyRpcFailure(msgid, status);
    return Reply(msgid, Value::Bytes(response.tid()));
  }
  if (name == "loadSerial") {
    if (args.size() != 2 || !IsTid(args[0]) || !IsTid(args[1]))
      return bad_args();
    v1::LoadSerialRequest request;
    request.set_oid(args[0].string_value());
    request.set_serial(args[1].string_value());
    v1::LoadSerialResponse response;
    grpc::Status status =
        stub_->LoadSerial(NewContext().get(), request, &response);
    if (!status.ok()) return ReplyRpcFailure(msgid, status);
    if (response.has_error()) return ReplyZeoError(msgid, response.error());
    return Reply(msgid, Value::Bytes(response.data()));
  }
  if (name == "new_oids") {
    if (!args.empty() && !args[0].is_int()) return bad_args();
    const uint32_t count = args.empty()
                               ? kOidsPerCall
                               : static_cast<uint32_t>(std::clamp<int64_t>(
                                     args[0].int_value(), 1, kOidsPerCall));
    OidReserve& reserve = fanout_->oid_reserve();
    // Oids come from one fetch at a time, through the reserve, so that each
    // client gets them in ascending order. A request the reserve cannot
    // cover waits for the fetch under way, or fetches.
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (reserve.enabled()) {
      if (std::optional<std::vector<std::string>> oids = reserve.Take(count)) {
        Value::Items items;
        items.reserve(oids->size());
        for (std::string& oid : *oids) items.push_back(Value::Bytes(oid));
        absl::Status st = Reply(msgid, Value::List(std::move(items)));
        RefillOids();
        return st;
      }
      std::optional<OidReserve::Refill> refill =
          reserve.StartRefill(/*even_if_full=*/true);
      if (!refill.has_value()) {
        if (absl::Now() > deadline) break;  // asks raidcore itself
        reserve.AwaitRefill(deadline - absl::Now());
        continue;
      }
      v1::NewOidsResponse response;
      // What this request needs now; the refill after the reply tops up.
      grpc::Status status = FetchOids(*refill, kOidsPerCall, &response);
      if (!status.ok()) return ReplyRpcFailure(msgid, status);
      if (response.has_error()) return ReplyZeoError(msgid, response.error());
    }
    v1::NewOidsRequest request;
    request.set_count(count);
    v1::NewOidsResponse response;
    grpc::Status status =
        stub_->NewOids(NewContext().get(), request, &response);
    if (!status.ok()) return ReplyRpcFailure(msgid, status);
    if (response.has_error()) return ReplyZeoError(msgid, response.error());
    return Reply(msgid, BytesList(response.oids()));
  }
  if (name == "history") {
    if (args.empty() || args.size() > 2) return bad_args();
    v1::HistoryRequest request;
    if (IsTid(args[0]) && (args.size() == 1 || args[1].is_int())) {
      request.set_oid(args[0].string_value());
      request.set_size(args.size() > 1 ? args[1].int_value() : 1);
    } else {
      // Odd arguments (a size or oid of None): the backend's storage answers
      // them as under ZEO (TypeError, POSKeyError).
      request.set_args_pickle(zeo::EncodePickle(message.args));
    }
    v1::PickledResponse response;
    grpc::Status status =
        stub_->History(NewContext().get(), request, &response);
    return ReplyFrom(msgid, status, response);
  }
  if (name == "getInvalidations") {
    if (args.size() != 1 || !IsTid(args[0])) return bad_args();
    v1::GetInvalidationsRequest request;
    request.set_tid(args[0].string_value());
    v1::GetInvalidationsResponse response;
    grpc::Status status =
        stub_->GetInvalidations(NewContext().get(), request, &response);
    if (!status.ok()) return ReplyRpcFailure(msgid, status);
    if (!response.known()) return Reply(msgid, Value());
    // The client takes latest_tid as its cache's last tid: every invalidation
    // up to it must be written first, and none at or below it after.
    if (!fanout_->WaitProcessed(response.latest_tid(),
                                options_.ordering_timeout)) {
      return absl::UnavailableError(
          "invalidations from raidcore are not flowing");
    }
    MutexLock lock(&write_mu_);
    if (closed_) return absl::UnavailableError("connection closed");
    delivered_ = std::max(delivered_, zeo::TidToUint64(response.latest_tid()));
    return WriteLocked(
        zeo::MakeReply(msgid, Value::Tuple({Value::Bytes(response.latest_tid()),
                                            BytesList(response.oids())})));
  }
  if (name == "pack") {
    if (args.empty() || !(args[0].is_float() || args[0].is_int())) {
      return bad_args();
    }
    v1::PackRequest request;
    request.set_pack_time(args[0].is_int()
                              ? static_cast<double>(args[0].int_value())
                              : args[0].float_value());
    // Packing takes as long as it takes: no RPC deadline beyond raidcore's own.
    if (pack_thread_.joinable()) pack_thread_.join();  // one at a time
    pack_context_ = std::make_unique<grpc::ClientContext>();
    pack_thread_ =
        std::thread([this, msgid, request, context = pack_context_.get()] {
          v1::PackResponse response;
          grpc::Status status = stub_->Pack(context, request, &response);
          if (status.ok() && !response.info_pickle().empty()) {
            // As ZEO: the packing client has the new statistics before the
            // reply (the fan-out brings them again, later; same values).
            absl::StatusOr<Value> info =
                zeo::DecodePickle(response.info_pickle(), options_.limits,
                                  zeo::GlobalPolicy::kClient);
            if (info.ok() && info->is_dict()) DeliverInfo(*info);
          }
          absl::Status written = !status.ok() ? ReplyRpcFailure(msgid, status)
                                 : response.has_error()
                                     ? ReplyZeoError(msgid, response.error())
                                     : Reply(msgid, Value());
          if (!written.ok()) {
            ZR_LOG(DEBUG) << "connection " << id_
                          << ": pack reply not written: " << written.message();
          }
        });
    return absl::OkStatus();
  }
  if (name == "undoLog" || name == "undoInfo") {
    bool info = name == "undoInfo";
    if (args.size() < 2 || !args[0].is_int() || !args[1].is_int())
      return bad_args();
    v1::UndoLogRequest request;
    request.set_first(args[0].int_value());
    request.set_last(args[1].int_value());
    request.set_is_undo_info(info);
    if (info && args.size() > 2 && !args[2].is_none()) {
      request.set_specification_pickle(zeo::EncodePickle(args[2]));
    }
    v1::PickledResponse response;
    grpc::Status status =
        stub_->UndoLog(NewContext().get(), request, &response);
    return ReplyFrom(msgid, status, response);
  }
  // Part of ZEO's method set but not served through the RAID yet.
  if (message.is_oneway()) {
    return absl::UnimplementedError(
        absl::StrCat("one-way call '", name, "' is not supported yet"));
  }
  return ReplyError(msgid, "ZODB.POSException.StorageError",
                    Value::Tuple({Value::Str(absl::StrCat(
                        "zeoraid: '", name, "' is not supported yet"))}));
}

void ClientSession::RefillOids() {
  // Below the reserve's low water, up to twice that in one fetch (raidcore
  // gives up to 1,000 at once): ZODB asks for a new object's oid while it
  // pickles the object that refers to it, so a commit adding 1,000 objects
  // asks ten times in a row, and one fetch serves them all. On the pool
  // when there is one, so that this session reads its client meanwhile.
  auto top_up = [self = shared_from_this()] {
    OidReserve& reserve = self->fanout_->oid_reserve();
    while (std::optional<OidReserve::Refill> refill = reserve.StartRefill()) {
      v1::NewOidsResponse response;
      // A failure leaves the reserve as it was.
      if (!self->FetchOids(*refill,
                           reserve.RefillCount(kOidsPerCall, kOidsPerFetch),
                           &response)
               .ok() ||
          response.has_error()) {
        return;
      }
    }
  };
  if (fanout_->oid_reserve().size() >= fanout_->oid_reserve().low_water()) {
    return;
  }
  if (options_.pool != nullptr) {
    options_.pool->Submit(std::move(top_up));
  } else {
    top_up();
  }
}

grpc::Status ClientSession::FetchOids(const OidReserve::Refill& refill,
                                      uint32_t count,
                                      v1::NewOidsResponse* response) {
  OidReserve& reserve = fanout_->oid_reserve();
  v1::NewOidsRequest request;
  request.set_count(count);
  grpc::Status status = stub_->NewOids(NewContext().get(), request, response);
  if (!status.ok() || response->has_error()) {
    reserve.Abandon(refill);
    return status;
  }
  reserve.Put(refill, std::vector<std::string>(response->oids().begin(),
                                               response->oids().end()));
  return status;
}

}  // namespace zeoraid::translator
