// FakeStorage: an in-memory ZEO server with a FileStorage behind it, for
// whole-system tests of the RAID core (commits, recovery, re-admission) that
// run under ThreadSanitizer without sockets or gRPC, in the style of
// LevelDB's fault_injection_test.
//
// A FakeStorageServer holds one storage's history; several connections share
// it, each with its own transaction buffer and iterator table, as ZEO
// clients of one server do. FakeStorageCluster hands out fresh connections by
// backend name (a BackendConnectionFactory), so BackendSet, CommitCoordinator,
// RecoveryJob and RecoveryManager all talk to the same data.
//
// It answers the calls raidcore makes as ZEO 5 with a FileStorage does:
//   tpc_begin(id, user, description, ext, tid, status), storea(oid, serial,
//   data, id), restorea(oid, serial, data, prev_txn, id),
//   checkCurrentSerialInTransaction(oid, serial, id), deleteObject(oid,
//   serial, id), iterator_gc([ids]): one-way (Send);
//   vote(id) -> [] (ConflictError when a serial is not current),
//   tpc_finish(id) -> tid (commits the buffered transaction atomically),
//   tpc_abort(id), lastTransaction(),
//   iterator_start(start, stop) -> id, iterator_next(id) -> (tid, status,
//   user, description, extension) or None (then the id is forgotten),
//   iterator_record_start(txn_id, tid) -> id, iterator_record_next(id) ->
//   (oid, tid, data, data_txn) or None.
// Iterators are lazy like FileStorage's: a transaction committed after
// iterator_start is still seen when it falls in the range.
//
// Invariants a real server would break on are checked and reported: a tid
// that is not later than the last one is refused at vote and tpc_finish (a
// StorageTransactionError answer), and a one-way call that fails (no such
// transaction, a second tpc_begin) closes the connection as ZEO does and is
// recorded in protocol_errors().
//
// Fault knobs: SetDown (Connect and every existing connection fail with
// Unavailable; connections stay dead after the server comes back, as after a
// restart), GoDownAtCall (the n-th call of a method takes the server down),
// SetCallDelay (each synchronous call waits; one that would wait past its
// timeout fails with DeadlineExceeded and loses its connection), and
// ReportLastTid (register and lastTransaction report a tid the history does
// not hold, as a FileStorage whose last transaction was cut short by a crash).
#ifndef ZEORAID_RAIDCORE_RECOVERY_FAKE_STORAGE_H_
#define ZEORAID_RAIDCORE_RECOVERY_FAKE_STORAGE_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "raidcore/backend/backend_connection.h"
#include "zeo/tid.h"
#include "zeo/value.h"

namespace zeoraid::raidcore {

// One committed transaction as the storage's iterator shows it.
struct StoredTransaction {
  zeo::Value header;                // (tid, status, user, description, ext)
  std::vector<zeo::Value> records;  // (oid, tid, data, data_txn)

  std::string tid() const { return header.items()[0].string_value(); }
  bool operator==(const StoredTransaction& o) const {
    return header == o.header && records == o.records;
  }
  bool operator!=(const StoredTransaction& o) const { return !(*this == o); }
  std::string DebugString() const {
    std::string out = absl::StrCat(zeo::TidHex(tid()), " ",
                                   header.DebugString(), " records [");
    for (const zeo::Value& r : records) {
      absl::StrAppend(&out, r.DebugString(), " ");
    }
    return absl::StrCat(out, "]");
  }
};

class FakeStorageServer
    : public std::enable_shared_from_this<FakeStorageServer> {
 public:
  // Create with std::make_shared: connections keep the server alive.
  explicit FakeStorageServer(std::string name) : name_(std::move(name)) {}
  FakeStorageServer(const FakeStorageServer&) = delete;
  FakeStorageServer& operator=(const FakeStorageServer&) = delete;

  const std::string& name() const { return name_; }

  // A new connected, registered connection; Unavailable while down.
  absl::StatusOr<std::shared_ptr<BackendConnection>> Connect();

  // --- Fault knobs.
  // Down: Connect fails, and every existing connection is lost for good.
  void SetDown(bool down) {
    MutexLock l(&mu_);
    if (down) {
      GoDownLocked();
    } else {
      down_ = false;
    }
  }
  bool down() const {
    MutexLock l(&mu_);
    return down_;
  }
  // The `n`-th call (1 = the next) of `method` from now, Call or Send, on any
  // connection, takes the server down and fails.
  void GoDownAtCall(const std::string& method, int n) {
    MutexLock l(&mu_);
    down_at_method_ = method;
    down_at_count_ = n;
  }
  // Every synchronous call waits `delay` before it is served; one whose
  // timeout is not longer fails with DeadlineExceeded after its timeout and
  // loses its connection (as ZeoClient's does).
  void SetCallDelay(absl::Duration delay) {
    MutexLock l(&mu_);
    call_delay_ = delay;
  }
  // Register and lastTransaction report `tid` (not in the history) until the
  // next commit; empty: report the history's last tid again.
  void ReportLastTid(std::string tid) {
    MutexLock l(&mu_);
    reported_tid_ = std::move(tid);
  }

  // --- Set-up and inspection.
  // Commits `txn` directly (as if by an earlier writer). Its records' tid
  // field is set to the transaction's tid. InvalidArgument unless its tid is
  // later than the last one.
  absl::Status Append(StoredTransaction txn) {
    MutexLock l(&mu_);
    const std::string tid = txn.tid();
    if (!history_.empty() &&
        zeo::TidToUint64(tid) <= history_.rbegin()->first) {
      return absl::InvalidArgumentError(
          absl::StrCat("tid ", zeo::TidHex(tid), " is not later than ",
                       zeo::TidHex(LastTidLocked())));
    }
    for (zeo::Value& r : txn.records) {
      r.mutable_items()[1] = zeo::Value::Bytes(tid);
    }
    CommitLocked(std::move(txn));
    return absl::OkStatus();
  }
  std::vector<StoredTransaction> History() const {
    MutexLock l(&mu_);
    std::vector<StoredTransaction> out;
    out.reserve(history_.size());
    for (const auto& [tid, txn] : history_) out.push_back(txn);
    return out;
  }
  // The history's last tid (zeros when empty).
  std::string last_tid() const {
    MutexLock l(&mu_);
    return LastTidLocked();
  }
  bool HasTransaction(const std::string& tid) const {
    MutexLock l(&mu_);
    return history_.count(zeo::TidToUint64(tid)) > 0;
  }
  // How many transactions connections began (tpc_begin), and committed.
  int tpc_begins() const {
    MutexLock l(&mu_);
    return tpc_begins_;
  }
  int commits() const {
    MutexLock l(&mu_);
    return commits_;
  }
  int connects() const {
    MutexLock l(&mu_);
    return connects_;
  }
  // Connections open right now (the RAID's, probes, recovery's).
  int open_connections() const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock l(&mu_);
    return static_cast<int>(conns_.size());
  }
  // Calls a real server would have refused by closing the connection or with
  // an exception that is not part of normal operation.
  std::vector<std::string> protocol_errors() const {
    MutexLock l(&mu_);
    return protocol_errors_;
  }

 private:
  friend class FakeStorageConnection;

  // A transaction being built on one connection.
  struct Pending {
    int64_t id = 0;
    zeo::Value user, description, extension, tid, status;
    std::vector<zeo::Value> records;  // (oid, tid placeholder, data, data_txn)
    std::vector<std::pair<std::string, std::string>> serials;  // to check
    bool voted = false;
  };
  struct Iterator {
    bool records = false;
    // Transaction iterator: tids in [start, stop], after `after`.
    uint64_t start = 0;
    uint64_t stop = UINT64_MAX;
    uint64_t after = 0;
    bool returned = false;  // `after` is the tid of the last one returned
    // Record iterator: transaction `after`, next record `index`.
    size_t index = 0;
  };
  struct Conn {
    std::string registered_tid;
    zeo::Value last_info;
    std::optional<Pending> txn;
    std::map<int64_t, Iterator> iterators;
  };

  std::string LastTidLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (history_.empty()) return std::string(zeo::kZeroTid);
    return zeo::TidFromUint64(history_.rbegin()->first);
  }
  std::string ReportedTidLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return reported_tid_.empty() ? LastTidLocked() : reported_tid_;
  }
  void GoDownLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    down_ = true;
    conns_.clear();  // every connection is lost
  }
  void CommitLocked(StoredTransaction txn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::string tid = txn.tid();
    for (const zeo::Value& r : txn.records) {
      const std::string& oid = r.items()[0].string_value();
      const zeo::Value& data = r.items()[2];
      serials_[oid] = tid;
      sizes_[oid] = data.is_bytes() ? data.string_value().size() : 0;
    }
    history_[zeo::TidToUint64(tid)] = std::move(txn);
    reported_tid_.clear();
  }
  zeo::Value InfoLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int64_t size = 0;
    for (const auto& [oid, bytes] : sizes_) size += bytes;
    return zeo::Value::Dict(
        {{zeo::Value::Str("length"),
          zeo::Value::Int(static_cast<int64_t>(sizes_.size()))},
         {zeo::Value::Str("size"), zeo::Value::Int(size)}});
  }
  // The server closes a connection after a one-way call it could not serve.
  absl::Status BreakLocked(uint64_t conn, std::string why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    protocol_errors_.push_back(absl::StrCat(name_, ": ", why));
    conns_.erase(conn);
    return absl::OkStatus();  // one-way: the client learns at its next call
  }
  static ZeoReply Error(const char* cls, std::string message) {
    return ZeoReply::Error(
        cls, zeo::Value::Tuple({zeo::Value::Str(std::move(message))}));
  }

  // Counts the call for GoDownAtCall, then fails unless the server is up and
  // the connection alive.
  absl::Status EnterLocked(uint64_t conn, absl::string_view method)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!down_at_method_.empty() && method == down_at_method_ &&
        --down_at_count_ <= 0) {
      down_at_method_.clear();
      GoDownLocked();
    }
    if (down_) return absl::UnavailableError(absl::StrCat(name_, " is down"));
    if (conns_.count(conn) == 0) {
      return absl::UnavailableError(
          absl::StrCat("connection to ", name_, " closed or lost"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::shared_ptr<BackendConnection>> ConnectLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<ZeoReply> Call(uint64_t conn, absl::string_view method,
                                zeo::Value::Items args, absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::Duration delay;
    {
      MutexLock l(&mu_);
      delay = call_delay_;
    }
    if (delay > absl::ZeroDuration()) {
      if (delay >= timeout) {
        absl::SleepFor(timeout);
        MutexLock l(&mu_);
        conns_.erase(conn);
        return absl::DeadlineExceededError(
            absl::StrCat(name_, " ", method, ": no answer within ",
                         absl::FormatDuration(timeout)));
      }
      absl::SleepFor(delay);
    }
    MutexLock l(&mu_);
    absl::Status in = EnterLocked(conn, method);
    if (!in.ok()) return in;
    return CallLocked(conns_[conn], conn, method, args);
  }
  absl::Status Send(uint64_t conn, absl::string_view method,
                    zeo::Value::Items args) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock l(&mu_);
    absl::Status in = EnterLocked(conn, method);
    if (!in.ok()) return in;
    return SendLocked(conns_[conn], conn, method, args);
  }
  void Close(uint64_t conn) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock l(&mu_);
    conns_.erase(conn);  // drops its transaction and iterators
  }
  bool Alive(uint64_t conn) const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock l(&mu_);
    return !down_ && conns_.count(conn) > 0;
  }
  zeo::Value LastInfo(uint64_t conn) const ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock l(&mu_);
    auto it = conns_.find(conn);
    return it == conns_.end() ? zeo::Value::None() : it->second.last_info;
  }

  absl::Status SendLocked(Conn& c, uint64_t conn, absl::string_view method,
                          const zeo::Value::Items& args)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    using zeo::Value;
    if (method == "iterator_gc") {
      if (!args.empty()) {
        for (const Value& id : args[0].items())
          c.iterators.erase(id.int_value());
      }
      return absl::OkStatus();
    }
    if (method == "tpc_begin") {
      if (args.size() < 4) return BreakLocked(conn, "tpc_begin: too few args");
      const int64_t id = args[0].int_value();
      if (c.txn.has_value()) {
        if (c.txn->id == id) return absl::OkStatus();  // as ZEO: ignored
        return BreakLocked(conn,
                           "Multiple simultaneous tpc_begin requests from the "
                           "same client");
      }
      ++tpc_begins_;
      Pending p;
      p.id = id;
      p.user = args[1];
      p.description = args[2];
      p.extension = args[3];
      p.tid = args.size() > 4 ? args[4] : Value::None();
      p.status = args.size() > 5 ? args[5] : Value::Str(" ");
      if (!p.tid.is_none() && !zeo::IsTid(p.tid)) {
        return BreakLocked(
            conn, absl::StrCat("tpc_begin: bad tid ", p.tid.DebugString()));
      }
      c.txn = std::move(p);
      return absl::OkStatus();
    }
    // The data calls name their transaction last.
    if (args.empty() || !c.txn.has_value() ||
        c.txn->id != args.back().int_value() || c.txn->voted) {
      return BreakLocked(
          conn, absl::StrCat(
                    method, " for transaction ",
                    args.empty() ? std::string("?") : args.back().DebugString(),
                    " that is not begun"));
    }
    Pending& p = *c.txn;
    auto bytes = [](const Value& v) { return zeo::IsTid(v); };
    if (method == "storea" && args.size() == 4 && bytes(args[0]) &&
        bytes(args[1])) {
      p.serials.emplace_back(args[0].string_value(), args[1].string_value());
      p.records.push_back(
          Value::Tuple({args[0], Value::None(), args[2], Value::None()}));
      return absl::OkStatus();
    }
    if (method == "restorea" && args.size() == 5 && bytes(args[0])) {
      // No serial check: a restore writes history as it was.
      p.records.push_back(
          Value::Tuple({args[0], Value::None(), args[2], args[3]}));
      return absl::OkStatus();
    }
    if (method == "checkCurrentSerialInTransaction" && args.size() == 3 &&
        bytes(args[0]) && bytes(args[1])) {
      p.serials.emplace_back(args[0].string_value(), args[1].string_value());
      return absl::OkStatus();
    }
    if (method == "deleteObject" && args.size() == 3 && bytes(args[0]) &&
        bytes(args[1])) {
      p.serials.emplace_back(args[0].string_value(), args[1].string_value());
      p.records.push_back(
          Value::Tuple({args[0], Value::None(), Value::None(), Value::None()}));
      return absl::OkStatus();
    }
    return BreakLocked(conn, absl::StrCat("unsupported one-way call ", method,
                                          " with ", args.size(), " args"));
  }

  // Why the pending transaction cannot be committed now; empty if it can.
  std::string RefusalLocked(const Pending& p, const char** cls) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const auto& [oid, serial] : p.serials) {
      auto it = serials_.find(oid);
      const std::string current =
          it == serials_.end() ? std::string(zeo::kZeroTid) : it->second;
      if (serial != current) {
        *cls = "ZODB.POSException.ConflictError";
        return absl::StrCat(
            "database conflict error (oid ", zeo::TidHex(oid),
            ", serial this txn started with ", zeo::TidHex(serial),
            ", serial currently committed ", zeo::TidHex(current), ")");
      }
    }
    if (!p.tid.is_none() && !history_.empty() &&
        zeo::TidToUint64(p.tid.string_value()) <= history_.rbegin()->first) {
      *cls = "ZODB.POSException.StorageTransactionError";
      return absl::StrCat("tid ", zeo::TidHex(p.tid.string_value()),
                          " is not later than the last tid ",
                          zeo::TidHex(LastTidLocked()));
    }
    return "";
  }

  absl::StatusOr<ZeoReply> CallLocked(Conn& c, uint64_t conn,
                                      absl::string_view method,
                                      const zeo::Value::Items& args)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    using zeo::Value;
    const char* txn_error = "ZODB.POSException.StorageTransactionError";
    auto ours = [&]() -> Pending* {
      if (args.empty() || !c.txn.has_value() ||
          c.txn->id != args[0].int_value()) {
        return nullptr;
      }
      return &*c.txn;
    };
    if (method == "lastTransaction") {
      return ZeoReply::Result(Value::Bytes(ReportedTidLocked()));
    }
    if (method == "vote") {
      Pending* p = ours();
      if (p == nullptr) return Error(txn_error, "vote: no such transaction");
      const char* cls = txn_error;
      std::string refused = RefusalLocked(*p, &cls);
      if (!refused.empty()) return Error(cls, refused);
      p->voted = true;
      return ZeoReply::Result(Value::List({}));
    }
    if (method == "tpc_finish") {
      Pending* p = ours();
      if (p == nullptr || !p->voted) {
        return Error(txn_error, "tpc_finish: transaction not voted");
      }
      const char* cls = txn_error;
      std::string refused = RefusalLocked(*p, &cls);
      if (!refused.empty()) {
        c.txn.reset();
        return Error(cls, refused);
      }
      const std::string tid = p->tid.is_none()
                                  ? zeo::NextTid(absl::Now(), LastTidLocked())
                                  : p->tid.string_value();
      StoredTransaction txn;
      txn.header = Value::Tuple({Value::Bytes(tid), p->status, p->user,
                                 p->description, p->extension});
      for (Value& r : p->records) {
        r.mutable_items()[1] = Value::Bytes(tid);
        txn.records.push_back(std::move(r));
      }
      c.txn.reset();
      CommitLocked(std::move(txn));
      ++commits_;
      c.last_info = InfoLocked();
      return ZeoReply::Result(Value::Bytes(tid));
    }
    if (method == "tpc_abort") {
      if (ours() != nullptr) c.txn.reset();
      return ZeoReply::Result(Value::None());
    }
    if (method == "iterator_start" && args.size() == 2) {
      Iterator it;
      if (!args[0].is_none())
        it.start = zeo::TidToUint64(args[0].string_value());
      if (!args[1].is_none())
        it.stop = zeo::TidToUint64(args[1].string_value());
      const int64_t id = next_iterator_id_++;
      c.iterators[id] = it;
      return ZeoReply::Result(Value::Int(id));
    }
    if (method == "iterator_next" && args.size() == 1) {
      auto found = c.iterators.find(args[0].int_value());
      if (found == c.iterators.end() || found->second.records) {
        protocol_errors_.push_back(
            absl::StrCat(name_, ": iterator_next of unknown iterator ",
                         args[0].DebugString()));
        return Error("builtins.KeyError", args[0].DebugString());
      }
      Iterator& it = found->second;
      auto next = history_.lower_bound(
          it.returned ? std::max(it.start, it.after + 1) : it.start);
      if (next == history_.end() || next->first > it.stop) {
        c.iterators.erase(found);  // ZEO forgets an exhausted iterator
        return ZeoReply::Result(Value::None());
      }
      it.after = next->first;
      it.returned = true;
      return ZeoReply::Result(next->second.header);
    }
    if (method == "iterator_record_start" && args.size() == 2) {
      auto found = c.iterators.find(args[0].int_value());
      if (found == c.iterators.end() || found->second.records ||
          !found->second.returned || !zeo::IsTid(args[1]) ||
          zeo::TidToUint64(args[1].string_value()) != found->second.after) {
        protocol_errors_.push_back(
            absl::StrCat(name_,
                         ": out-of-order request for record iterator for "
                         "transaction ",
                         args[1].DebugString()));
        return Error("builtins.Exception",
                     "Out-of-order request for record iterator");
      }
      Iterator it;
      it.records = true;
      it.after = found->second.after;
      const int64_t id = next_iterator_id_++;
      c.iterators[id] = it;
      return ZeoReply::Result(Value::Int(id));
    }
    if (method == "iterator_record_next" && args.size() == 1) {
      auto found = c.iterators.find(args[0].int_value());
      if (found == c.iterators.end() || !found->second.records) {
        protocol_errors_.push_back(
            absl::StrCat(name_, ": iterator_record_next of unknown iterator ",
                         args[0].DebugString()));
        return Error("builtins.KeyError", args[0].DebugString());
      }
      Iterator& it = found->second;
      auto txn = history_.find(it.after);
      if (txn == history_.end() || it.index >= txn->second.records.size()) {
        c.iterators.erase(found);
        return ZeoReply::Result(Value::None());
      }
      return ZeoReply::Result(txn->second.records[it.index++]);
    }
    protocol_errors_.push_back(absl::StrCat(
        name_, ": unsupported call ", method, " with ", args.size(), " args"));
    return Error("builtins.AttributeError", std::string(method));
  }

  const std::string name_;
  mutable Mutex mu_;
  bool down_ ABSL_GUARDED_BY(mu_) = false;
  std::string down_at_method_ ABSL_GUARDED_BY(mu_);
  int down_at_count_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration call_delay_ ABSL_GUARDED_BY(mu_);
  std::string reported_tid_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, StoredTransaction> history_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> serials_ ABSL_GUARDED_BY(mu_);  // oid
  std::map<std::string, int64_t> sizes_ ABSL_GUARDED_BY(mu_);        // oid
  std::map<uint64_t, Conn> conns_ ABSL_GUARDED_BY(mu_);
  uint64_t next_conn_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t next_iterator_id_ ABSL_GUARDED_BY(mu_) = 1;
  int tpc_begins_ ABSL_GUARDED_BY(mu_) = 0;
  int commits_ ABSL_GUARDED_BY(mu_) = 0;
  int connects_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> protocol_errors_ ABSL_GUARDED_BY(mu_);
};

// One client connection to a FakeStorageServer.
class FakeStorageConnection final : public BackendConnection {
 public:
  FakeStorageConnection(std::shared_ptr<FakeStorageServer> server, uint64_t id,
                        std::string registered_tid)
      : server_(std::move(server)),
        id_(id),
        registered_tid_(std::move(registered_tid)) {}
  ~FakeStorageConnection() override { server_->Close(id_); }

  absl::StatusOr<ZeoReply> Call(absl::string_view method,
                                zeo::Value::Items args,
                                absl::Duration timeout) override {
    absl::StatusOr<ZeoReply> reply =
        server_->Call(id_, method, std::move(args), timeout);
    if (reply.ok()) {
      last_heard_ns_.store(absl::GetCurrentTimeNanos(),
                           std::memory_order_relaxed);
    }
    return reply;
  }
  absl::Time last_heard() const override {
    const int64_t ns = last_heard_ns_.load(std::memory_order_relaxed);
    return ns == 0 ? absl::InfinitePast() : absl::FromUnixNanos(ns);
  }
  absl::Status Send(absl::string_view method, zeo::Value::Items args) override {
    return server_->Send(id_, method, std::move(args));
  }
  zeo::Value last_info() const override { return server_->LastInfo(id_); }
  std::string registered_tid() const override { return registered_tid_; }
  bool alive() const override { return server_->Alive(id_); }
  void Close() override { server_->Close(id_); }

 private:
  const std::shared_ptr<FakeStorageServer> server_;
  const uint64_t id_;
  const std::string registered_tid_;
  std::atomic<int64_t> last_heard_ns_{0};  // of the last answered Call
};

inline absl::StatusOr<std::shared_ptr<BackendConnection>>
FakeStorageServer::Connect() {
  MutexLock l(&mu_);
  return ConnectLocked();
}

inline absl::StatusOr<std::shared_ptr<BackendConnection>>
FakeStorageServer::ConnectLocked() {
  if (down_) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to ", name_, ": connection refused"));
  }
  ++connects_;
  const uint64_t id = next_conn_++;
  Conn& c = conns_[id];
  c.registered_tid = ReportedTidLocked();
  return std::shared_ptr<BackendConnection>(
      std::make_shared<FakeStorageConnection>(shared_from_this(), id,
                                              c.registered_tid));
}

// Named servers; a BackendConnectionFactory handing out fresh connections.
class FakeStorageCluster : public BackendConnectionFactory {
 public:
  std::shared_ptr<FakeStorageServer> Add(const std::string& name) {
    auto server = std::make_shared<FakeStorageServer>(name);
    MutexLock l(&mu_);
    servers_[name] = server;
    return server;
  }
  std::shared_ptr<FakeStorageServer> server(const std::string& name) const {
    MutexLock l(&mu_);
    auto it = servers_.find(name);
    return it == servers_.end() ? nullptr : it->second;
  }
  absl::StatusOr<std::shared_ptr<BackendConnection>> Connect(
      const std::string& name) override {
    std::shared_ptr<FakeStorageServer> s = server(name);
    if (s == nullptr) {
      return absl::NotFoundError(absl::StrCat("no backend named ", name));
    }
    return s->Connect();
  }

 private:
  mutable Mutex mu_;
  std::map<std::string, std::shared_ptr<FakeStorageServer>> servers_
      ABSL_GUARDED_BY(mu_);
};

// Empty when equal, else the first difference.
inline std::string HistoryDiff(const std::vector<StoredTransaction>& a,
                               const std::vector<StoredTransaction>& b) {
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i] != b[i]) {
      return absl::StrCat("transaction ", i, " differs:\n  ",
                          a[i].DebugString(), "\n  ", b[i].DebugString());
    }
  }
  if (a.size() != b.size()) {
    const StoredTransaction& extra =
        a.size() > b.size() ? a[b.size()] : b[a.size()];
    return absl::StrCat(
        a.size(), " vs ", b.size(),
        " transactions; the first extra one: ", extra.DebugString());
  }
  return "";
}

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_RECOVERY_FAKE_STORAGE_H_
