#include "raidcore/backend/backend_set.h"

#include "absl/strings/str_cat.h"
#include "base/logging.h"

namespace zeoraid::raidcore {

const char* BackendStateName(BackendState state) {
  switch (state) {
    case BackendState::kOptimal:
      return "optimal";
    case BackendState::kDegraded:
      return "degraded";
    case BackendState::kRecovering:
      return "recovering";
    case BackendState::kDisabled:
      return "disabled";
  }
  return "unknown";
}

const char* DegradeKindName(DegradeKind kind) {
  switch (kind) {
    case DegradeKind::kTransport:
      return "transport";
    case DegradeKind::kDisagreed:
      return "disagreed";
    case DegradeKind::kDiverged:
      return "diverged";
    case DegradeKind::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

const char* RaidStateName(RaidState state) {
  switch (state) {
    case RaidState::kOptimal:
      return "optimal";
    case RaidState::kDegraded:
      return "degraded";
    case RaidState::kFailed:
      return "failed";
  }
  return "unknown";
}

void BackendSet::Add(std::string name, std::string address,
                     std::shared_ptr<BackendConnection> connection,
                     std::string reason) {
  Entry entry;
  entry.status.name = std::move(name);
  entry.status.address = std::move(address);
  if (connection != nullptr) {
    entry.status.state = BackendState::kOptimal;
    entry.status.last_tid = connection->registered_tid();
  } else {
    entry.status.state = BackendState::kDegraded;
    entry.status.reason = std::move(reason);
    ZR_LOG(INFO) << "backend " << entry.status.name << " ("
                 << entry.status.address
                 << ") starts degraded: " << entry.status.reason;
  }
  entry.connection = std::move(connection);
  entry.history.push_back({absl::Now(), entry.status.state, entry.status.state,
                           entry.status.state == BackendState::kOptimal
                               ? "configured"
                               : entry.status.reason});
  MutexLock lock(&mu_);
  entries_.push_back(std::move(entry));
}

void BackendSet::SetStateLocked(Entry* e, BackendState to,
                                const std::string& reason) {
  e->history.push_back({absl::Now(), e->status.state, to, reason});
  while (e->history.size() > kHistory) e->history.pop_front();
  e->status.state = to;
}

std::vector<StateChange> BackendSet::History(const std::string& name) const {
  MutexLock lock(&mu_);
  for (const Entry& e : entries_) {
    if (e.status.name == name) return {e.history.begin(), e.history.end()};
  }
  return {};
}

bool BackendSet::LastOptimalLocked(const Entry& entry) const {
  if (entry.status.state != BackendState::kOptimal) return false;
  for (const Entry& e : entries_) {
    if (&e != &entry && e.status.state == BackendState::kOptimal) return false;
  }
  return true;
}

absl::Status BackendSet::Disable(const std::string& name,
                                 const std::string& reason) {
  std::shared_ptr<BackendConnection> to_close;
  RaidState before, after;
  {
    MutexLock lock(&mu_);
    Entry* e = FindLocked(name);
    if (e == nullptr) {
      return absl::NotFoundError(absl::StrCat("no backend named '", name, "'"));
    }
    switch (e->status.state) {
      case BackendState::kDisabled:
        return absl::OkStatus();
      case BackendState::kRecovering:
        return absl::FailedPreconditionError(
            absl::StrCat("backend ", name,
                         " is being recovered; cancel the recovery first"));
      case BackendState::kOptimal:
        if (LastOptimalLocked(*e)) {
          return absl::FailedPreconditionError(absl::StrCat(
              "backend ", name,
              " is the last optimal backend: disabling it would fail the "
              "RAID"));
        }
        break;
      case BackendState::kDegraded:
        break;
    }
    before = RaidStateLocked();
    SetStateLocked(e, BackendState::kDisabled, reason);
    e->status.reason = reason;
    e->status.kind = DegradeKind::kCancelled;
    to_close = e->connection;
    after = RaidStateLocked();
  }
  ZR_LOG(WARNING) << "backend " << name << " disabled: " << reason;
  if (after != before) {
    ZR_LOG(WARNING) << "RAID state " << RaidStateName(before) << " -> "
                    << RaidStateName(after);
  }
  // It must not take part in a transaction under way.
  if (to_close != nullptr) to_close->Close();
  return absl::OkStatus();
}

absl::Status BackendSet::Remove(const std::string& name) {
  std::shared_ptr<BackendConnection> to_close;
  {
    MutexLock lock(&mu_);
    auto it = entries_.begin();
    while (it != entries_.end() && it->status.name != name) ++it;
    if (it == entries_.end()) {
      return absl::NotFoundError(absl::StrCat("no backend named '", name, "'"));
    }
    if (it->status.state == BackendState::kRecovering) {
      return absl::FailedPreconditionError(absl::StrCat(
          "backend ", name, " is being recovered; cancel the recovery first"));
    }
    if (LastOptimalLocked(*it)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "backend ", name,
          " is the last optimal backend: removing it would fail the RAID"));
    }
    to_close = it->connection;
    entries_.erase(it);
    if (!entries_.empty()) next_reader_ %= entries_.size();
  }
  ZR_LOG(WARNING) << "backend " << name << " removed";
  if (to_close != nullptr) to_close->Close();
  return absl::OkStatus();
}

absl::Status BackendSet::Enable(const std::string& name) {
  MutexLock lock(&mu_);
  Entry* e = FindLocked(name);
  if (e == nullptr) {
    return absl::NotFoundError(absl::StrCat("no backend named '", name, "'"));
  }
  if (e->status.state != BackendState::kDisabled) {
    return absl::FailedPreconditionError(
        absl::StrCat("backend ", name, " is ",
                     BackendStateName(e->status.state), ", not disabled"));
  }
  const std::string reason =
      "enabled by an operator: to be recovered before it serves";
  SetStateLocked(e, BackendState::kDegraded, reason);
  e->status.reason = reason;
  e->status.kind = DegradeKind::kTransport;
  ZR_LOG(INFO) << "backend " << name << " enabled; it rejoins through recovery";
  return absl::OkStatus();
}

std::vector<BackendMember> BackendSet::Optimal() const {
  MutexLock lock(&mu_);
  std::vector<BackendMember> out;
  for (const Entry& e : entries_) {
    if (e.status.state == BackendState::kOptimal) {
      out.push_back({e.status.name, e.connection});
    }
  }
  return out;
}

absl::StatusOr<BackendMember> BackendSet::PickReader() {
  MutexLock lock(&mu_);
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[(next_reader_ + i) % entries_.size()];
    if (e.status.state == BackendState::kOptimal) {
      next_reader_ = (next_reader_ + i + 1) % entries_.size();
      return BackendMember{e.status.name, e.connection};
    }
  }
  return absl::UnavailableError("RAID failed: no optimal backend");
}

bool BackendSet::Degrade(const std::string& name, const std::string& reason,
                         DegradeKind kind) {
  std::shared_ptr<BackendConnection> to_close;
  RaidState before, after;
  {
    MutexLock lock(&mu_);
    before = RaidStateLocked();
    bool changed = false;
    for (Entry& e : entries_) {
      if (e.status.name != name) continue;
      if (e.status.state != BackendState::kOptimal &&
          e.status.state != BackendState::kRecovering) {
        break;
      }
      SetStateLocked(&e, BackendState::kDegraded, reason);
      e.status.reason = reason;
      e.status.kind = kind;
      ++degradations_[{name, kind}];
      to_close = e.connection;
      changed = true;
      break;
    }
    if (!changed) return false;
    after = RaidStateLocked();
  }
  ZR_LOG(WARNING) << "backend " << name << " degraded: " << reason;
  if (after != before) {
    if (after == RaidState::kFailed) {
      ZR_LOG(ERROR) << "RAID state " << RaidStateName(before) << " -> "
                    << RaidStateName(after) << ": no optimal backend left";
    } else {
      ZR_LOG(WARNING) << "RAID state " << RaidStateName(before) << " -> "
                      << RaidStateName(after);
    }
  }
  // Closing makes the backend abort whatever this connection had in progress.
  if (to_close != nullptr) to_close->Close();
  return true;
}

std::vector<BackendSet::DegradationCount> BackendSet::Degradations() const {
  MutexLock lock(&mu_);
  std::vector<DegradationCount> out;
  for (const auto& [key, count] : degradations_) {
    out.push_back({key.first, key.second, count});
  }
  return out;
}

BackendSet::Entry* BackendSet::FindLocked(const std::string& name) {
  for (Entry& e : entries_) {
    if (e.status.name == name) return &e;
  }
  return nullptr;
}

absl::Status BackendSet::BeginRecovery(const std::string& name) {
  MutexLock lock(&mu_);
  Entry* e = FindLocked(name);
  if (e == nullptr) {
    return absl::NotFoundError(absl::StrCat("no backend named '", name, "'"));
  }
  if (e->status.state != BackendState::kDegraded) {
    return absl::FailedPreconditionError(
        absl::StrCat("backend ", name, " is ",
                     BackendStateName(e->status.state), ", not degraded"));
  }
  SetStateLocked(e, BackendState::kRecovering, "recovery started");
  ZR_LOG(INFO) << "backend " << name
               << " recovering (was degraded: " << e->status.reason << ")";
  return absl::OkStatus();
}

void BackendSet::MakeOptimalLocked(
    Entry* e, std::shared_ptr<BackendConnection> connection,
    const std::string& last_tid, const char* how) {
  const RaidState before = RaidStateLocked();
  SetStateLocked(e, BackendState::kOptimal, how);
  e->status.reason.clear();
  e->status.kind = DegradeKind::kTransport;
  e->status.last_tid = last_tid;
  e->connection = std::move(connection);
  const RaidState after = RaidStateLocked();
  ZR_LOG(INFO) << "backend " << e->status.name << " optimal again (" << how
               << ")";
  if (after != before) {
    ZR_LOG(INFO) << "RAID state " << RaidStateName(before) << " -> "
                 << RaidStateName(after);
  }
}

absl::Status BackendSet::CompleteRecovery(
    const std::string& name, std::shared_ptr<BackendConnection> connection,
    const std::string& last_tid) {
  MutexLock lock(&mu_);
  Entry* e = FindLocked(name);
  if (e == nullptr || e->status.state != BackendState::kRecovering) {
    return absl::FailedPreconditionError(
        absl::StrCat("backend ", name, " is no longer recovering"));
  }
  MakeOptimalLocked(e, std::move(connection), last_tid, "recovered");
  return absl::OkStatus();
}

void BackendSet::AbandonRecovery(const std::string& name,
                                 const std::string& reason, DegradeKind kind) {
  MutexLock lock(&mu_);
  Entry* e = FindLocked(name);
  if (e == nullptr || e->status.state != BackendState::kRecovering) return;
  SetStateLocked(e, BackendState::kDegraded, reason);
  e->status.reason = reason;
  e->status.kind = kind;
  ZR_LOG(WARNING) << "backend " << name << " stays degraded: " << reason;
}

absl::Status BackendSet::Readmit(const std::string& name,
                                 std::shared_ptr<BackendConnection> connection,
                                 const std::string& last_tid) {
  MutexLock lock(&mu_);
  Entry* e = FindLocked(name);
  if (e == nullptr || e->status.state != BackendState::kDegraded) {
    return absl::FailedPreconditionError(
        absl::StrCat("backend ", name, " is not degraded"));
  }
  MakeOptimalLocked(e, std::move(connection), last_tid,
                    "re-admitted: it holds the RAID's last transaction");
  return absl::OkStatus();
}

void BackendSet::SetDegradedReason(const std::string& name,
                                   const std::string& reason,
                                   DegradeKind kind) {
  MutexLock lock(&mu_);
  Entry* e = FindLocked(name);
  if (e == nullptr || e->status.state != BackendState::kDegraded) return;
  if (e->status.reason != reason) {
    ZR_LOG(WARNING) << "backend " << name << " stays degraded: " << reason;
  }
  e->status.reason = reason;
  e->status.kind = kind;
}

std::shared_ptr<BackendConnection> BackendSet::ConnectionOf(
    const std::string& name) const {
  MutexLock lock(&mu_);
  for (const Entry& e : entries_) {
    if (e.status.name == name) return e.connection;
  }
  return nullptr;
}

std::optional<BackendStatus> BackendSet::StatusOf(
    const std::string& name) const {
  MutexLock lock(&mu_);
  for (const Entry& e : entries_) {
    if (e.status.name == name) return e.status;
  }
  return std::nullopt;
}

std::vector<std::string> BackendSet::Names() const {
  MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const Entry& e : entries_) out.push_back(e.status.name);
  return out;
}

void BackendSet::SetLastTid(const std::string& name, const std::string& tid) {
  MutexLock lock(&mu_);
  for (Entry& e : entries_) {
    if (e.status.name == name) e.status.last_tid = tid;
  }
}

bool BackendSet::read_only() const {
  MutexLock lock(&mu_);
  bool any = false;
  for (const Entry& e : entries_) {
    if (e.status.state != BackendState::kOptimal) continue;
    if (e.connection == nullptr || !e.connection->read_only()) return false;
    any = true;
  }
  return any;
}

RaidState BackendSet::raid_state() const {
  MutexLock lock(&mu_);
  return RaidStateLocked();
}

RaidState BackendSet::RaidStateLocked() const {
  size_t optimal = 0;
  for (const Entry& e : entries_) {
    if (e.status.state == BackendState::kOptimal) ++optimal;
  }
  if (optimal == 0) return RaidState::kFailed;
  return optimal == entries_.size() ? RaidState::kOptimal
                                    : RaidState::kDegraded;
}

std::vector<BackendStatus> BackendSet::Status() const {
  MutexLock lock(&mu_);
  std::vector<BackendStatus> out;
  for (const Entry& e : entries_) out.push_back(e.status);
  return out;
}

}  // namespace zeoraid::raidcore
