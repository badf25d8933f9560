#include "raidcore/commit/recent_transactions.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "raidcore/backend/fake_backend.h"
#include "zeo/tid.h"

namespace zeoraid::raidcore {
namespace {

using zeo::Value;

std::string T(uint64_t n) { return zeo::TidFromUint64(n); }

// An undoLog entry as FileStorage writes it: id = base64(tid).
Value UndoEntry(uint64_t tid) {
  return Value::Dict(
      {{Value::Str("id"), Value::Bytes(absl::Base64Escape(T(tid)))},
       {Value::Str("size"), Value::Int(100)}});
}

ZeoReply R(Value v) { return ZeoReply::Result(std::move(v)); }

Value TxnInfo(uint64_t tid) {
  return Value::Tuple({Value::Bytes(T(tid)), Value::Str(" "), Value::Bytes(""),
                       Value::Bytes(""), Value::Dict({})});
}

Value Record(uint64_t oid, uint64_t tid) {
  return Value::Tuple({Value::Bytes(T(oid)), Value::Bytes(T(tid)),
                       Value::Bytes("data"), Value()});
}

// Transactions 5 (oid 1), 7 (oids 2, 3) and 9 (oid 1); undoLog lists 9, 7, 5.
void ScriptThreeTransactions(FakeBackend& backend) {
  backend.QueueReplies(
      "undoLog", {R(Value::List({UndoEntry(9), UndoEntry(7), UndoEntry(5)}))});
  backend.QueueReplies("iterator_start", {R(Value::Int(40))});
  backend.QueueReplies("iterator_next", {R(TxnInfo(5)), R(TxnInfo(7)),
                                         R(TxnInfo(9)), R(Value())});
  backend.QueueReplies(
      "iterator_record_start",
      {R(Value::Int(41)), R(Value::Int(42)), R(Value::Int(43))});
  backend.QueueReplies(
      "iterator_record_next",
      {R(Record(1, 5)), R(Value()), R(Record(2, 7)), R(Record(3, 7)),
       R(Value()), R(Record(1, 9)), R(Value())});
}

TEST(RecentTransactionsTest, ReadsTheOidsOfTheLastTransactions) {
  FakeBackend backend(T(9));
  ScriptThreeTransactions(backend);
  absl::StatusOr<std::vector<InvalidationEvent>> recent =
      ReadRecentTransactions(backend, T(9), 3, absl::Seconds(1));
  ASSERT_TRUE(recent.ok()) << recent.status();
  ASSERT_EQ(recent->size(), 3u);
  EXPECT_EQ((*recent)[0].tid, T(5));
  EXPECT_EQ((*recent)[0].oids, std::vector<std::string>{T(1)});
  EXPECT_EQ((*recent)[1].oids, (std::vector<std::string>{T(2), T(3)}));
  EXPECT_EQ((*recent)[2].tid, T(9));
  std::vector<FakeBackend::RecordedCall> calls = backend.calls();
  ASSERT_GE(calls.size(), 2u);
  EXPECT_EQ(calls[0].method, "undoLog");
  EXPECT_EQ(calls[0].args[1], Value::Int(-3));
  EXPECT_EQ(calls[1].method, "iterator_start");
  EXPECT_EQ(calls[1].args[0], Value::Bytes(T(5)));
  EXPECT_EQ(calls[1].args[1], Value::Bytes(T(9)));

  // And the hub then answers a client that was at tid 7 before the restart.
  InvalidationHub hub(T(9), 100, 100);
  ASSERT_TRUE(hub.Prefill(*std::move(recent)));
  ASSERT_TRUE(hub.Since(T(7)).has_value());
  EXPECT_EQ(hub.Since(T(7))->oids, std::vector<std::string>{T(1)});
  EXPECT_FALSE(hub.Since(T(4)).has_value());
}

TEST(RecentTransactionsTest, EmptyStorageAndNothingUndoable) {
  FakeBackend backend;
  absl::StatusOr<std::vector<InvalidationEvent>> none = ReadRecentTransactions(
      backend, std::string(zeo::kZeroTid), 10, absl::Seconds(1));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_TRUE(backend.calls().empty());

  backend.QueueReplies("undoLog", {R(Value::List({}))});
  absl::StatusOr<std::vector<InvalidationEvent>> start_only =
      ReadRecentTransactions(backend, T(9), 10, absl::Seconds(1));
  ASSERT_TRUE(start_only.ok());
  ASSERT_EQ(start_only->size(), 1u);
  EXPECT_EQ((*start_only)[0].tid, T(9));
}

TEST(RecentTransactionsTest, SkipsUndoIdsThatAreNoTid) {
  // undoLog's dicts take the extension's keys last: an "id" there replaces
  // FileStorage's.
  FakeBackend backend(T(9));
  backend.QueueReplies(
      "undoLog",
      {R(Value::List({UndoEntry(9),
                      Value::Dict({{Value::Str("id"), Value::Str("mine")}}),
                      UndoEntry(7)}))});
  backend.QueueReplies("iterator_start", {R(Value::Int(1))});
  backend.QueueReplies("iterator_next", {R(TxnInfo(7)), R(TxnInfo(8)),
                                         R(TxnInfo(9)), R(Value())});
  backend.QueueReplies("iterator_record_start",
                       {R(Value::Int(2)), R(Value::Int(3)), R(Value::Int(4))});
  backend.QueueReplies("iterator_record_next",
                       {R(Value()), R(Record(5, 8)), R(Value()), R(Value())});
  absl::StatusOr<std::vector<InvalidationEvent>> recent =
      ReadRecentTransactions(backend, T(9), 3, absl::Seconds(1));
  ASSERT_TRUE(recent.ok()) << recent.status();
  ASSERT_EQ(recent->size(), 3u);
  EXPECT_EQ((*recent)[0].tid, T(7));
  EXPECT_EQ((*recent)[1].oids, std::vector<std::string>{T(5)});
}

TEST(RecentTransactionsTest, ReadsNewestRangeFirstAndKeepsItOnFailure) {
  // Undoable 3, 5, 7, 9 in ranges of two: [7, 9] first, then [3, 6].
  FakeBackend backend(T(9));
  backend.QueueReplies("undoLog",
                       {R(Value::List({UndoEntry(9), UndoEntry(7), UndoEntry(5),
                                       UndoEntry(3)}))});
  backend.QueueReplies("iterator_start", {R(Value::Int(1)), R(Value::Int(2))});
  backend.QueueReplies("iterator_next",
                       {R(TxnInfo(7)), R(TxnInfo(8)), R(TxnInfo(9)), R(Value()),
                        R(TxnInfo(3)), R(TxnInfo(5)), R(Value())});
  backend.SetReply("iterator_record_start", R(Value::Int(10)));
  backend.QueueReplies("iterator_record_next",
                       {R(Record(1, 7)), R(Value()), R(Value()), R(Value()),
                        R(Record(2, 3)), R(Value()), R(Value())});
  absl::StatusOr<std::vector<InvalidationEvent>> recent =
      ReadRecentTransactions(backend, T(9), 4, absl::Seconds(1),
                             absl::InfiniteFuture(), /*chunk=*/2);
  ASSERT_TRUE(recent.ok()) << recent.status();
  std::vector<std::string> tids;
  for (const InvalidationEvent& e : *recent) tids.push_back(e.tid);
  EXPECT_EQ(tids, (std::vector<std::string>{T(3), T(5), T(7), T(8), T(9)}));
  EXPECT_EQ((*recent)[0].oids, std::vector<std::string>{T(2)});
  EXPECT_EQ((*recent)[2].oids, std::vector<std::string>{T(1)});
  std::vector<FakeBackend::RecordedCall> starts;
  for (const auto& c : backend.calls()) {
    if (c.method == "iterator_start") starts.push_back(c);
  }
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_EQ(starts[0].args[0], Value::Bytes(T(7)));
  EXPECT_EQ(starts[0].args[1], Value::Bytes(T(9)));
  EXPECT_EQ(starts[1].args[0], Value::Bytes(T(3)));
  EXPECT_EQ(starts[1].args[1], Value::Bytes(T(6)));

  // The older range failing leaves a shorter queue, from 7.
  FakeBackend failing(T(9));
  failing.QueueReplies("undoLog",
                       {R(Value::List({UndoEntry(9), UndoEntry(7), UndoEntry(5),
                                       UndoEntry(3)}))});
  failing.QueueReplies("iterator_start",
                       {R(Value::Int(1)),
                        ZeoReply::Error("builtins.IOError", Value::Tuple({}))});
  failing.QueueReplies("iterator_next",
                       {R(TxnInfo(7)), R(TxnInfo(9)), R(Value())});
  failing.SetReply("iterator_record_start", R(Value::Int(10)));
  failing.SetReply("iterator_record_next", R(Value()));
  recent = ReadRecentTransactions(failing, T(9), 4, absl::Seconds(1),
                                  absl::InfiniteFuture(), /*chunk=*/2);
  ASSERT_TRUE(recent.ok()) << recent.status();
  ASSERT_EQ(recent->size(), 2u);
  EXPECT_EQ(recent->front().tid, T(7));
}

TEST(RecentTransactionsTest, RefusesWhatDoesNotAddUp) {
  {  // The iterator stops before the last tid.
    FakeBackend backend(T(11));
    ScriptThreeTransactions(backend);
    absl::StatusOr<std::vector<InvalidationEvent>> r =
        ReadRecentTransactions(backend, T(11), 3, absl::Seconds(1));
    EXPECT_FALSE(r.ok());
  }
  {  // An iterator_next error: the transaction iterator is freed.
    FakeBackend fresh(T(9));
    fresh.QueueReplies("undoLog", {R(Value::List({UndoEntry(9)}))});
    fresh.QueueReplies("iterator_start", {R(Value::Int(1))});
    fresh.SetReply("iterator_next",
                   ZeoReply::Error("builtins.KeyError", Value::Tuple({})));
    EXPECT_FALSE(ReadRecentTransactions(fresh, T(9), 3, absl::Seconds(1)).ok());
    EXPECT_EQ(fresh.methods().back(), "iterator_gc");
  }
  {  // Past the deadline nothing more is asked.
    FakeBackend backend(T(9));
    ScriptThreeTransactions(backend);
    EXPECT_EQ(ReadRecentTransactions(backend, T(9), 3, absl::Seconds(1),
                                     absl::Now() - absl::Seconds(1))
                  .status()
                  .code(),
              absl::StatusCode::kDeadlineExceeded);
    EXPECT_TRUE(backend.calls().empty());
  }
  {  // undoLog is an application error (a storage without undo).
    FakeBackend backend(T(9));
    backend.SetReply("undoLog", ZeoReply::Error("builtins.AttributeError",
                                                Value::Tuple({})));
    EXPECT_FALSE(
        ReadRecentTransactions(backend, T(9), 3, absl::Seconds(1)).ok());
  }
  {  // A malformed record: both iterators are freed on the backend.
    FakeBackend other(T(9));
    other.QueueReplies("undoLog", {R(Value::List({UndoEntry(9)}))});
    other.QueueReplies("iterator_start", {R(Value::Int(1))});
    other.QueueReplies("iterator_next", {R(TxnInfo(9))});
    other.QueueReplies("iterator_record_start", {R(Value::Int(2))});
    other.QueueReplies("iterator_record_next", {R(Value::Int(3))});
    EXPECT_FALSE(ReadRecentTransactions(other, T(9), 3, absl::Seconds(1)).ok());
    std::vector<std::string> methods = other.methods();
    EXPECT_EQ(std::count(methods.begin(), methods.end(), "iterator_gc"), 2);
  }
  {  // A transport failure.
    FakeBackend backend(T(9));
    backend.SetFailure("undoLog", absl::UnavailableError("gone"));
    EXPECT_EQ(ReadRecentTransactions(backend, T(9), 3, absl::Seconds(1))
                  .status()
                  .code(),
              absl::StatusCode::kUnavailable);
  }
}

}  // namespace
}  // namespace zeoraid::raidcore
