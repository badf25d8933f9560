// Transaction calls: a buffered transaction (PendingTransaction) replayed on
// a backend connection as the ZEO calls a client would have sent it —
// tpc_begin, then storea, restorea, deleteObject, undoa,
// checkCurrentSerialInTransaction and blob stores — before its vote.
//
// The calls are queued on the connection (BackendConnection::Queue), so that
// they leave with the vote or the next Flush in a few writes, and a call
// that goes to several mirrors is encoded once for all (OneWayCall).
#ifndef ZEORAID_RAIDCORE_COMMIT_TRANSACTION_CALLS_H_
#define ZEORAID_RAIDCORE_COMMIT_TRANSACTION_CALLS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "raidcore/backend/backend_connection.h"
#include "raidcore/backend/backend_set.h"
#include "raidcore/backend/one_way_call.h"
#include "raidcore/commit/pending_transaction.h"

namespace zeoraid::raidcore {

// The record bytes of ops[first_op…].
size_t TransactionBytes(const PendingTransaction& txn, size_t first_op = 0);

// Whether ops[first_op…] store a blob.
bool StoresBlob(const PendingTransaction& txn, size_t first_op);

// The one-way call that replays `op` in transaction `txn_id` (a blob's store
// is not one: SendOp sends it chunk by chunk). An error when a spilled
// record cannot be read back.
absl::StatusOr<OneWayCall> ReplayCall(const TransactionOp& op, int64_t txn_id);

// tpc_begin(txn_id, user, description, extension, tid, status).
OneWayCall BeginCall(const PendingTransaction& txn, int64_t txn_id,
                     const std::string& tid);

// Queues BeginCall on `c`.
absl::Status SendBegin(BackendConnection& c, const PendingTransaction& txn,
                       int64_t txn_id, const std::string& tid);

// Queues `op` on `c` (a blob store is sent as a ZEO client sends one: its
// chunks, then storeBlobEnd).
absl::Status SendOp(BackendConnection& c, const TransactionOp& op,
                    int64_t txn_id);

// Queues ops[first…] of `txn` (after its tpc_begin with `begin_tid`, unless
// null) on every member, a call at a time, each encoded once for all
// members (blobs are sent to each in turn). Element i of the result is
// member i's outcome; a member that failed gets nothing more. Queue never
// waits long (its bound is small), so this suits transactions of a few
// hundred KiB; a bigger one should go to each mirror from a thread of its
// own, so that a slow reader holds up no other.
std::vector<absl::Status> QueueOnEach(const std::vector<BackendMember>& members,
                                      const PendingTransaction& txn,
                                      size_t first, int64_t txn_id,
                                      const std::string* begin_tid);

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_COMMIT_TRANSACTION_CALLS_H_
