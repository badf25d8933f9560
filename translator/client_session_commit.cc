// ClientSession's two-phase commit: tpc_begin, the data calls (storea,
// restorea, deleteObject, checkCurrentSerialInTransaction, undoa, the blob
// calls), vote, tpc_finish and tpc_abort. They are batched into the
// transaction's CommitStream and sent to raidcore at vote.
#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "translator/client_session.h"
#include "translator/session_transaction.h"
#include "zeo/pickle.h"
#include "zeo/tid.h"

namespace zeoraid::translator {
namespace {

using zeo::IsTid;
using zeo::Value;

// A transaction bigger than this is not copied into the record cache: its
// records are read back from raidcore when needed.
constexpr size_t kMaxWriteThroughBytes = 8 << 20;

// A transaction's data calls queued for raidcore go out when the client
// pauses with at least this much queued (else at 32 KiB, or with the vote).
constexpr size_t kPausedFlushBytes = 8 << 10;

// What ZEO answers at vote for a record that is not bytes: the storage's
// TypeError (FileStorage takes len() of it, then writes it).
std::string NotBytesMessage(const Value& data) {
  const char* type = "object";
  switch (data.kind()) {
    case Value::Kind::kNone:
      type = "NoneType";
      break;
    case Value::Kind::kBool:
      type = "bool";
      break;
    case Value::Kind::kInt:
    case Value::Kind::kBigInt:
      type = "int";
      break;
    case Value::Kind::kFloat:
      type = "float";
      break;
    case Value::Kind::kStr:
      return "a bytes-like object is required, not 'str'";
    case Value::Kind::kTuple:
      return "a bytes-like object is required, not 'tuple'";
    case Value::Kind::kList:
      return "a bytes-like object is required, not 'list'";
    case Value::Kind::kDict:
      return "a bytes-like object is required, not 'dict'";
    case Value::Kind::kBytes:
    case Value::Kind::kObject:
      break;
  }
  return absl::StrCat("object of type '", type, "' has no len()");
}

}  // namespace

absl::Status ClientSession::HandleTpcBegin(const zeo::Message& message) {
  const Value::Items& args = message.args.items();
  // As ZEO's TransactionMetaData: user and description are bytes or str (a
  // transaction.Transaction's are str), kept as UTF-8 bytes.
  auto text = [](const Value& v) { return v.is_bytes() || v.is_str(); };
  if (args.size() < 4 || !text(args[1]) || !text(args[2])) {
    return absl::InvalidArgumentError("malformed tpc_begin");
  }
  if (txn_ != nullptr) {
    if (txn_->txn_id == args[0])
      return absl::OkStatus();  // ZEO ignores a repeat
    return absl::FailedPreconditionError(
        "tpc_begin while another transaction is in progress");
  }
  v1::CommitRequest request;
  v1::CommitRequest::Begin* begin = request.mutable_begin();
  begin->set_user(args[1].string_value());
  begin->set_description(args[2].string_value());
  begin->set_extension_pickle(zeo::EncodePickle(args[3]));
  if (args.size() > 4 && IsTid(args[4])) begin->set_tid(args[4].string_value());
  if (args.size() > 5 && args[5].is_str())
    begin->set_status(args[5].string_value());
  begin->set_origin_connection(id_);
  begin->set_origin_translator(fanout_->translator_id());

  txn_ = std::make_unique<Transaction>(args[0], stub_, options_.commit_streams);
  txn_->stream.Send(std::move(request));
  return absl::OkStatus();
}

absl::Status ClientSession::HandleDataCall(const zeo::Message& message) {
  const std::string& name = message.name;
  const Value::Items& args = message.args.items();
  auto malformed = [&] {
    return absl::InvalidArgumentError(absl::StrCat("malformed ", name));
  };
  // Every data call ends with the transaction id.
  if (args.size() < 2) return malformed();
  // As in ZEO, a data call outside its transaction fails, and since it is
  // one-way the only possible answer is closing the connection.
  if (txn_ == nullptr || txn_->txn_id != args.back()) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, " outside of its transaction"));
  }
  v1::CommitRequest request;
  if (name == "undoa") {
    if (args.size() != 2 || !args[0].is_bytes()) return malformed();
    request.mutable_undo()->set_undo_id(args[0].string_value());
  } else {
    // Every other data call starts with (oid, serial); a serial may be None
    // (a new object), sent on as an empty serial.
    // ZODB's own tests also pass a str of 8 characters ('\0' * 8): ZEO hands
    // it to the storage, which ignores the serial of a new object; as bytes it
    // is the same z64.
    const bool str_serial =
        args[1].is_str() && args[1].string_value().size() == 8;
    if (!IsTid(args[0]) ||
        !(IsTid(args[1]) || args[1].is_none() || str_serial)) {
      return malformed();
    }
    const std::string& oid = args[0].string_value();
    const std::string serial =
        args[1].is_none() ? std::string() : args[1].string_value();
    if (name == "storea") {
      if (args.size() != 4) return malformed();
      if (!args[2].is_bytes()) {
        // ZEO takes it and fails the vote (the storage's TypeError).
        txn_->Refuse("builtins.TypeError", NotBytesMessage(args[2]));
        return absl::OkStatus();
      }
      return QueueStore(oid, serial, args[2].string_value());
    }
    if (name == "restorea") {
      if (args.size() != 5 || !(args[2].is_bytes() || args[2].is_none()) ||
          !(IsTid(args[3]) || args[3].is_none())) {
        return malformed();
      }
      v1::CommitRequest::Restore* restore = request.mutable_restore();
      restore->set_oid(oid);
      restore->set_serial(serial);
      restore->set_has_data(args[2].is_bytes());
      restore->set_data(args[2].string_value());
      if (args[3].is_bytes()) restore->set_prev_txn(args[3].string_value());
      txn_->not_verbatim.insert(oid);
    } else if (name == "deleteObject") {
      if (args.size() != 3) return malformed();
      request.mutable_delete_()->set_oid(oid);
      request.mutable_delete_()->set_serial(serial);
      txn_->not_verbatim.insert(oid);
    } else {  // checkCurrentSerialInTransaction
      if (args.size() != 3) return malformed();
      request.mutable_check_current_serial()->set_oid(oid);
      request.mutable_check_current_serial()->set_serial(serial);
    }
  }
  return QueueDataCall(std::move(request));
}

bool ClientSession::HandleFastStorea(const zeo::StoreaFrame& frame,
                                     absl::Status* handled) {
  // The checks Dispatch makes before HandleDataCall (registered, writable)
  // and HandleDataCall's own (the connection's transaction): anything else
  // goes the general way, which answers it as ZEO does.
  if (!registered_ || read_only_ || txn_ == nullptr ||
      txn_->txn_id.kind() != Value::Kind::kInt ||
      txn_->txn_id.int_value() != frame.txn_id) {
    return false;
  }
  *handled = QueueStore(frame.oid, frame.serial, frame.data);
  return true;
}

absl::Status ClientSession::QueueStore(absl::string_view oid,
                                       absl::string_view serial,
                                       absl::string_view data) {
  v1::CommitRequest request;
  v1::CommitRequest::Store* store = request.mutable_store();
  store->set_oid(oid.data(), oid.size());
  store->set_serial(serial.data(), serial.size());
  store->set_data(data.data(), data.size());
  if (txn_->write_through) {
    txn_->stored_bytes += data.size();
    if (txn_->stored_bytes > kMaxWriteThroughBytes) {
      txn_->write_through = false;
      txn_->stored.clear();
    } else {
      txn_->stored[std::string(oid)] = std::string(data);
    }
  }
  return QueueDataCall(std::move(request));
}

absl::Status ClientSession::QueueDataCall(v1::CommitRequest request) {
  txn_->stream.Send(std::move(request));
  // Nothing more from the client yet (it is pickling its next objects): a
  // big transaction's calls so far go on now, so that the backends decode
  // them meanwhile, not at its vote. A small transaction still goes in one
  // message with its vote.
  if (txn_->stream.queued_bytes() >= kPausedFlushBytes &&
      !source_->HasPendingInput()) {
    txn_->stream.FlushAtLeast(kPausedFlushBytes);
  }
  return absl::OkStatus();
}

absl::Status ClientSession::HandleBlobStore(const zeo::Message& message) {
  const std::string& name = message.name;
  const Value::Items& args = message.args.items();
  auto malformed = [&] {
    return absl::InvalidArgumentError(absl::StrCat("malformed ", name));
  };
  if (name == "storeBlobStart") {
    if (!args.empty()) return malformed();
    // Outside a transaction ZEO spools the blob too, and refuses it at
    // storeBlobEnd; here its bytes are dropped until then.
    if (txn_ == nullptr) return absl::OkStatus();
    if (txn_->blob_open) return malformed();
    txn_->blob_open = true;
    v1::CommitRequest request;
    request.mutable_blob_start();
    txn_->stream.Send(std::move(request));
    return absl::OkStatus();
  }
  if (name == "storeBlobChunk") {
    if (args.size() != 1 || !args[0].is_bytes()) return malformed();
    if (txn_ == nullptr) return absl::OkStatus();
    if (!txn_->blob_open) return malformed();
    // Sent on as it comes (a blob's chunks go out in messages of about
    // 1 MiB): a blob is never held whole here.
    v1::CommitRequest request;
    request.mutable_blob_chunk()->set_data(args[0].string_value());
    txn_->stream.Send(std::move(request));
    return absl::OkStatus();
  }
  // storeBlobEnd(oid, serial, data, id), storeBlobShared(oid, serial, data,
  // filename, id).
  const size_t want = name == "storeBlobEnd" ? 4 : 5;
  if (name != "storeBlobEnd" && name != "storeBlobShared") return malformed();
  if (args.size() != want) return malformed();
  if (txn_ == nullptr || txn_->txn_id != args.back()) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, " outside of its transaction"));
  }
  // As storea: ZODB's own tests also pass a str of 8 characters as serial.
  const bool str_serial =
      args[1].is_str() && args[1].string_value().size() == 8;
  if (!IsTid(args[0]) || !(IsTid(args[1]) || args[1].is_none() || str_serial)) {
    return malformed();
  }
  if (!args[2].is_bytes()) {
    if (name == "storeBlobEnd") txn_->blob_open = false;
    txn_->Refuse("builtins.TypeError", NotBytesMessage(args[2]));
    return absl::OkStatus();
  }
  if (name == "storeBlobShared") {
    // The blob file is in a directory the client shares with its ZEO server;
    // the RAID's backends are other servers, on other hosts: refused at vote
    // (a one-way call has no answer), nothing stored.
    txn_->Refuse(
        "ZODB.POSException.StorageError",
        "storeBlobShared: ZEORaid does not support shared blob directories "
        "(shared_blob_dir=True); use a ClientStorage with a private blob_dir");
    return absl::OkStatus();
  }
  if (!txn_->blob_open) return malformed();
  txn_->blob_open = false;
  v1::CommitRequest request;
  v1::CommitRequest::BlobEnd* end = request.mutable_blob_end();
  end->set_oid(args[0].string_value());
  if (!args[1].is_none()) end->set_serial(args[1].string_value());
  end->set_data(args[2].string_value());
  // Not kept in the record cache at finish: loads of a blob record are rare
  // next to the blob's own transfer.
  txn_->not_verbatim.insert(args[0].string_value());
  txn_->stream.Send(std::move(request));
  return absl::OkStatus();
}

absl::Status ClientSession::HandleVote(const zeo::Message& message) {
  const Value::Items& args = message.args.items();
  Value id = args.empty() ? Value() : args[0];
  if (txn_ == nullptr || txn_->txn_id != id) {
    return ReplyError(
        message.msgid, "ZODB.POSException.StorageTransactionError",
        Value::Tuple({txn_ == nullptr ? Value() : txn_->txn_id, id}));
  }
  if (!txn_->refused.empty()) {
    return ReplyError(message.msgid, txn_->refused_class,
                      Value::Tuple({Value::Str(txn_->refused)}));
  }
  v1::CommitRequest request;
  request.mutable_vote();
  v1::CommitResponse response;
  grpc::Status status = txn_->stream.Ask(request, &response);
  if (!status.ok()) {
    txn_.reset();
    return ReplyRpcFailure(message.msgid, status);
  }
  if (response.has_error()) {
    return ReplyZeoError(message.msgid, response.error());
  }
  absl::StatusOr<Value> result =
      zeo::DecodePickle(response.vote_result_pickle(), options_.limits,
                        zeo::GlobalPolicy::kClient);
  if (!result.ok()) return ReplyUnreadable(message.msgid, result.status());
  if (!result->is_sequence()) {
    txn_->write_through = false;
  } else {
    // The oids the backends changed themselves (resolved conflicts, undone
    // objects); conflict dicts: the client stores again and votes again.
    for (const Value& item : result->items()) {
      if (item.is_bytes()) {
        txn_->not_verbatim.insert(item.string_value());
      } else {
        txn_->write_through = false;
      }
    }
  }
  return Reply(message.msgid, std::move(*result));
}

absl::Status ClientSession::HandleFinish(const zeo::Message& message) {
  const Value::Items& args = message.args.items();
  Value id = args.empty() ? Value() : args[0];
  if (txn_ == nullptr || txn_->txn_id != id)
    return Reply(message.msgid, Value());
  v1::CommitRequest request;
  request.mutable_finish();
  v1::CommitResponse response;
  grpc::Status status = txn_->stream.Ask(request, &response);
  if (!status.ok()) {
    txn_.reset();
    return ReplyRpcFailure(message.msgid, status);
  }
  std::unique_ptr<Transaction> finished = std::move(txn_);
  if (response.tid().empty()) {
    CloseLater(std::move(finished));
    return Reply(message.msgid, Value());
  }
  FinishReply reply;
  reply.tid = zeo::TidToUint64(response.tid());
  reply.msgid = message.msgid;
  if (!response.info_pickle().empty()) {
    absl::StatusOr<Value> stats = zeo::DecodePickle(
        response.info_pickle(), options_.limits, zeo::GlobalPolicy::kClient);
    if (stats.ok()) reply.stats = std::move(*stats);
  }
  if (finished->write_through && !finished->stored.empty()) {
    reply.records.reserve(finished->stored.size());
    for (auto& [oid, data] : finished->stored) {
      if (finished->not_verbatim.count(oid) == 0) {
        reply.records.emplace_back(oid, std::move(data));
      }
    }
  }
  CloseLater(std::move(finished));
  // Everything before our transaction must reach the client first, and
  // nothing after it, or the client's cache could keep a stale record for
  // good: the reply goes out once the fan-out reached the tid, and the
  // fan-out holds later invalidations until it is out. If the fan-out is
  // there already (it waits in ReachedOwnCommit) the reply is written here;
  // otherwise the fan-out writes it when it gets there, and the session
  // reads the client's next call meanwhile. (raidcore queues a commit's
  // invalidation before answering it, and writes it right after; a watch
  // that breaks disconnects every client.)
  {
    MutexLock lock(&write_mu_);
    if (closed_) return absl::UnavailableError("connection closed");
    if (own_reached_ < reply.tid) {
      pending_finish_ = std::move(reply);
      return absl::OkStatus();
    }
  }
  absl::Status st;
  {
    MutexLock lock(&write_mu_);
    if (closed_) return absl::UnavailableError("connection closed");
    st = WriteFinishReplyLocked(reply);
  }
  // After the reply (the client waits for it, not for this), and before the
  // fan-out, which waits at this tid for the signal below, moves on: so the
  // cache's last tid is still this transaction's. (Should the fan-out move
  // on first, StoreCommitted stores nothing: never a stale record.)
  if (!reply.records.empty()) {
    fanout_->cache().StoreCommitted(reply.tid, reply.records);
  }
  delivered_cv_.SignalAll();
  return st;
}

absl::Status ClientSession::HandleAbort(const zeo::Message& message) {
  const Value::Items& args = message.args.items();
  Value id = args.empty() ? Value() : args[0];
  if (txn_ != nullptr && txn_->txn_id == id) {
    v1::CommitRequest request;
    request.mutable_abort();
    v1::CommitResponse response;
    // Sent even when raidcore has not seen the transaction yet (its calls
    // still batched): raidcore counts the abort in server_status, as ZEO does.
    if (txn_->stream.Ask(request, &response).ok()) {
      CloseLater(std::move(txn_));
    }
    txn_.reset();
  }
  return Reply(message.msgid, Value());
}

}  // namespace zeoraid::translator
