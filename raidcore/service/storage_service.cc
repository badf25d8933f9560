#include "raidcore/service/storage_service.h"

#include <functional>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/mutex.h"
#include "base/spool_file.h"
#include "raidcore/backend/blob_transfer.h"
#include "raidcore/recovery/history_reader.h"
#include "raidcore/service/rpc_util.h"
#include "zeo/pickle.h"
#include "zeo/tid.h"

namespace zeoraid::raidcore {

using zeo::TidHex;
namespace {

using zeo::Value;

// The backend's get_info dict, without the blob interfaces when not every
// mirror keeps blobs: a client declares the interfaces it is told about, and
// would store blobs that some mirrors cannot hold.
Value WithoutBlobInterfaces(const Value& backend_info) {
  Value::DictItems out;
  for (const auto& [key, value] : backend_info.dict_items()) {
    if (key != Value::Str("interfaces") || !value.is_sequence()) {
      out.emplace_back(key, value);
      continue;
    }
    Value::Items kept;
    for (const Value& iface : value.items()) {
      bool blob = iface.is_sequence() && iface.items().size() == 2 &&
                  absl::StrContains(iface.items()[1].string_value(), "Blob");
      if (!blob) kept.push_back(iface);
    }
    out.emplace_back(key, Value::Tuple(std::move(kept)));
  }
  return Value::Dict(std::move(out));
}

// Fills `response` from a backend's answer: its error, or its value pickled.
grpc::Status Answer(const absl::StatusOr<ZeoReply>& reply,
                    v1::PickledResponse* response) {
  if (!reply.ok()) return ToGrpc(reply.status());
  if (reply->is_error) {
    SetError(*reply, response->mutable_error());
  } else {
    response->set_result_pickle(zeo::EncodePickle(reply->value));
  }
  return grpc::Status::OK;
}

}  // namespace

StorageService::StorageService(StorageServiceOptions options,
                               BackendSet* backends, ReadRouter* reads,
                               OidAllocator* oids, IteratorRegistry* iterators,
                               CommitCoordinator* commits, CommitClock* clock,
                               InvalidationHub* hub)
    : options_(std::move(options)),
      backends_(backends),
      reads_(reads),
      oids_(oids),
      iterators_(iterators),
      commits_(commits),
      clock_(clock),
      hub_(hub) {}

grpc::Status StorageService::Register(grpc::ServerContext*,
                                      const v1::RegisterRequest* request,
                                      v1::RegisterResponse* response) {
  if (request->storage_name() != options_.storage_name) {
    SetError(
        ZeoReply::Error("builtins.ValueError",
                        Value::Tuple({Value::Str(absl::StrCat(
                            "unknown storage: ", request->storage_name()))})),
        response->mutable_error());
    return grpc::Status::OK;
  }
  if (backends_->raid_state() == RaidState::kFailed) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "RAID failed: no optimal backend");
  }
  if (!request->read_only() && backends_->read_only()) {
    // As a ZEO server over a read-only storage.
    SetError(
        ZeoReply::Error("ZODB.POSException.ReadOnlyError", Value::Tuple({})),
        response->mutable_error());
    return grpc::Status::OK;
  }
  response->set_last_tid(clock_->last_tid());
  return grpc::Status::OK;
}

grpc::Status StorageService::GetInfo(grpc::ServerContext*,
                                     const v1::GetInfoRequest*,
                                     v1::PickledResponse* response) {
  absl::StatusOr<ZeoReply> reply = reads_->Read("get_info", {});
  // The RAID carries blobs when every optimal mirror has a blob directory.
  bool blobs = true;
  for (const BackendMember& m : backends_->Optimal()) {
    if (!m.connection->supports_blobs()) blobs = false;
  }
  if (reply.ok() && !reply->is_error && !blobs) {
    reply->value = WithoutBlobInterfaces(reply->value);
  }
  return Answer(reply, response);
}

grpc::Status StorageService::LastTransaction(
    grpc::ServerContext*, const v1::LastTransactionRequest*,
    v1::LastTransactionResponse* response) {
  response->set_tid(clock_->last_tid());
  return grpc::Status::OK;
}

namespace {

// A loadBefore answer, as LoadBefore and LoadBeforeThen return it.
grpc::Status FillLoadBefore(absl::StatusOr<SnapshotReply> read,
                            v1::LoadBeforeResponse* response) {
  if (!read.ok()) return ToGrpc(read.status());
  response->set_snapshot_tid(read->snapshot_tid);
  ZeoReply& reply = read->reply;
  if (reply.is_error) {
    SetError(reply, response->mutable_error());
    return grpc::Status::OK;
  }
  if (reply.value.is_none()) return grpc::Status::OK;  // found = false
  const Value::Items& parts = reply.value.items();
  if (!reply.value.is_sequence() || parts.size() != 3 || !parts[0].is_bytes() ||
      !parts[1].is_bytes()) {
    return grpc::Status(
        grpc::StatusCode::INTERNAL,
        "backend answered loadBefore with " + reply.value.DebugString());
  }
  response->set_found(true);
  response->set_data(parts[0].string_value());
  response->set_start_tid(parts[1].string_value());
  if (parts[2].is_bytes()) response->set_end_tid(parts[2].string_value());
  return grpc::Status::OK;
}

}  // namespace

grpc::Status StorageService::LoadBefore(grpc::ServerContext*,
                                        const v1::LoadBeforeRequest* request,
                                        v1::LoadBeforeResponse* response) {
  if (!IsTid(request->oid()) || !IsTid(request->before())) {
    return BadArgument("oid and before must be 8 bytes");
  }
  stats_.Load();
  return FillLoadBefore(
      reads_->ReadAtSnapshot("loadBefore", {Value::Bytes(request->oid()),
                                            Value::Bytes(request->before())}),
      response);
}

void StorageService::LoadBeforeThen(const v1::LoadBeforeRequest& request,
                                    LoadDone done) {
  if (!IsTid(request.oid()) || !IsTid(request.before())) {
    done(BadArgument("oid and before must be 8 bytes"), {});
    return;
  }
  stats_.Load();
  reads_->ReadAtSnapshotThen(
      "loadBefore",
      {Value::Bytes(request.oid()), Value::Bytes(request.before())},
      [done = std::move(done)](absl::StatusOr<SnapshotReply> read) {
        v1::LoadBeforeResponse response;
        grpc::Status status = FillLoadBefore(std::move(read), &response);
        done(std::move(status), std::move(response));
      });
}

grpc::Status StorageService::LoadBlob(
    grpc::ServerContext*, const v1::LoadBlobRequest* request,
    grpc::ServerWriter<v1::LoadBlobResponse>* writer) {
  if (!IsTid(request->oid()) || !IsTid(request->serial())) {
    return BadArgument("oid and serial must be 8 bytes");
  }
  // The blob is spooled as it arrives from the backend and passed on from
  // the spool at once: memory does not grow with the blob, and a slow
  // translator never holds the backend connection.
  uint64_t sent = 0;  // bytes passed on, kept across a failover
  while (true) {
    absl::StatusOr<BackendMember> member = backends_->PickReader();
    if (!member.ok()) return ToGrpc(member.status());
    absl::StatusOr<std::unique_ptr<SpoolFile>> spool =
        SpoolFile::Create(options_.spool_dir);
    if (!spool.ok()) {
      ZR_LOG(ERROR) << spool.status();
      return ToGrpc(spool.status());
    }
    SpoolFile* file = spool->get();
    absl::StatusOr<ZeoReply> reply = absl::UnknownError("not fetched");
    std::thread fetch([&, connection = member->connection] {
      reply = connection->SendBlob(request->oid(), request->serial(), file,
                                   options_.read_timeout);
      file->Complete(reply.ok() && !reply->is_error
                         ? absl::OkStatus()
                         : absl::NotFoundError("no blob from this backend"));
    });
    // After a failover the new mirror's copy is the same blob: what was
    // passed on already is skipped.
    absl::Status streamed =
        file->Follow(sent, kBlobChunkBytes, [&](absl::string_view chunk) {
          v1::LoadBlobResponse piece;
          piece.set_chunk(std::string(chunk));
          if (!writer->Write(piece)) {
            return absl::CancelledError("the translator went away");
          }
          sent += chunk.size();
          return absl::OkStatus();
        });
    fetch.join();
    if (absl::IsCancelled(streamed)) return ToGrpc(streamed);
    if (absl::IsResourceExhausted(reply.status())) {
      ZR_LOG(ERROR) << reply.status();
      return ToGrpc(reply.status());
    }
    if (!reply.ok()) {
      backends_->Degrade(member->name, absl::StrCat("sendBlob failed: ",
                                                    reply.status().message()));
      continue;  // the next optimal backend
    }
    if (reply->is_error) {
      if (sent > 0) {
        return grpc::Status(grpc::StatusCode::INTERNAL,
                            "a mirror has no blob that another one sent");
      }
      v1::LoadBlobResponse response;
      SetError(*reply, response.mutable_error());
      writer->Write(response);
      return grpc::Status::OK;
    }
    if (!streamed.ok()) return ToGrpc(streamed);
    if (sent == 0) {
      // An empty blob: one empty chunk says it exists.
      writer->Write(v1::LoadBlobResponse());
    }
    return grpc::Status::OK;
  }
}

grpc::Status StorageService::LoadSerial(grpc::ServerContext*,
                                        const v1::LoadSerialRequest* request,
                                        v1::LoadSerialResponse* response) {
  absl::StatusOr<ZeoReply> reply = reads_->Read(
      "loadSerial",
      {Value::Bytes(request->oid()), Value::Bytes(request->serial())});
  if (!reply.ok()) return ToGrpc(reply.status());
  if (reply->is_error) {
    SetError(*reply, response->mutable_error());
  } else {
    response->set_data(reply->value.string_value());
  }
  return grpc::Status::OK;
}

grpc::Status StorageService::NewOids(grpc::ServerContext*,
                                     const v1::NewOidsRequest* request,
                                     v1::NewOidsResponse* response) {
  absl::StatusOr<ZeoReply> reply =
      oids_->NewOids(request->count() == 0 ? 100 : request->count());
  if (!reply.ok()) return ToGrpc(reply.status());
  if (reply->is_error) {
    SetError(*reply, response->mutable_error());
    return grpc::Status::OK;
  }
  for (const Value& oid : reply->value.items()) {
    response->add_oids(oid.string_value());
  }
  return grpc::Status::OK;
}

grpc::Status StorageService::History(grpc::ServerContext*,
                                     const v1::HistoryRequest* request,
                                     v1::PickledResponse* response) {
  Value::Items args = {Value::Bytes(request->oid()),
                       Value::Int(request->size())};
  if (!request->args_pickle().empty()) {
    absl::StatusOr<Value> given = zeo::DecodePickle(request->args_pickle());
    if (!given.ok() || !given->is_sequence() || given->items().empty() ||
        given->items().size() > 2) {
      return BadArgument("history arguments");
    }
    args = given->items();
  }
  absl::StatusOr<ZeoReply> reply = reads_->Read("history", std::move(args));
  return Answer(reply, response);
}

std::optional<InvalidationsSince> StorageService::InvalidationsByIteration(
    const std::string& tid) {
  if (options_.invalidation_age <= absl::ZeroDuration() || !IsTid(tid) ||
      tid == zeo::kZeroTid) {
    return std::nullopt;
  }
  // As ZEO: only for a tid younger than the age (tids are timestamps).
  if (absl::Now() - zeo::TidToTime(tid) >= options_.invalidation_age) {
    return std::nullopt;
  }
  // Up to the last published transaction: later ones reach the client on the
  // invalidation stream, which the translator orders after this answer.
  const std::string last = hub_->last_tid();
  InvalidationsSince out;
  out.latest_tid = last;
  if (zeo::TidToUint64(tid) >= zeo::TidToUint64(last)) return out;
  absl::StatusOr<BackendMember> reader = backends_->PickReader();
  if (!reader.ok()) return std::nullopt;
  BackendConnection& c = *reader->connection;
  absl::StatusOr<Value> iid =
      Ask(c, "backend", "iterator_start",
          {Value::Bytes(zeo::TidFromUint64(zeo::TidToUint64(tid) + 1)),
           Value::Bytes(last)},
          options_.read_timeout);
  if (!iid.ok()) return std::nullopt;
  std::set<std::string> oids;
  while (true) {
    absl::StatusOr<std::optional<CopiedTransaction>> txn =
        ReadNext(c, "backend", *iid, options_.read_timeout);
    if (!txn.ok()) return std::nullopt;  // a broken connection frees it
    if (!txn->has_value()) break;
    for (const Value& record : (*txn)->records) {
      oids.insert(record.items()[0].string_value());
    }
  }
  out.oids.assign(oids.begin(), oids.end());
  return out;
}

grpc::Status StorageService::GetInvalidations(
    grpc::ServerContext*, const v1::GetInvalidationsRequest* request,
    v1::GetInvalidationsResponse* response) {
  std::optional<InvalidationsSince> since = hub_->Since(request->tid());
  if (!since.has_value()) since = InvalidationsByIteration(request->tid());
  if (!since.has_value()) return grpc::Status::OK;  // known = false
  response->set_known(true);
  response->set_latest_tid(since->latest_tid);
  for (const std::string& oid : since->oids) response->add_oids(oid);
  return grpc::Status::OK;
}

grpc::Status StorageService::Pack(grpc::ServerContext*,
                                  const v1::PackRequest* request,
                                  v1::PackResponse* response) {
  Value info;
  absl::StatusOr<ZeoReply> reply =
      commits_->Pack(request->pack_time(), options_.pack_timeout, &info);
  if (!reply.ok()) return ToGrpc(reply.status());
  if (reply->is_error) SetError(*reply, response->mutable_error());
  if (info.is_dict()) response->set_info_pickle(zeo::EncodePickle(info));
  return grpc::Status::OK;
}

grpc::Status StorageService::UndoLog(grpc::ServerContext*,
                                     const v1::UndoLogRequest* request,
                                     v1::PickledResponse* response) {
  Value::Items args = {Value::Int(request->first()),
                       Value::Int(request->last())};
  if (request->is_undo_info()) {
    Value spec;
    if (!request->specification_pickle().empty()) {
      absl::StatusOr<Value> decoded =
          zeo::DecodePickle(request->specification_pickle());
      if (!decoded.ok()) {
        return BadArgument(
            absl::StrCat("specification: ", decoded.status().message()));
      }
      spec = std::move(*decoded);
    }
    args.push_back(std::move(spec));
  }
  absl::StatusOr<ZeoReply> reply =
      reads_->Read(request->is_undo_info() ? "undoInfo" : "undoLog", args);
  return Answer(reply, response);
}

grpc::Status StorageService::Iterate(grpc::ServerContext*,
                                     const v1::IterateRequest* request,
                                     v1::PickledResponse* response) {
  absl::StatusOr<ZeoReply> reply;
  switch (request->op_case()) {
    case v1::IterateRequest::kStart:
      reply =
          iterators_->Start(request->start().start(), request->start().stop());
      break;
    case v1::IterateRequest::kNext:
      reply = iterators_->Next(request->next());
      break;
    case v1::IterateRequest::kRecordStart:
      reply = iterators_->RecordStart(request->record_start().id(),
                                      request->record_start().tid());
      break;
    case v1::IterateRequest::kRecordNext:
      reply = iterators_->RecordNext(request->record_next());
      break;
    case v1::IterateRequest::kForget:
      iterators_->Forget(
          {request->forget().ids().begin(), request->forget().ids().end()});
      return grpc::Status::OK;
    default:
      return BadArgument("empty IterateRequest");
  }
  return Answer(reply, response);
}

grpc::Status StorageService::RecordIternext(
    grpc::ServerContext*, const v1::RecordIternextRequest* request,
    v1::PickledResponse* response) {
  Value next =
      request->next().empty() ? Value::None() : Value::Bytes(request->next());
  return Answer(reads_->Read("record_iternext", {next}), response);
}

grpc::Status StorageService::GetTid(grpc::ServerContext*,
                                    const v1::GetTidRequest* request,
                                    v1::PickledResponse* response) {
  return Answer(reads_->Read("getTid", {Value::Bytes(request->oid())}),
                response);
}

grpc::Status StorageService::ServerStatus(
    grpc::ServerContext*, const v1::ServerStatusRequest* request,
    v1::PickledResponse* response) {
  CommitLock* lock = commits_->commit_lock();
  Value status = stats_.Status(request->connections(), lock->waiting(),
                               lock->held_since(), clock_->last_tid());
  if (request->keyed_by_storage()) {
    status =
        Value::Dict({{Value::Str(options_.storage_name), std::move(status)}});
  }
  return Answer(ZeoReply::Result(std::move(status)), response);
}

}  // namespace zeoraid::raidcore
