// OidAllocator: hands out new oids from an optimal backend, never the same oid
// twice.
//
// Each backend counts oids on its own; after a failover the next backend may
// not know oids its predecessor handed out but nobody stored yet. Remembering
// the highest oid handed out and skipping anything not above it keeps oids
// unique across failovers. The oids come from the first optimal backend for
// as long as it serves: asking the backends in turn would make every other
// call return oids the previous one already handed out.
#ifndef ZEORAID_RAIDCORE_READ_OID_ALLOCATOR_H_
#define ZEORAID_RAIDCORE_READ_OID_ALLOCATOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "raidcore/read/read_router.h"

namespace zeoraid::raidcore {

class OidAllocator {
 public:
  explicit OidAllocator(ReadRouter* router) : router_(router) {}

  // The most oids one NewOids hands out: a translator tops up its reserve
  // (1,000 by default) with one call instead of ten.
  static constexpr int kMaxCount = 1000;

  // `count` new oids (clamped to [1, kMaxCount]) in ascending order, as a
  // list. A backend's new_oids gives at most 100 at a time (ZEO's limit),
  // so more come from several calls, pipelined on one backend. An
  // application error from the backend (e.g. ReadOnlyError) comes back as
  // the ZeoReply.
  absl::StatusOr<ZeoReply> NewOids(int count);

 private:
  ReadRouter* const router_;
  Mutex mu_;  // one allocation at a time, so that max_handed_out_ only grows
  uint64_t max_handed_out_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_READ_OID_ALLOCATOR_H_
