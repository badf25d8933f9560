// BackendSet: the mirrors of the RAID and their states (DESIGN.md, RAID rules).
//
// optimal → serves reads and writes; degraded → failed or disagreed, excluded
// until recovered; recovering → being rebuilt, no reads; disabled → taken out
// by an operator. The RAID is optimal when every backend is, failed when none
// is, degraded otherwise.
#ifndef ZEORAID_RAIDCORE_BACKEND_BACKEND_SET_H_
#define ZEORAID_RAIDCORE_BACKEND_BACKEND_SET_H_

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "raidcore/backend/backend_connection.h"

namespace zeoraid::raidcore {

enum class BackendState { kOptimal, kDegraded, kRecovering, kDisabled };
// Why a backend left optimal. Only a transport failure (connection lost, a
// timeout, not reachable) is healed automatically: a backend that answered
// differently from the others, or whose history diverged, needs an operator.
// An operator cancelled its recovery: it waits for the operator too.
enum class DegradeKind { kTransport, kDisagreed, kDiverged, kCancelled };
enum class RaidState { kOptimal, kDegraded, kFailed };

const char* BackendStateName(BackendState state);
const char* RaidStateName(RaidState state);
const char* DegradeKindName(DegradeKind kind);

// A backend's state change, for operators (Admin/Details).
struct StateChange {
  absl::Time at;
  BackendState from;
  BackendState to;
  std::string reason;
};

struct BackendStatus {
  std::string name;
  std::string address;
  BackendState state = BackendState::kDegraded;
  std::string reason;  // why it left optimal
  DegradeKind kind = DegradeKind::kTransport;
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
  bool Degrade(const std::string& name, const std::string& reason,
               DegradeKind kind = DegradeKind::kTransport);
  void SetLastTid(const std::string& name, const std::string& tid);

  // Recovery: degraded → recovering (no reads, no commits). FailedPrecondition
  // unless the backend is degraded; NotFound for an unknown name.
  absl::Status BeginRecovery(const std::string& name);
  // recovering → optimal, serving through `connection`, which holds every
  // transaction up to `last_tid`. REQUIRES: the caller holds the commit lock
  // and `last_tid` is the RAID's last committed tid, so the backend misses
  // nothing. Fails (changing nothing) if the backend left recovering meanwhile.
  absl::Status CompleteRecovery(const std::string& name,
                                std::shared_ptr<BackendConnection> connection,
                                const std::string& last_tid);
  // recovering → degraded (a failed or cancelled recovery).
  void AbandonRecovery(const std::string& name, const std::string& reason,
                       DegradeKind kind);
  // degraded → optimal without copying anything: the backend reported the
  // RAID's last tid (re-admission of a failed RAID, start-up). Same
  // requirements as CompleteRecovery.
  absl::Status Readmit(const std::string& name,
                       std::shared_ptr<BackendConnection> connection,
                       const std::string& last_tid);

  // A degraded backend's reason and kind, as found by reconciliation.
  void SetDegradedReason(const std::string& name, const std::string& reason,
                         DegradeKind kind);

  // The connection serving the backend (null if none or unknown).
  std::shared_ptr<BackendConnection> ConnectionOf(
      const std::string& name) const;

  // nullopt for an unknown name.
  std::optional<BackendStatus> StatusOf(const std::string& name) const;
  std::vector<std::string> Names() const;

  RaidState raid_state() const;
  // True when every optimal backend is registered read-only (a RAID over
  // read-only ZEO servers): it serves read-only clients only.
  bool read_only() const;
  std::vector<BackendStatus> Status() const;
  // How often each backend left optimal, by kind (for metrics): one count per
  // Degrade that changed its state.
  struct DegradationCount {
    std::string name;
    DegradeKind kind;
    uint64_t count;
  };
  std::vector<DegradationCount> Degradations() const;
  // The backend's last state changes, oldest first (empty for an unknown
  // name).
  std::vector<StateChange> History(const std::string& name) const;

  // An operator takes a backend out: it serves nothing and is not recovered
  // by itself until Enable. Refused (FailedPrecondition) for the last optimal
  // backend and while it is being recovered; NotFound for an unknown name.
  absl::Status Disable(const std::string& name, const std::string& reason);
  // disabled → degraded (for a transport reason, so recovery takes it up).
  absl::Status Enable(const std::string& name);
  // Forgets a backend (its connection closed). Refused (FailedPrecondition)
  // for the last optimal backend and while it is being recovered.
  absl::Status Remove(const std::string& name);

 private:
  struct Entry {
    BackendStatus status;
    std::shared_ptr<BackendConnection> connection;
    std::deque<StateChange> history;  // oldest first, at most kHistory
  };
  static constexpr size_t kHistory = 16;
  // `entry` is optimal and no other backend is: taking it out fails the RAID.
  bool LastOptimalLocked(const Entry& entry) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves `e` to `to`, remembering why (every state change goes through it).
  void SetStateLocked(Entry* e, BackendState to, const std::string& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  RaidState RaidStateLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Entry* FindLocked(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sets `entry` optimal on `connection` and logs the RAID's new state.
  void MakeOptimalLocked(Entry* entry,
                         std::shared_ptr<BackendConnection> connection,
                         const std::string& last_tid, const char* how)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, DegradeKind>, uint64_t> degradations_
      ABSL_GUARDED_BY(mu_);
  size_t next_reader_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_BACKEND_BACKEND_SET_H_
