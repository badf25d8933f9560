#include "raidcore/commit/recent_transactions.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "zeo/tid.h"

namespace zeoraid::raidcore {
namespace {

using zeo::IsTid;
using zeo::TidHex;
using zeo::TidToUint64;
using zeo::Value;

// FileStorage's undo ids are base64(tid) (ZODB's encodebytes, stripped);
// other storages may use the tid itself. nullopt for anything else (an
// extension's own "id" key replaces FileStorage's in undoLog's dicts).
std::optional<std::string> TidOfUndoId(const Value& id) {
  if (!id.is_bytes() && !id.is_str()) return std::nullopt;
  const std::string& text = id.string_value();
  if (text.size() == 8) return text;
  std::string raw;
  if (absl::Base64Unescape(text, &raw) && raw.size() == 8) return raw;
  return std::nullopt;
}

class Reader {
 public:
  Reader(BackendConnection& backend, absl::Duration timeout,
         absl::Time deadline)
      : backend_(backend), timeout_(timeout), deadline_(deadline) {}

  // Calls `method`; an application error, a transport failure or the
  // deadline passing is an error.
  absl::StatusOr<Value> Ask(absl::string_view method, Value::Items args) {
    const absl::Duration left = deadline_ - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("out of time");
    }
    absl::StatusOr<ZeoReply> reply =
        backend_.Call(method, std::move(args), std::min(timeout_, left));
    if (!reply.ok()) return reply.status();
    if (reply->is_error) {
      return absl::FailedPreconditionError(
          absl::StrCat(method, " failed: ", reply->error_class));
    }
    return std::move(reply->value);
  }

  // Frees a server-side iterator we stop reading (best effort: after a
  // transport failure the connection is gone, and the iterator with it).
  void Forget(const Value& iid) {
    backend_.Send("iterator_gc", {Value::List({iid})}).IgnoreError();
  }

  // The tids of the last `count` transactions undoLog describes, oldest
  // first; empty when it describes none (e.g. all packed away).
  absl::StatusOr<std::vector<std::string>> UndoTids(size_t count) {
    absl::StatusOr<Value> log = Ask(
        "undoLog", {Value::Int(0), Value::Int(-static_cast<int64_t>(count))});
    if (!log.ok()) return log.status();
    if (!log->is_sequence()) {
      return absl::InvalidArgumentError("undoLog did not answer a list");
    }
    std::vector<std::string> tids;
    for (const Value& entry : log->items()) {
      const Value* id = entry.Find("id");
      std::optional<std::string> tid =
          id == nullptr ? std::nullopt : TidOfUndoId(*id);
      // A wrong tid here only makes a range start where no transaction is,
      // which ReadRange refuses.
      if (tid) tids.push_back(*std::move(tid));
    }
    std::sort(tids.begin(), tids.end());  // 8-byte big-endian: byte order
    tids.erase(std::unique(tids.begin(), tids.end()), tids.end());
    return tids;
  }

  // Every transaction in [start, stop], which must begin with `start`.
  absl::StatusOr<std::vector<InvalidationEvent>> ReadRange(
      const std::string& start, const std::string& stop,
      size_t max_transactions) {
    std::vector<InvalidationEvent> out;
    absl::StatusOr<Value> txn_iid =
        Ask("iterator_start", {Value::Bytes(start), Value::Bytes(stop)});
    if (!txn_iid.ok()) return txn_iid.status();
    absl::Status status;
    while (true) {
      absl::StatusOr<Value> txn = Ask("iterator_next", {*txn_iid});
      if (txn.ok() && txn->is_none()) break;  // exhausted: the server forgot it
      if (!txn.ok()) {
        status = txn.status();
      } else if (!txn->is_sequence() || txn->items().empty() ||
                 !IsTid(txn->items()[0])) {
        status = absl::InvalidArgumentError("malformed iterator_next reply");
      } else if (out.size() == max_transactions) {
        status = absl::FailedPreconditionError(
            absl::StrCat("more than ", max_transactions, " transactions in ",
                         TidHex(start), "..", TidHex(stop)));
      }
      if (status.ok()) {
        InvalidationEvent event;
        event.tid = txn->items()[0].string_value();
        status = ReadOids(*txn_iid, event.tid, &event.oids);
        out.push_back(std::move(event));
      }
      if (!status.ok()) {
        Forget(*txn_iid);
        return status;
      }
    }
    if (out.empty() || out.front().tid != start) {
      return absl::FailedPreconditionError(
          absl::StrCat("iterating ", TidHex(start), "..", TidHex(stop),
                       " did not start at ", TidHex(start)));
    }
    return out;
  }

  // The oids of the transaction the iterator `txn_iid` just returned.
  absl::Status ReadOids(const Value& txn_iid, const std::string& tid,
                        std::vector<std::string>* oids) {
    absl::StatusOr<Value> record_iid =
        Ask("iterator_record_start", {txn_iid, Value::Bytes(tid)});
    if (!record_iid.ok()) return record_iid.status();
    while (true) {
      absl::StatusOr<Value> record = Ask("iterator_record_next", {*record_iid});
      if (record.ok() && record->is_none()) {
        return absl::OkStatus();  // exhausted: the server forgot it
      }
      if (record.ok() && (!record->is_sequence() || record->items().empty() ||
                          !IsTid(record->items()[0]))) {
        record =
            absl::InvalidArgumentError("malformed iterator_record_next reply");
      }
      if (!record.ok()) {
        Forget(*record_iid);
        return record.status();
      }
      oids->push_back(record->items()[0].string_value());
    }
  }

 private:
  BackendConnection& backend_;
  const absl::Duration timeout_;
  const absl::Time deadline_;
};

}  // namespace

absl::StatusOr<std::vector<InvalidationEvent>> ReadRecentTransactions(
    BackendConnection& backend, const std::string& last_tid, size_t count,
    absl::Duration timeout, absl::Time deadline, size_t chunk) {
  std::vector<InvalidationEvent> out;
  if (last_tid == zeo::kZeroTid || count == 0) return out;
  chunk = std::max<size_t>(chunk, 1);
  Reader reader(backend, timeout, deadline);
  absl::StatusOr<std::vector<std::string>> tids = reader.UndoTids(count);
  if (!tids.ok()) return tids.status();
  if (tids->empty()) {
    InvalidationEvent only;
    only.tid = last_tid;
    out.push_back(std::move(only));
    return out;
  }
  if (TidToUint64(tids->back()) > TidToUint64(last_tid)) {
    return absl::FailedPreconditionError(
        absl::StrCat("undoLog names ", TidHex(tids->back()), ", newer than ",
                     TidHex(last_tid)));
  }
  // Newest range first, each [its first undoable tid, the next range's first
  // tid - 1]: whatever is read when time runs out is a valid, shorter queue.
  std::vector<std::vector<InvalidationEvent>> ranges;
  for (size_t first = (tids->size() - 1) / chunk * chunk;; first -= chunk) {
    const bool newest = ranges.empty();
    const std::string stop =
        newest ? last_tid
               : zeo::TidFromUint64(TidToUint64(ranges.back().front().tid) - 1);
    // undoLog skips transactions it cannot undo, so a range may hold a few
    // more than `chunk`; far more means undoLog is not what we think.
    absl::StatusOr<std::vector<InvalidationEvent>> range =
        reader.ReadRange((*tids)[first], stop, 4 * chunk + 16);
    if (range.ok() && newest && range->back().tid != last_tid) {
      range = absl::FailedPreconditionError(
          absl::StrCat("iterating up to ", TidHex(last_tid), " ended at ",
                       TidHex(range->back().tid)));
    }
    if (!range.ok()) {
      if (newest) return range.status();
      // Running out of time is expected with large transactions.
      const bool out_of_time =
          range.status().code() == absl::StatusCode::kDeadlineExceeded;
      const std::string why = absl::StrCat(
          "reading the last transactions stopped at ", TidHex(stop), ": ",
          range.status().message(), "; the invalidation queue starts later");
      if (out_of_time) {
        ZR_LOG(INFO) << why;
      } else {
        ZR_LOG(WARNING) << why;
      }
      break;
    }
    ranges.push_back(*std::move(range));
    if (first == 0) break;
  }
  for (auto it = ranges.rbegin(); it != ranges.rend(); ++it) {
    for (InvalidationEvent& e : *it) out.push_back(std::move(e));
  }
  return out;
}

}  // namespace zeoraid::raidcore
