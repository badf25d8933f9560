// OidAllocator: hands out new oids from an optimal backend, never the same oid
// twice.
//
// Each backend counts oids on its own; after a failover the next backend may
// not know oids its predecessor handed out but nobody stored yet. Remembering
// the highest oid handed out and skipping anything not above it keeps oids
// unique across failovers.
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

  // ZEO new_oids(count): count in [1, 100]. An application error from the
  // backend (e.g. ReadOnlyError) comes back as the ZeoReply.
  absl::StatusOr<ZeoReply> NewOids(int count);

 private:
  ReadRouter* const router_;
  Mutex mu_;  // one allocation at a time, so that max_handed_out_ only grows
  uint64_t max_handed_out_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_READ_OID_ALLOCATOR_H_
