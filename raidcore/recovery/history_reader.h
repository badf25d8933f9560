// Reading a backend's history over ZEO's iterator protocol (iterator_start,
// iterator_next, iterator_record_start, iterator_record_next, iterator_gc),
// for recovery and reconciliation. Each call is synchronous; an application
// error is turned into a Status, since nobody downstream is a ZEO client.
#ifndef ZEORAID_RAIDCORE_RECOVERY_HISTORY_READER_H_
#define ZEORAID_RAIDCORE_RECOVERY_HISTORY_READER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "raidcore/backend/backend_connection.h"
#include "zeo/value.h"

namespace zeoraid::raidcore {

// One transaction as ZEO's iterator gives it: the header (tid, status, user,
// description, extension) and its records (oid, tid, data, data_txn).
struct CopiedTransaction {
  zeo::Value header;
  std::vector<zeo::Value> records;
  uint64_t bytes = 0;  // user, description and record data
  std::string tid() const { return header.items()[0].string_value(); }
};

// `method` on `c`; a transport failure keeps its code, an application error
// becomes Aborted. `who` names the side in messages ("source", "target").
absl::StatusOr<zeo::Value> Ask(BackendConnection& c, const char* who,
                               absl::string_view method, zeo::Value::Items args,
                               absl::Duration timeout);

// The next transaction of iterator `iid` with its records; nullopt at the
// end (the server then frees the iterator).
absl::StatusOr<std::optional<CopiedTransaction>> ReadNext(
    BackendConnection& c, const char* who, const zeo::Value& iid,
    absl::Duration timeout);

// Frees an iterator we stop reading early (best effort).
void Forget(BackendConnection& c, const zeo::Value& iid);

// The backend's real last transaction. A FileStorage whose last transaction
// was cut short by a crash truncates it when reopened, yet may report its tid
// as lastTransaction all the same; so the iterator decides: from the reported
// tid, else from ever wider windows before it (a minute of tids, 16, 256…).
// Costs one short iteration when the report is right.
absl::StatusOr<std::string> VerifiedLastTransaction(BackendConnection& c,
                                                    const std::string& reported,
                                                    absl::Duration timeout);

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_RECOVERY_HISTORY_READER_H_
