// RecoveryManager: keeps the RAID healing itself.
//
// - Liveness: a heartbeat (lastTransaction on a connection of its own) per
//   optimal backend every `heartbeat_interval` in which the RAID's
//   connection heard nothing from it; one that does not answer in
//   `heartbeat_timeout`, or whose RAID connection died, is degraded — even
//   with no traffic. A backend that stays busy has its probe connection
//   closed: ZEO sends every commit's invalidation to every other connection,
//   which would cost each backend CPU per commit.
// - Automatic re-admission: a backend degraded for a transport reason is
//   probed with exponential backoff; once it answers it is recovered
//   (RecoveryJob). Backends that disagreed or diverged wait for an operator.
// - One recovery at a time: a second request is refused naming the running
//   one; Cancel stops it, leaving the target degraded.
// - Reconciliation (PlanReconcile) at start-up, and whenever no backend is
//   optimal: the backends that hold the truth are re-admitted as they are.
//
// Threads: one supervisor, one heartbeat thread per backend, one for the
// running job. mu_ guards the job slot, the start-up state and backoffs.
#ifndef ZEORAID_RAIDCORE_RECOVERY_RECOVERY_MANAGER_H_
#define ZEORAID_RAIDCORE_RECOVERY_RECOVERY_MANAGER_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "raidcore/backend/backend_set.h"
#include "raidcore/commit/commit_clock.h"
#include "raidcore/commit/commit_coordinator.h"
#include "raidcore/commit/invalidation_hub.h"
#include "raidcore/recovery/recovery_job.h"
#include "raidcore/recovery/throttle.h"

namespace zeoraid::raidcore {

struct RecoveryManagerOptions {
  bool auto_recover = true;
  bool allow_degraded_start = false;
  absl::Duration heartbeat_interval = absl::Seconds(1);
  absl::Duration heartbeat_timeout = absl::Seconds(10);
  absl::Duration probe_backoff_min = absl::Seconds(1);
  absl::Duration probe_backoff_max = absl::Seconds(30);
  RecoveryRate rate;
  RecoveryJobOptions job;
};

class RecoveryManager {
 public:
  // Called once the start-up reconciliation decided, with the RAID's last tid
  // and an optimal backend (to fill the invalidation queue from).
  using StartupDone = std::function<void(const std::string& last_tid,
                                         const std::string& optimal_backend)>;

  RecoveryManager(BackendSet* backends, CommitCoordinator* commits,
                  CommitClock* clock, InvalidationHub* hub,
                  BackendConnectionFactory* connections,
                  RecoveryManagerOptions options);
  ~RecoveryManager();

  // Start-up: every backend must be in `backends` (degraded, "not yet
  // reconciled"). Reconciles, retrying up to `wait` for missing backends;
  // returns true when decided (else the supervisor keeps trying and
  // waiting_for() says why no commit is accepted). Then starts the threads.
  bool Start(absl::Duration wait, StartupDone on_startup);
  void Stop();

  // Admin API.
  absl::Status Recover(const std::string& name);
  absl::Status Cancel();
  void SetRate(RecoveryRate rate);
  RecoveryRate rate() const;
  // The running job's progress, else the last job's; nullopt before any.
  std::optional<RecoveryProgress> progress() const;
  // What recoveries copied since start: the finished jobs and the running one.
  struct Copied {
    uint64_t transactions = 0;
    uint64_t bytes = 0;
  };
  Copied copied() const;
  std::string waiting_for() const;
  bool auto_recover() const { return options_.auto_recover; }

 private:
  // One attempt: true when decided (or nothing to do).
  bool Reconcile() ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status StartJob(const std::string& name, bool automatic)
      ABSL_LOCKS_EXCLUDED(mu_);
  void RunJob(std::shared_ptr<RecoveryJob> job);
  // Doubles `name`'s probe delay (within the options' bounds) and schedules
  // its next probe; returns the delay.
  absl::Duration BackOffLocked(const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Supervise();
  void Heartbeat(const std::string& name);
  // Waits `d` or until Stop; false once stopping.
  bool Pause(absl::Duration d);

  BackendSet* const backends_;
  CommitCoordinator* const commits_;
  CommitClock* const clock_;
  InvalidationHub* const hub_;
  BackendConnectionFactory* const connections_;
  const RecoveryManagerOptions options_;
  Throttle throttle_;

  mutable Mutex mu_;
  CondVar stop_cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_up_ ABSL_GUARDED_BY(mu_) = false;  // start-up decided
  StartupDone on_startup_ ABSL_GUARDED_BY(mu_);
  std::string waiting_for_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<RecoveryJob> job_ ABSL_GUARDED_BY(mu_);
  bool job_running_ ABSL_GUARDED_BY(mu_) = false;
  // What the finished jobs copied (job_running_ turns false as a job's
  // counts are added, under mu_).
  Copied finished_ ABSL_GUARDED_BY(mu_);
  std::thread job_thread_ ABSL_GUARDED_BY(mu_);
  struct Backoff {
    absl::Time next;
    absl::Duration delay;
  };
  std::map<std::string, Backoff> backoff_ ABSL_GUARDED_BY(mu_);

  std::thread supervisor_;
  std::vector<std::thread> heartbeats_;
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_RECOVERY_RECOVERY_MANAGER_H_
