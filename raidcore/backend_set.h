// BackendSet: the mirrors of the RAID and their states (DESIGN.md, RAID rules).
//
// optimal → serves reads and writes; degraded → failed or disagreed, excluded
// until recovered; recovering → being rebuilt, no reads; disabled → taken out
// by an operator. The RAID is optimal when every backend is, failed when none
// is, degraded otherwise.
#ifndef ZEORAID_RAIDCORE_BACKEND_SET_H_
#define ZEORAID_RAIDCORE_BACKEND_SET_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "raidcore/backend_connection.h"

namespace zeoraid::raidcore {

enum class BackendState { kOptimal, kDegraded, kRecovering, kDisabled };
enum class RaidState { kOptimal, kDegraded, kFailed };

const char* BackendStateName(BackendState state);
const char* RaidStateName(RaidState state);

struct BackendStatus {
  std::string name;
  std::string address;
  BackendState state = BackendState::kDegraded;
  std::string reason;  // why it left optimal
  std::string last_tid;
};

// A backend taking part in an operation. The connection stays valid while the
// member is held, even if the backend is degraded meanwhile.
struct BackendMember {
  std::string name;
  std::shared_ptr<BackendConnection> connection;
};

class BackendSet {
 public:
  BackendSet() = default;
  BackendSet(const BackendSet&) = delete;
  BackendSet& operator=(const BackendSet&) = delete;

  // `connection` null = could not connect; the backend starts degraded with
  // `reason`.
  void Add(std::string name, std::string address,
           std::shared_ptr<BackendConnection> connection, std::string reason);

  // Every optimal backend, in configuration order.
  std::vector<BackendMember> Optimal() const;
  // One optimal backend for a read, spreading reads round robin.
  absl::StatusOr<BackendMember> PickReader();

  // Takes the backend out of service (closing its connection) and logs why.
  // Only an optimal or recovering backend changes state; returns true if it
  // did.
  bool Degrade(const std::string& name, const std::string& reason);
  void SetLastTid(const std::string& name, const std::string& tid);

  RaidState raid_state() const;
  std::vector<BackendStatus> Status() const;

 private:
  struct Entry {
    BackendStatus status;
    std::shared_ptr<BackendConnection> connection;
  };
  RaidState RaidStateLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
  size_t next_reader_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_BACKEND_SET_H_
