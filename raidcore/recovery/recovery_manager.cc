#include "raidcore/recovery/recovery_manager.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/logging.h"
#include "raidcore/recovery/history_reader.h"
#include "raidcore/recovery/reconcile.h"
#include "zeo/tid.h"

namespace zeoraid::raidcore {

using zeo::TidHex;

RecoveryManager::RecoveryManager(BackendSet* backends,
                                 CommitCoordinator* commits, CommitClock* clock,
                                 InvalidationHub* hub,
                                 BackendConnectionFactory* connections,
                                 RecoveryManagerOptions options)
    : backends_(backends),
      commits_(commits),
      clock_(clock),
      hub_(hub),
      connections_(connections),
      options_(options),
      throttle_(options.rate) {}

RecoveryManager::~RecoveryManager() { Stop(); }

bool RecoveryManager::Pause(absl::Duration d) {
  auto deadline = CondVar::DeadlineAfter(d);
  MutexLock lock(&mu_);
  while (!stopping_) {
    if (!stop_cv_.WaitUntil(&mu_, deadline)) break;
  }
  return !stopping_;
}

bool RecoveryManager::Start(absl::Duration wait, StartupDone on_startup) {
  {
    MutexLock lock(&mu_);
    on_startup_ = std::move(on_startup);
  }
  const absl::Time give_up = absl::Now() + wait;
  bool decided = Reconcile();
  while (!decided && absl::Now() < give_up && Pause(absl::Milliseconds(200))) {
    decided = Reconcile();
  }
  if (!decided) {
    ZR_LOG(WARNING) << "no commit is accepted yet: " << waiting_for();
  }
  supervisor_ = std::thread([this] { Supervise(); });
  for (const std::string& name : backends_->Names()) {
    heartbeats_.emplace_back([this, name] { Heartbeat(name); });
  }
  return decided;
}

void RecoveryManager::Stop() {
  std::shared_ptr<RecoveryJob> job;
  {
    MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    job = job_;
  }
  stop_cv_.SignalAll();
  if (job != nullptr) job->Cancel();
  if (supervisor_.joinable()) supervisor_.join();
  for (std::thread& t : heartbeats_) t.join();
  std::thread job_thread;
  {
    MutexLock lock(&mu_);
    job_thread = std::move(job_thread_);
  }
  if (job_thread.joinable()) job_thread.join();
}

std::string RecoveryManager::waiting_for() const {
  MutexLock lock(&mu_);
  return waiting_for_;
}

void RecoveryManager::SetRate(RecoveryRate rate) {
  throttle_.SetRate(rate);
  ZR_LOG(INFO) << "recovery rate set to "
               << (rate.bytes_per_second > 0
                       ? absl::StrCat(rate.bytes_per_second, " bytes/s")
                       : "unlimited bytes/s")
               << ", "
               << (rate.transactions_per_second > 0
                       ? absl::StrCat(rate.transactions_per_second, " txn/s")
                       : "unlimited txn/s");
}

RecoveryRate RecoveryManager::rate() const { return throttle_.rate(); }

std::optional<RecoveryProgress> RecoveryManager::progress() const {
  std::shared_ptr<RecoveryJob> job;
  {
    MutexLock lock(&mu_);
    job = job_;
  }
  if (job == nullptr) return std::nullopt;
  return job->progress();
}

RecoveryManager::Copied RecoveryManager::copied() const {
  Copied out;
  std::shared_ptr<RecoveryJob> running;
  {
    MutexLock lock(&mu_);
    out = finished_;
    if (job_running_) running = job_;
  }
  // Read after the lock: a job that finished meanwhile is in neither count
  // twice (its progress is final, finished_ was read before it was added).
  if (running != nullptr) {
    RecoveryProgress p = running->progress();
    out.transactions += p.transactions_copied;
    out.bytes += p.bytes_copied;
  }
  return out;
}

bool RecoveryManager::Reconcile() {
  bool started_up;
  {
    MutexLock lock(&mu_);
    started_up = started_up_;
  }
  // Everyone not disabled may hold the truth; ask them all at once (a stopped
  // backend costs a connect timeout).
  std::vector<std::string> names;
  for (const BackendStatus& b : backends_->Status()) {
    if (b.state == BackendState::kDegraded) names.push_back(b.name);
  }
  std::vector<absl::StatusOr<std::shared_ptr<BackendConnection>>> conns(
      names.size(), absl::UnknownError("not asked"));
  {
    std::vector<std::thread> askers;
    for (size_t i = 0; i < names.size(); ++i) {
      askers.emplace_back(
          [&, i] { conns[i] = connections_->Connect(names[i]); });
    }
    for (std::thread& t : askers) t.join();
  }
  std::vector<BackendReport> reports;
  std::map<std::string, std::string> verified;
  for (size_t i = 0; i < names.size(); ++i) {
    BackendReport r{names[i], std::nullopt};
    if (conns[i].ok()) {
      // What the iterator shows, not only what register reported: after a
      // crash a FileStorage may report a transaction it truncated.
      absl::StatusOr<std::string> last = VerifiedLastTransaction(
          **conns[i], (*conns[i])->registered_tid(), options_.job.call_timeout);
      if (last.ok()) {
        r.last_tid = *last;
        verified[names[i]] = *last;
      } else {
        ZR_LOG(WARNING) << "backend " << names[i]
                        << ": cannot read its last transaction: "
                        << last.status().message();
        (*conns[i])->Close();
        conns[i] = last.status();
      }
    }
    reports.push_back(std::move(r));
  }
  auto close_all = [&] {
    for (auto& c : conns) {
      if (c.ok() && *c != nullptr) (*c)->Close();
    }
  };
  // Why each silent backend is silent, in its status and (once) in the log.
  for (size_t i = 0; i < names.size(); ++i) {
    if (!conns[i].ok()) {
      backends_->SetDegradedReason(
          names[i],
          absl::StrCat("cannot connect: ", conns[i].status().message()),
          DegradeKind::kTransport);
    }
  }
  std::optional<InvalidationEvent> unconfirmed = commits_->unconfirmed();
  const ReconcilePlan plan = PlanReconcile(
      reports, started_up ? clock_->last_tid() : "",
      unconfirmed ? std::optional<std::string>(unconfirmed->tid) : std::nullopt,
      !started_up && options_.allow_degraded_start);
  if (!plan.decided) {
    close_all();
    MutexLock lock(&mu_);
    if (waiting_for_ != plan.waiting_for) {
      ZR_LOG(WARNING) << "RAID accepts no commits: " << plan.waiting_for;
    }
    waiting_for_ = plan.waiting_for;
    return false;
  }

  CommitLock* lock = commits_->commit_lock();
  absl::Status locked = lock->Acquire(options_.job.lock_wait, "reconciliation");
  if (!locked.ok()) {
    close_all();
    return false;
  }
  std::string optimal_name;
  {
    CommitLockHold hold(lock);
    if (!started_up) {
      clock_->StartFinish();
      clock_->EndFinish(plan.truth_tid);
      hub_->Restart(plan.truth_tid);
    }
    if (plan.adopt_unconfirmed) commits_->AdoptUnconfirmed();
    for (size_t i = 0; i < names.size(); ++i) {
      if (std::find(plan.optimal.begin(), plan.optimal.end(), names[i]) ==
          plan.optimal.end()) {
        continue;
      }
      if (backends_->Readmit(names[i], *conns[i], plan.truth_tid).ok()) {
        if (optimal_name.empty()) optimal_name = names[i];
        *conns[i] = nullptr;  // the RAID's now
      }
    }
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (!conns[i].ok() || *conns[i] == nullptr) continue;
    const std::string tid = verified[names[i]];
    if (std::find(plan.ahead.begin(), plan.ahead.end(), names[i]) !=
        plan.ahead.end()) {
      backends_->SetDegradedReason(
          names[i],
          absl::StrCat("diverged: its last tid ", TidHex(tid),
                       " is newer than the RAID's ", TidHex(plan.truth_tid),
                       " and unknown to it; rebuild it into an empty storage"),
          DegradeKind::kDiverged);
    } else {
      backends_->SetDegradedReason(
          names[i],
          absl::StrCat("behind: last tid ", TidHex(tid), ", the RAID is at ",
                       TidHex(plan.truth_tid)),
          DegradeKind::kTransport);
    }
  }
  close_all();
  StartupDone on_startup;
  {
    MutexLock lock(&mu_);
    waiting_for_.clear();
    if (!started_up_) {
      started_up_ = true;
      on_startup = std::move(on_startup_);
    }
  }
  ZR_LOG(INFO) << "reconciled at tid " << TidHex(plan.truth_tid) << ": "
               << plan.optimal.size() << " backend(s) optimal, "
               << plan.behind.size() << " behind, " << plan.missing.size()
               << " missing";
  if (on_startup) on_startup(plan.truth_tid, optimal_name);
  return true;
}

absl::Status RecoveryManager::Recover(const std::string& name) {
  return StartJob(name, /*automatic=*/false);
}

absl::Status RecoveryManager::Cancel() {
  MutexLock lock(&mu_);
  if (!job_running_) return absl::NotFoundError("no recovery is running");
  job_->Cancel();
  ZR_LOG(INFO) << "recovery of " << job_->progress().backend
               << " cancelled by an operator";
  return absl::OkStatus();
}

absl::Status RecoveryManager::StartJob(const std::string& name,
                                       bool automatic) {
  MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("raidcore is stopping");
  if (!started_up_) {
    return absl::FailedPreconditionError(
        absl::StrCat("the RAID is not reconciled yet: ", waiting_for_));
  }
  if (job_running_) {
    RecoveryProgress p = job_->progress();
    return absl::FailedPreconditionError(
        absl::StrCat("recovery of ", p.backend, " is running (", p.phase, ", ",
                     p.transactions_copied,
                     " transactions copied); one at a time: "
                     "cancel it first"));
  }
  if (backends_->Optimal().empty()) {
    return absl::FailedPreconditionError("no optimal backend to recover from");
  }
  absl::Status begun = backends_->BeginRecovery(name);
  if (!begun.ok()) return begun;
  if (job_thread_.joinable()) job_thread_.join();  // the last job, finished
  job_ = std::make_shared<RecoveryJob>(name, backends_, commits_->commit_lock(),
                                       clock_, connections_, &throttle_,
                                       options_.job);
  job_running_ = true;
  job_thread_ = std::thread([this, job = job_] { RunJob(job); });
  ZR_LOG(INFO) << "recovery of " << name << " started"
               << (automatic ? " automatically" : " by an operator");
  return absl::OkStatus();
}

void RecoveryManager::RunJob(std::shared_ptr<RecoveryJob> job) {
  const absl::Time start = absl::Now();
  absl::Status result = job->Run();
  RecoveryProgress p = job->progress();
  if (result.ok()) {
    ZR_LOG(INFO) << "recovery of " << p.backend << " from " << p.source
                 << " done (" << p.mode << "): " << p.transactions_copied
                 << " transactions, " << p.bytes_copied << " bytes in "
                 << absl::FormatDuration(absl::Now() - start)
                 << "; commit lock held "
                 << absl::FormatDuration(
                        absl::Seconds(p.longest_lock_hold_seconds));
  }
  DegradeKind kind = DegradeKind::kTransport;
  std::string phase = "done";
  if (!result.ok()) {
    phase = "failed";
    if (absl::IsCancelled(result)) {
      phase = "cancelled";
      kind = DegradeKind::kCancelled;
    } else if (job->diverged()) {
      kind = DegradeKind::kDiverged;
    }
    const std::string reason =
        phase == "cancelled"
            ? std::string(
                  "recovery cancelled by an operator "
                  "(zeoraid-admin recover resumes it)")
            : absl::StrCat("recovery failed: ", result.message());
    backends_->AbandonRecovery(p.backend, reason, kind);
  }
  job->Finish(phase, result.ok() ? "" : std::string(result.message()));
  p = job->progress();
  MutexLock lock(&mu_);
  finished_.transactions += p.transactions_copied;
  finished_.bytes += p.bytes_copied;
  if (!result.ok() && kind == DegradeKind::kTransport) {
    BackOffLocked(p.backend);
  } else {
    backoff_.erase(p.backend);
  }
  job_running_ = false;
}

absl::Duration RecoveryManager::BackOffLocked(const std::string& name) {
  Backoff& b = backoff_[name];
  b.delay = std::min(std::max(b.delay * 2, options_.probe_backoff_min),
                     options_.probe_backoff_max);
  b.next = absl::Now() + b.delay;
  return b.delay;
}

void RecoveryManager::Supervise() {
  while (Pause(absl::Milliseconds(500))) {
    bool started_up, job_running;
    {
      MutexLock lock(&mu_);
      started_up = started_up_;
      job_running = job_running_;
    }
    // Even while a job runs: its source may be the backend that just failed,
    // and the RAID must not stay failed until the job notices.
    if (!started_up || backends_->raid_state() == RaidState::kFailed) {
      Reconcile();
      continue;
    }
    if (!options_.auto_recover || job_running) continue;
    for (const BackendStatus& b : backends_->Status()) {
      if (b.state != BackendState::kDegraded ||
          b.kind != DegradeKind::kTransport) {
        continue;
      }
      {
        MutexLock lock(&mu_);
        auto it = backoff_.find(b.name);
        if (it != backoff_.end() && absl::Now() < it->second.next) continue;
      }
      absl::StatusOr<std::shared_ptr<BackendConnection>> probe =
          connections_->Connect(b.name);
      if (!probe.ok()) {
        MutexLock lock(&mu_);
        const absl::Duration delay = BackOffLocked(b.name);
        ZR_LOG(DEBUG) << "backend " << b.name << " still unreachable ("
                      << probe.status().message() << "); next try in "
                      << absl::FormatDuration(delay);
        continue;
      }
      (*probe)->Close();
      ZR_LOG(INFO) << "backend " << b.name << " answers again; recovering it";
      absl::Status started = StartJob(b.name, /*automatic=*/true);
      if (!started.ok()) {
        ZR_LOG(WARNING) << "cannot start recovery of " << b.name << ": "
                        << started.message();
      }
      break;
    }
  }
}

// Ticks in a row in which the RAID's connection heard from the backend after
// which an idle probe connection is closed (a flapping load does not
// reconnect it every other tick).
constexpr int kBusyTicksBeforeProbeCloses = 5;

void RecoveryManager::Heartbeat(const std::string& name) {
  std::shared_ptr<BackendConnection> probe;
  int busy_ticks = 0;
  while (Pause(options_.heartbeat_interval)) {
    std::optional<BackendStatus> status = backends_->StatusOf(name);
    if (!status.has_value() || status->state != BackendState::kOptimal) {
      if (probe != nullptr) probe->Close();
      probe = nullptr;
      continue;
    }
    // The probe may get through while the RAID's own connection is gone (a
    // reset socket, a restarted server): that one serves the RAID.
    std::shared_ptr<BackendConnection> serving = backends_->ConnectionOf(name);
    if (serving != nullptr && !serving->alive()) {
      backends_->Degrade(name, "its connection was lost");
      continue;
    }
    // Answers on the RAID's own connection prove the backend alive. (A
    // backend that stops answering in the middle of calls is also degraded
    // by their timeouts.)
    if (serving != nullptr &&
        absl::Now() - serving->last_heard() < options_.heartbeat_interval) {
      if (++busy_ticks >= kBusyTicksBeforeProbeCloses && probe != nullptr) {
        probe->Close();
        probe = nullptr;
      }
      continue;
    }
    busy_ticks = 0;
    absl::Status failure;
    if (probe == nullptr) {
      absl::StatusOr<std::shared_ptr<BackendConnection>> c =
          connections_->ConnectWithin(name, options_.heartbeat_timeout);
      if (c.ok()) {
        probe = *std::move(c);
      } else {
        failure = c.status();
      }
    }
    if (probe != nullptr) {
      absl::StatusOr<ZeoReply> last =
          probe->Call("lastTransaction", {}, options_.heartbeat_timeout);
      if (!last.ok()) {
        failure = last.status();
        probe->Close();
        probe = nullptr;
      }
    }
    if (!failure.ok()) {
      backends_->Degrade(name,
                         absl::StrCat("no heartbeat: ", failure.message()));
    }
  }
  if (probe != nullptr) probe->Close();
}

}  // namespace zeoraid::raidcore
