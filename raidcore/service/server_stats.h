// ServerStats: the counters ZEO's server_status reports (ZEO.monitor's
// StorageStats), kept by raidcore for the whole RAID as one ZEO server keeps
// them for its clients, rather than read from one backend (whose counters only
// see raidcore's own calls).
#ifndef ZEORAID_RAIDCORE_SERVICE_SERVER_STATS_H_
#define ZEORAID_RAIDCORE_SERVICE_SERVER_STATS_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "zeo/value.h"

namespace zeoraid::raidcore {

class ServerStats {
 public:
  ServerStats();

  // As ZEO's server counts: a loadBefore; a storea, restorea or deleteObject;
  // a tpc_begin (active until finished or aborted); a finish; an abort of the
  // current transaction; a vote that raised a ConflictError.
  void Load() { loads_.fetch_add(1, std::memory_order_relaxed); }
  void Store() { stores_.fetch_add(1, std::memory_order_relaxed); }
  void Begin() { active_txns_.fetch_add(1, std::memory_order_relaxed); }
  void End() { active_txns_.fetch_sub(1, std::memory_order_relaxed); }
  void Commit() { commits_.fetch_add(1, std::memory_order_relaxed); }
  void Abort() { aborts_.fetch_add(1, std::memory_order_relaxed); }
  void Conflict() { conflicts_.fetch_add(1, std::memory_order_relaxed); }

  struct Counts {
    int64_t loads, stores, commits, aborts, conflicts, active_txns;
  };
  Counts counts() const {
    return {loads_.load(std::memory_order_relaxed),
            stores_.load(std::memory_order_relaxed),
            commits_.load(std::memory_order_relaxed),
            aborts_.load(std::memory_order_relaxed),
            conflicts_.load(std::memory_order_relaxed),
            active_txns_.load(std::memory_order_relaxed)};
  }

  // The server_status dict, keys in ZEO's order.
  zeo::Value Status(int64_t connections, int64_t waiting,
                    std::optional<absl::Time> lock_time,
                    const std::string& last_tid) const;

 private:
  const std::string start_;  // time.ctime() of the start
  std::atomic<int64_t> loads_{0};
  std::atomic<int64_t> stores_{0};
  std::atomic<int64_t> commits_{0};
  std::atomic<int64_t> aborts_{0};
  std::atomic<int64_t> active_txns_{0};
  std::atomic<int64_t> conflicts_{0};
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_SERVICE_SERVER_STATS_H_
