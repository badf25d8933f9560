// ReadRouter: sends a read (loadBefore, history, get_info…) to one optimal
// backend, spreading reads across them. A backend that fails for a transport
// reason is degraded and the read is retried on another, so the application
// sees no error while one optimal backend remains. An application error
// (POSKeyError) is an answer.
#ifndef ZEORAID_RAIDCORE_READ_READ_ROUTER_H_
#define ZEORAID_RAIDCORE_READ_READ_ROUTER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "raidcore/backend/backend_set.h"
#include "raidcore/commit/commit_clock.h"

namespace zeoraid::raidcore {

struct SnapshotReply {
  ZeoReply reply;
  // The answer reflects exactly the transactions up to this tid.
  std::string snapshot_tid;
};

class ReadRouter {
 public:
  // `slow_timeout` is for reads that take long on a big database (undoLog,
  // undoInfo): a backend is not degraded for being slow at those.
  ReadRouter(BackendSet* backends, const CommitClock* clock,
             absl::Duration timeout, absl::Duration slow_timeout)
      : backends_(backends),
        clock_(clock),
        timeout_(timeout),
        slow_timeout_(slow_timeout) {}
  ReadRouter(BackendSet* backends, const CommitClock* clock,
             absl::Duration timeout)
      : ReadRouter(backends, clock, timeout, timeout) {}

  absl::StatusOr<ZeoReply> Read(absl::string_view method,
                                const zeo::Value::Items& args);
  // Like Read, and also names the snapshot the answer reflects.
  absl::StatusOr<SnapshotReply> ReadAtSnapshot(absl::string_view method,
                                               const zeo::Value::Items& args);

 private:
  BackendSet* const backends_;
  const CommitClock* const clock_;
  const absl::Duration timeout_;
  const absl::Duration slow_timeout_;
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_READ_READ_ROUTER_H_
