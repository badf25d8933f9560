#include "raidcore/recovery/history_reader.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "zeo/tid.h"

namespace zeoraid::raidcore {

using zeo::TidFromUint64;
using zeo::TidToUint64;
using zeo::Value;

// Calls `method` and turns an application error into a Status too: the
// recovery has no client to hand a ZEO error to.
absl::StatusOr<Value> Ask(BackendConnection& c, const char* who,
                          absl::string_view method, Value::Items args,
                          absl::Duration timeout) {
  absl::StatusOr<ZeoReply> reply = c.Call(method, std::move(args), timeout);
  if (!reply.ok()) {
    return absl::Status(
        reply.status().code(),
        absl::StrCat(who, " ", method, ": ", reply.status().message()));
  }
  if (reply->is_error) {
    return absl::AbortedError(absl::StrCat(who, " ", method, " answered ",
                                           reply->error_class,
                                           reply->value.DebugString()));
  }
  return std::move(reply->value);
}

namespace {

uint64_t Size(const Value& v) {
  if (v.is_bytes() || v.is_str()) return v.string_value().size();
  return 0;
}

}  // namespace

// Reads the next transaction of iterator `iid` with its records; nullopt at
// the end.
absl::StatusOr<std::optional<CopiedTransaction>> ReadNext(
    BackendConnection& c, const char* who, const Value& iid,
    absl::Duration timeout) {
  absl::StatusOr<Value> header = Ask(c, who, "iterator_next", {iid}, timeout);
  if (!header.ok()) return header.status();
  if (header->is_none()) return std::nullopt;
  if (!header->is_sequence() || header->items().size() != 5 ||
      !zeo::IsTid(header->items()[0])) {
    return absl::DataLossError(
        absl::StrCat(who, " iterator_next answered ", header->DebugString()));
  }
  CopiedTransaction txn;
  txn.header = *std::move(header);
  txn.bytes = Size(txn.header.items()[2]) + Size(txn.header.items()[3]);
  absl::StatusOr<Value> riid = Ask(c, who, "iterator_record_start",
                                   {iid, txn.header.items()[0]}, timeout);
  if (!riid.ok()) return riid.status();
  while (true) {
    absl::StatusOr<Value> record =
        Ask(c, who, "iterator_record_next", {*riid}, timeout);
    if (!record.ok()) return record.status();
    if (record->is_none()) break;
    if (!record->is_sequence() || record->items().size() != 4) {
      return absl::DataLossError(absl::StrCat(
          who, " iterator_record_next answered ", record->DebugString()));
    }
    txn.bytes += Size(record->items()[2]) + 8;
    txn.records.push_back(*std::move(record));
  }
  return std::optional<CopiedTransaction>(std::move(txn));
}

void Forget(BackendConnection& c, const Value& iid) {
  c.Send("iterator_gc", {Value::List({iid})}).IgnoreError();
}

absl::StatusOr<std::string> VerifiedLastTransaction(BackendConnection& c,
                                                    const std::string& reported,
                                                    absl::Duration timeout) {
  if (reported == zeo::kZeroTid) return reported;
  const uint64_t at = TidToUint64(reported);
  for (uint64_t window = 0;;
       window = window == 0 ? (1ull << 32) : window * 16) {
    const bool from_start = window >= at;
    const Value start =
        from_start ? Value::None() : Value::Bytes(TidFromUint64(at - window));
    absl::StatusOr<Value> iid =
        Ask(c, "target", "iterator_start", {start, Value::None()}, timeout);
    if (!iid.ok()) return iid.status();
    std::string last;
    while (true) {
      absl::StatusOr<Value> header =
          Ask(c, "target", "iterator_next", {*iid}, timeout);
      if (!header.ok()) return header.status();
      if (header->is_none()) break;
      if (!header->is_sequence() || header->items().empty() ||
          !zeo::IsTid(header->items()[0])) {
        return absl::DataLossError(absl::StrCat(
            "target iterator_next answered ", header->DebugString()));
      }
      last = header->items()[0].string_value();
    }
    if (!last.empty()) return last;
    if (from_start) return std::string(zeo::kZeroTid);
  }
}

}  // namespace zeoraid::raidcore
