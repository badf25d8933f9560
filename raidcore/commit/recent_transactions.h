// ReadRecentTransactions: what a backend committed lately, as invalidations.
//
// A ZEO server fills its invalidation queue at start-up from the storage's
// last transactions (FileStorage.lastInvalidations), so that clients which
// were up to date before a restart verify their caches quickly. raidcore does
// the same over the ZEO protocol: undoLog names the tids of the last
// transactions, and a transaction iterator from the oldest of them up to the
// backend's last tid yields their oids.
#ifndef ZEORAID_RAIDCORE_COMMIT_RECENT_TRANSACTIONS_H_
#define ZEORAID_RAIDCORE_COMMIT_RECENT_TRANSACTIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "raidcore/backend/backend_connection.h"
#include "raidcore/commit/invalidation_hub.h"

namespace zeoraid::raidcore {

// The last transactions of `backend` up to and including `last_tid`, oldest
// first, for InvalidationHub::Prefill: at most `count` of them (what ZEO's
// lastInvalidations(count) gives), the first one being the floor (clients at
// an older tid get None, as from ZEO), or none for an empty storage. Every
// transaction between the first and `last_tid` is included. Each call to the
// backend gets `timeout`. Errors when the backend cannot say (not a
// FileStorage-like undoLog, an iterator failure) or its last transaction is
// not `last_tid`. It reads ranges of about `chunk` transactions, newest
// first: when time runs out (`deadline`) or an older range fails, it returns
// the newer ranges read so far (a shorter queue, logged). Best run on a
// connection of its own: a failure may leave it broken.
absl::StatusOr<std::vector<InvalidationEvent>> ReadRecentTransactions(
    BackendConnection& backend, const std::string& last_tid, size_t count,
    absl::Duration timeout, absl::Time deadline = absl::InfiniteFuture(),
    size_t chunk = 64);

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_COMMIT_RECENT_TRANSACTIONS_H_
