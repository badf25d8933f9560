// ReadRouter: sends a read (loadBefore, history, get_info…) to one optimal
// backend, spreading reads across them. A backend that fails for a transport
// reason is degraded and the read is retried on another, so the application
// sees no error while one optimal backend remains. An application error
// (POSKeyError) is an answer.
#ifndef ZEORAID_RAIDCORE_READ_READ_ROUTER_H_
#define ZEORAID_RAIDCORE_READ_READ_ROUTER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/worker_pool.h"
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

  // `method(args)` `times` times, pipelined on one backend: the first
  // optimal one in configuration order, so that calls whose answers come
  // from a backend's own state (new_oids: each backend counts oids by
  // itself) keep going to the same backend while it serves, instead of
  // alternating. A transport failure degrades that backend and the calls go
  // to the next. The answers in the order sent.
  absl::StatusOr<std::vector<ZeoReply>> ReadRepeatedOnFirst(
      absl::string_view method, const zeo::Value::Items& args, int times);

  using SnapshotCallback = std::function<void(absl::StatusOr<SnapshotReply>)>;
  // ReadAtSnapshot without blocking the caller: `done` runs once with what
  // ReadAtSnapshot would return. When the first backend asked answers and no
  // finish overlapped (the common case) it runs on that backend's reader
  // thread, with no thread hand-off; otherwise (a transport failure to
  // degrade and fail over from, a finish in progress or overlapping)
  // ReadAtSnapshot runs on one of the router's pool threads and `done` there.
  // The router must outlive every `done` not yet run.
  void ReadAtSnapshotThen(std::string method, zeo::Value::Items args,
                          SnapshotCallback done);

 private:
  BackendSet* const backends_;
  const CommitClock* const clock_;
  const absl::Duration timeout_;
  const absl::Duration slow_timeout_;
  // Runs ReadAtSnapshotThen's slow cases, which block. Declared last: its
  // destructor runs the jobs already submitted while the rest is intact.
  WorkerPool fallback_{2};
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_READ_READ_ROUTER_H_
