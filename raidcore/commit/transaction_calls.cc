#include "raidcore/commit/transaction_calls.h"

#include <string>

#include "raidcore/backend/blob_transfer.h"

namespace zeoraid::raidcore {

using zeo::Value;

namespace {

// An optional field of a buffered call (a serial, a prev_txn): empty stands
// for the None the client sent, passed on as it came (as ZEO does).
Value BytesOrNone(const std::string& bytes) {
  return bytes.empty() ? Value::None() : Value::Bytes(bytes);
}

}  // namespace

size_t TransactionBytes(const PendingTransaction& txn, size_t first_op) {
  size_t bytes = 0;
  for (size_t i = first_op; i < txn.ops.size(); ++i) {
    const TransactionOp& op = txn.ops[i];
    bytes += op.data_size() + (op.blob != nullptr ? op.blob->size() : 0);
  }
  return bytes;
}

absl::StatusOr<OneWayCall> ReplayCall(const TransactionOp& op, int64_t txn_id) {
  if (op.kind == TransactionOp::Kind::kStore) {
    // Pickled straight from the record (the bulk of a transaction).
    const absl::string_view serial_view = op.serial;
    const absl::string_view* serial_or_none =
        op.serial.empty() ? nullptr : &serial_view;
    if (op.spilled == nullptr) {
      return OneWayCall::Storea(op.oid, serial_or_none, op.data, txn_id);
    }
    absl::StatusOr<std::string> data = op.Data();
    if (!data.ok()) return data.status();
    return OneWayCall::Storea(op.oid, serial_or_none, *data, txn_id);
  }
  Value oid = Value::Bytes(op.oid);
  Value serial = BytesOrNone(op.serial);
  switch (op.kind) {
    case TransactionOp::Kind::kCheckCurrentSerial:
      return OneWayCall(
          "checkCurrentSerialInTransaction",
          {std::move(oid), std::move(serial), Value::Int(txn_id)});
    case TransactionOp::Kind::kUndo:
      return OneWayCall("undoa", {Value::Bytes(op.data), Value::Int(txn_id)});
    case TransactionOp::Kind::kRestore: {
      Value data = Value::None();
      if (op.has_data) {
        absl::StatusOr<std::string> bytes = op.Data();
        if (!bytes.ok()) return bytes.status();
        data = Value::Bytes(std::move(*bytes));
      }
      return OneWayCall("restorea",
                        {std::move(oid), std::move(serial), std::move(data),
                         BytesOrNone(op.prev_txn), Value::Int(txn_id)});
    }
    case TransactionOp::Kind::kDelete:
      return OneWayCall("deleteObject", {std::move(oid), std::move(serial),
                                         Value::Int(txn_id)});
    case TransactionOp::Kind::kStore:  // above
    case TransactionOp::Kind::kStoreBlob:
      break;
  }
  return absl::InternalError("no one-way call replays this op");
}

absl::Status SendOp(BackendConnection& c, const TransactionOp& op,
                    int64_t txn_id) {
  if (op.kind == TransactionOp::Kind::kStoreBlob) {
    // As a ZEO client sends a blob: the server spools the chunks to a file
    // and stores it at vote.
    return SendBlobStore(c, Value::Bytes(op.oid), BytesOrNone(op.serial),
                         Value::Bytes(op.data), op.blob.get(), txn_id);
  }
  absl::StatusOr<OneWayCall> call = ReplayCall(op, txn_id);
  if (!call.ok()) return call.status();
  return c.QueueCall(*call);
}

OneWayCall BeginCall(const PendingTransaction& txn, int64_t txn_id,
                     const std::string& tid) {
  return OneWayCall("tpc_begin", {Value::Int(txn_id), Value::Bytes(txn.user),
                                  Value::Bytes(txn.description), txn.extension,
                                  Value::Bytes(tid), Value::Str(txn.status)});
}

absl::Status SendBegin(BackendConnection& c, const PendingTransaction& txn,
                       int64_t txn_id, const std::string& tid) {
  OneWayCall call = BeginCall(txn, txn_id, tid);
  return c.QueueCall(call);
}

std::vector<absl::Status> QueueOnEach(const std::vector<BackendMember>& members,
                                      const PendingTransaction& txn,
                                      size_t first, int64_t txn_id,
                                      const std::string* begin_tid) {
  std::vector<absl::Status> statuses(members.size());
  auto each = [&](auto send) {
    for (size_t i = 0; i < members.size(); ++i) {
      if (statuses[i].ok()) statuses[i] = send(*members[i].connection);
    }
  };
  if (begin_tid != nullptr) {
    OneWayCall begin = BeginCall(txn, txn_id, *begin_tid);
    each([&](BackendConnection& c) { return c.QueueCall(begin); });
  }
  for (size_t i = first; i < txn.ops.size(); ++i) {
    const TransactionOp& op = txn.ops[i];
    if (op.kind == TransactionOp::Kind::kStoreBlob) {
      each([&](BackendConnection& c) { return SendOp(c, op, txn_id); });
      continue;
    }
    absl::StatusOr<OneWayCall> call = ReplayCall(op, txn_id);
    if (!call.ok()) {
      each([&](BackendConnection&) { return call.status(); });
      break;
    }
    each([&](BackendConnection& c) { return c.QueueCall(*call); });
  }
  return statuses;
}

bool StoresBlob(const PendingTransaction& txn, size_t first_op) {
  for (size_t i = first_op; i < txn.ops.size(); ++i) {
    if (txn.ops[i].kind == TransactionOp::Kind::kStoreBlob) return true;
  }
  return false;
}

}  // namespace zeoraid::raidcore
