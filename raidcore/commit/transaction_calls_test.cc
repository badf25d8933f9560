#include "raidcore/commit/transaction_calls.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raidcore/backend/fake_backend.h"

namespace zeoraid::raidcore {
namespace {

using zeo::Value;

const std::string kOid(8, '\1');
const std::string kSerial(8, '\2');

TransactionOp Op(TransactionOp::Kind kind, std::string serial = kSerial,
                 std::string data = "record") {
  TransactionOp op;
  op.kind = kind;
  op.oid = kOid;
  op.serial = std::move(serial);
  op.data = std::move(data);
  return op;
}

TEST(TransactionCallsTest, EachOpReplaysAsTheZeoCallItCameFrom) {
  struct Case {
    TransactionOp op;
    std::string method;
    Value::Items args;
  };
  TransactionOp restore_none = Op(TransactionOp::Kind::kRestore);
  restore_none.has_data = false;
  TransactionOp restore = Op(TransactionOp::Kind::kRestore);
  restore.prev_txn = kSerial;
  const std::vector<Case> cases = {
      {Op(TransactionOp::Kind::kStore),
       "storea",
       {Value::Bytes(kOid), Value::Bytes(kSerial), Value::Bytes("record"),
        Value::Int(7)}},
      // An empty serial is None: a new object stored with serial None.
      {Op(TransactionOp::Kind::kStore, ""),
       "storea",
       {Value::Bytes(kOid), Value::None(), Value::Bytes("record"),
        Value::Int(7)}},
      {Op(TransactionOp::Kind::kCheckCurrentSerial),
       "checkCurrentSerialInTransaction",
       {Value::Bytes(kOid), Value::Bytes(kSerial), Value::Int(7)}},
      {Op(TransactionOp::Kind::kUndo, "", "undo-id"),
       "undoa",
       {Value::Bytes("undo-id"), Value::Int(7)}},
      {restore_none,
       "restorea",
       {Value::Bytes(kOid), Value::Bytes(kSerial), Value::None(), Value::None(),
        Value::Int(7)}},
      {restore,
       "restorea",
       {Value::Bytes(kOid), Value::Bytes(kSerial), Value::Bytes("record"),
        Value::Bytes(kSerial), Value::Int(7)}},
      {Op(TransactionOp::Kind::kDelete),
       "deleteObject",
       {Value::Bytes(kOid), Value::Bytes(kSerial), Value::Int(7)}},
  };
  for (const Case& c : cases) {
    absl::StatusOr<OneWayCall> call = ReplayCall(c.op, 7);
    ASSERT_TRUE(call.ok()) << c.method << ": " << call.status();
    EXPECT_EQ(call->method(), c.method);
    EXPECT_EQ(Value::Tuple(call->args()), Value::Tuple(c.args)) << c.method;
  }
  EXPECT_FALSE(ReplayCall(Op(TransactionOp::Kind::kStoreBlob), 7).ok());
}

TEST(TransactionCallsTest, ASpilledRecordIsReadBack) {
  absl::StatusOr<std::unique_ptr<SpoolFile>> file =
      SpoolFile::Create(::testing::TempDir());
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append("xxspilled").ok());
  TransactionOp op = Op(TransactionOp::Kind::kStore, kSerial, "");
  op.spilled = std::shared_ptr<const SpoolFile>(std::move(*file));
  op.spilled_at = 2;
  op.spilled_size = 7;
  EXPECT_EQ(TransactionBytes(PendingTransaction{.ops = {op}}), 7u);
  absl::StatusOr<OneWayCall> call = ReplayCall(op, 1);
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->args()[2], Value::Bytes("spilled"));
}

TEST(TransactionCallsTest, QueueOnEachSendsBeginAndOpsInOrderToEveryMember) {
  PendingTransaction txn;
  txn.user = "u";
  txn.ops = {Op(TransactionOp::Kind::kStore), Op(TransactionOp::Kind::kDelete),
             Op(TransactionOp::Kind::kCheckCurrentSerial)};
  auto a = std::make_shared<FakeBackend>();
  auto b = std::make_shared<FakeBackend>();
  b->Close();  // fails at its first call and gets nothing more
  const std::string tid(8, '\3');
  std::vector<absl::Status> sent =
      QueueOnEach({{"a", a}, {"b", b}}, txn, /*first=*/1, 9, &tid);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_TRUE(sent[0].ok()) << sent[0];
  EXPECT_EQ(sent[1].code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(a->methods(),
            (std::vector<std::string>{"tpc_begin", "deleteObject",
                                      "checkCurrentSerialInTransaction"}));
  EXPECT_EQ(a->calls()[0].args[4], Value::Bytes(tid));
  EXPECT_TRUE(b->methods().empty());
  // Without a tid: the transaction is begun there already.
  auto c = std::make_shared<FakeBackend>();
  QueueOnEach({{"c", c}}, txn, 2, 9, nullptr);
  EXPECT_EQ(c->methods(),
            std::vector<std::string>{"checkCurrentSerialInTransaction"});
}

TEST(TransactionCallsTest, CountsBytesAndFindsBlobs) {
  PendingTransaction txn;
  txn.ops = {Op(TransactionOp::Kind::kStore, kSerial, "12345"),
             Op(TransactionOp::Kind::kStoreBlob, kSerial, "123"),
             Op(TransactionOp::Kind::kStore, kSerial, "1")};
  EXPECT_EQ(TransactionBytes(txn), 9u);
  EXPECT_EQ(TransactionBytes(txn, 2), 1u);
  EXPECT_TRUE(StoresBlob(txn, 0));
  EXPECT_TRUE(StoresBlob(txn, 1));
  EXPECT_FALSE(StoresBlob(txn, 2));
}

}  // namespace
}  // namespace zeoraid::raidcore
