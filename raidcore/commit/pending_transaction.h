// PendingTransaction: a transaction as raidcore buffers it between its
// tpc_begin and its vote, and its data calls (TransactionOp), which
// transaction_calls.h replays on each backend.
#ifndef ZEORAID_RAIDCORE_COMMIT_PENDING_TRANSACTION_H_
#define ZEORAID_RAIDCORE_COMMIT_PENDING_TRANSACTION_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/spool_file.h"
#include "zeo/value.h"

namespace zeoraid::raidcore {

// One data call of a transaction, replayed on each backend at vote.
struct TransactionOp {
  enum class Kind {
    kStore,
    kCheckCurrentSerial,
    kUndo,
    kRestore,
    kDelete,
    kStoreBlob
  };
  Kind kind = Kind::kStore;
  std::string oid;
  std::string serial;    // empty: None
  std::string data;      // kStore, kRestore, kStoreBlob: the record; kUndo:
                         // the undo id
  bool has_data = true;  // kRestore: false = None
  std::string prev_txn;  // kRestore: empty = None
  // kStoreBlob: the blob's bytes, sent to each backend in turn at vote.
  std::shared_ptr<const SpoolFile> blob;
  // Set when the record went to disk (the transaction's records passed its
  // memory budget, as ZEO spools a transaction's stores to a temporary
  // file): `data` is empty and the record is `spilled_size` bytes at
  // `spilled_at` in this file.
  std::shared_ptr<const SpoolFile> spilled;
  uint64_t spilled_at = 0;
  size_t spilled_size = 0;

  // The record, from memory or from the spool file.
  absl::StatusOr<std::string> Data() const {
    if (spilled == nullptr) return data;
    return spilled->Read(spilled_at, spilled_size);
  }
  size_t data_size() const {
    return spilled != nullptr ? spilled_size : data.size();
  }
};

class EarlyTransaction;  // commit_coordinator.h

struct PendingTransaction {
  std::string user;
  std::string description;
  zeo::Value extension = zeo::Value::Dict({});
  std::string requested_tid;  // empty: raidcore assigns one
  std::string status = " ";
  std::vector<TransactionOp> ops;
  std::string origin_translator;
  uint64_t origin_connection = 0;
  // Set by CommitCoordinator::SendEarly once the transaction's calls started
  // going to the backends ahead of its vote.
  std::shared_ptr<EarlyTransaction> early;
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_COMMIT_PENDING_TRANSACTION_H_
