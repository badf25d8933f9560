#include "raidcore/recent_transactions.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "zeo/tid.h"

namespace zeoraid::raidcore {
namespace {

using zeo::TidHex;
using zeo::TidToUint64;
using zeo::Value;

// Calls `method`; an application error (or a transport failure) is an error.
absl::StatusOr<Value> Ask(BackendConnection &backend, absl::string_view method,
                          Value::Items args, absl::Duration timeout) {
  absl::StatusOr<ZeoReply> reply =
      backend.Call(method, std::move(args), timeout);
  if (!reply.ok())
    return reply.status();
  if (reply->is_error) {
    return absl::FailedPreconditionError(
        absl::StrCat(method, " failed: ", reply->error_class));
  }
  return std::move(reply->value);
}

// FileStorage's undo ids are base64(tid) (ZODB's encodebytes, stripped);
// other storages may use the tid itself.
absl::StatusOr<std::string> TidOfUndoId(const Value &id) {
  if (!id.is_bytes() && !id.is_str()) {
    return absl::InvalidArgumentError("undoLog id is not bytes");
  }
  const std::string &text = id.string_value();
  if (text.size() == 8)
    return text;
  std::string raw;
  if (absl::Base64Unescape(text, &raw) && raw.size() == 8)
    return raw;
  return absl::InvalidArgumentError(
      absl::StrCat("undoLog id '", absl::CHexEscape(text), "' is not a tid"));
}

const Value *DictGet(const Value &dict, absl::string_view key) {
  if (!dict.is_dict())
    return nullptr;
  for (const auto &[k, v] : dict.dict_items()) {
    if (k.is_str() && k.string_value() == key)
      return &v;
  }
  return nullptr;
}

// The oldest of the last `count` transactions undoLog describes.
absl::StatusOr<std::string> FloorTid(BackendConnection &backend, size_t count,
                                     absl::Duration timeout) {
  absl::StatusOr<Value> log =
      Ask(backend, "undoLog",
          {Value::Int(0), Value::Int(-static_cast<int64_t>(count))}, timeout);
  if (!log.ok())
    return log.status();
  if (!log->is_sequence()) {
    return absl::InvalidArgumentError("undoLog did not answer a list");
  }
  std::string floor;
  for (const Value &entry : log->items()) {
    const Value *id = DictGet(entry, "id");
    if (id == nullptr)
      return absl::InvalidArgumentError("undoLog entry has no id");
    absl::StatusOr<std::string> tid = TidOfUndoId(*id);
    if (!tid.ok())
      return tid.status();
    if (floor.empty() || TidToUint64(*tid) < TidToUint64(floor))
      floor = *tid;
  }
  return floor; // empty: nothing to undo (e.g. all packed away)
}

// The oids of the transaction the iterator `txn_iid` just returned.
absl::Status ReadOids(BackendConnection &backend, const Value &txn_iid,
                      const std::string &tid, absl::Duration timeout,
                      std::vector<std::string> *oids) {
  absl::StatusOr<Value> record_iid = Ask(backend, "iterator_record_start",
                                         {txn_iid, Value::Bytes(tid)}, timeout);
  if (!record_iid.ok())
    return record_iid.status();
  while (true) {
    absl::StatusOr<Value> record =
        Ask(backend, "iterator_record_next", {*record_iid}, timeout);
    if (!record.ok())
      return record.status();
    if (record->is_none())
      return absl::OkStatus(); // the server forgot it
    if (!record->is_sequence() || record->items().empty() ||
        !record->items()[0].is_bytes()) {
      backend.Send("iterator_gc", {Value::List({*record_iid})}).IgnoreError();
      return absl::InvalidArgumentError("malformed iterator_record_next reply");
    }
    oids->push_back(record->items()[0].string_value());
  }
}

} // namespace

absl::StatusOr<std::vector<InvalidationEvent>>
ReadRecentTransactions(BackendConnection &backend, const std::string &last_tid,
                       size_t count, absl::Duration timeout) {
  std::vector<InvalidationEvent> out;
  if (last_tid == zeo::kZeroTid || count == 0)
    return out;
  absl::StatusOr<std::string> floor = FloorTid(backend, count, timeout);
  if (!floor.ok())
    return floor.status();
  if (floor->empty()) {
    InvalidationEvent only;
    only.tid = last_tid;
    out.push_back(std::move(only));
    return out;
  }
  if (TidToUint64(*floor) > TidToUint64(last_tid)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "undoLog names ", TidHex(*floor), ", newer than ", TidHex(last_tid)));
  }
  absl::StatusOr<Value> txn_iid =
      Ask(backend, "iterator_start",
          {Value::Bytes(*floor), Value::Bytes(last_tid)}, timeout);
  if (!txn_iid.ok())
    return txn_iid.status();
  // undoLog skips transactions it cannot undo, so the range may hold a few
  // more than `count`; a range far larger means undoLog is not what we think.
  const size_t max_transactions = 4 * count + 16;
  absl::Status status;
  while (status.ok()) {
    absl::StatusOr<Value> txn =
        Ask(backend, "iterator_next", {*txn_iid}, timeout);
    if (!txn.ok())
      return txn.status(); // the connection is gone anyway
    if (txn->is_none())
      break; // exhausted: the server forgot it
    if (!txn->is_sequence() || txn->items().empty() ||
        !txn->items()[0].is_bytes() ||
        txn->items()[0].string_value().size() != 8) {
      status = absl::InvalidArgumentError("malformed iterator_next reply");
      break;
    }
    if (out.size() == max_transactions) {
      status = absl::FailedPreconditionError(
          absl::StrCat("more than ", max_transactions, " transactions since ",
                       TidHex(*floor)));
      break;
    }
    InvalidationEvent event;
    event.tid = txn->items()[0].string_value();
    status = ReadOids(backend, *txn_iid, event.tid, timeout, &event.oids);
    out.push_back(std::move(event));
  }
  if (!status.ok()) {
    backend.Send("iterator_gc", {Value::List({*txn_iid})}).IgnoreError();
    return status;
  }
  if (out.empty() || out.front().tid != *floor || out.back().tid != last_tid) {
    return absl::FailedPreconditionError(
        absl::StrCat("iterating ", TidHex(*floor), "..", TidHex(last_tid),
                     " gave ", out.size(), " transactions",
                     out.empty() ? std::string()
                                 : absl::StrCat(", ", TidHex(out.front().tid),
                                                "..", TidHex(out.back().tid))));
  }
  return out;
}

} // namespace zeoraid::raidcore
