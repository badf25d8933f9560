#include "raidcore/service/admin_service.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "zeo/tid.h"

namespace zeoraid::raidcore {

using zeo::TidHex;
namespace {

v1::RaidState ToProto(RaidState state) {
  switch (state) {
    case RaidState::kOptimal:
      return v1::RAID_OPTIMAL;
    case RaidState::kDegraded:
      return v1::RAID_DEGRADED;
    case RaidState::kFailed:
      return v1::RAID_FAILED;
  }
  return v1::RAID_STATE_UNSPECIFIED;
}

v1::BackendState ToProto(BackendState state) {
  switch (state) {
    case BackendState::kOptimal:
      return v1::BACKEND_OPTIMAL;
    case BackendState::kDegraded:
      return v1::BACKEND_DEGRADED;
    case BackendState::kRecovering:
      return v1::BACKEND_RECOVERING;
    case BackendState::kDisabled:
      return v1::BACKEND_DISABLED;
  }
  return v1::BACKEND_STATE_UNSPECIFIED;
}

void ToProto(const RecoveryProgress& p, v1::RecoveryProgress* out) {
  out->set_backend(p.backend);
  out->set_source(p.source);
  out->set_mode(p.mode);
  out->set_phase(p.phase);
  out->set_transactions_copied(p.transactions_copied);
  out->set_bytes_copied(p.bytes_copied);
  out->set_transactions_estimated(p.transactions_estimated);
  out->set_transactions_per_second(p.transactions_per_second);
  out->set_bytes_per_second(p.bytes_per_second);
  out->set_eta_seconds(p.eta_seconds);
  out->set_elapsed_seconds(p.elapsed_seconds);
  out->set_longest_lock_hold_seconds(p.longest_lock_hold_seconds);
  out->set_message(p.message);
  out->set_first_tid(p.first_tid);
}

grpc::Status ToGrpc(const absl::Status& st) {
  if (st.ok()) return grpc::Status::OK;
  grpc::StatusCode code = grpc::StatusCode::FAILED_PRECONDITION;
  if (absl::IsNotFound(st)) code = grpc::StatusCode::NOT_FOUND;
  if (absl::IsUnavailable(st)) code = grpc::StatusCode::UNAVAILABLE;
  if (absl::IsAlreadyExists(st)) code = grpc::StatusCode::ALREADY_EXISTS;
  if (absl::IsInvalidArgument(st)) code = grpc::StatusCode::INVALID_ARGUMENT;
  return grpc::Status(code, std::string(st.message()));
}

}  // namespace

grpc::Status AdminService::Recover(grpc::ServerContext* context,
                                   const v1::RecoverRequest* request,
                                   v1::RecoverResponse* response) {
  if (grpc::Status denied = authorizer_->Authorize(context, "Recover");
      !denied.ok()) {
    return denied;
  }
  absl::Status st = recovery_->Recover(request->backend());
  if (!st.ok()) return ToGrpc(st);
  response->set_message("recovery of " + request->backend() + " started");
  return grpc::Status::OK;
}

grpc::Status AdminService::CancelRecovery(
    grpc::ServerContext* context, const v1::CancelRecoveryRequest*,
    v1::CancelRecoveryResponse* response) {
  if (grpc::Status denied = authorizer_->Authorize(context, "CancelRecovery");
      !denied.ok()) {
    return denied;
  }
  absl::Status st = recovery_->Cancel();
  if (!st.ok()) return ToGrpc(st);
  response->set_message("recovery cancelled; the backend stays degraded");
  return grpc::Status::OK;
}

grpc::Status AdminService::SetRecoveryRate(
    grpc::ServerContext* context, const v1::SetRecoveryRateRequest* request,
    v1::SetRecoveryRateResponse* response) {
  if (grpc::Status denied = authorizer_->Authorize(context, "SetRecoveryRate");
      !denied.ok()) {
    return denied;
  }
  if (request->rate().bytes_per_second() < 0 ||
      request->rate().transactions_per_second() < 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "rates must be >= 0 (0 = unlimited)");
  }
  recovery_->SetRate({request->rate().bytes_per_second(),
                      request->rate().transactions_per_second()});
  RecoveryRate now = recovery_->rate();
  response->mutable_rate()->set_bytes_per_second(now.bytes_per_second);
  response->mutable_rate()->set_transactions_per_second(
      now.transactions_per_second);
  return grpc::Status::OK;
}

grpc::Status AdminService::Details(grpc::ServerContext*,
                                   const v1::DetailsRequest*,
                                   v1::DetailsResponse* response) {
  response->set_state(ToProto(backends_->raid_state()));
  std::map<std::string, uint64_t> degradations;
  for (const BackendSet::DegradationCount& d : backends_->Degradations()) {
    degradations[d.name] += d.count;
  }
  for (const BackendStatus& b : backends_->Status()) {
    v1::BackendDetails* out = response->add_backends();
    out->set_name(b.name);
    out->set_address(b.address);
    out->set_state(ToProto(b.state));
    out->set_reason(b.reason);
    out->set_last_tid(b.last_tid.empty() ? "" : TidHex(b.last_tid));
    std::shared_ptr<BackendConnection> c = backends_->ConnectionOf(b.name);
    if (c != nullptr) {
      out->set_protocol(c->protocol());
      out->set_connected(c->alive());
      out->set_blobs(c->supports_blobs());
      out->set_read_only(c->read_only());
    }
    out->set_degradations(degradations[b.name]);
    if (call_counts_) {
      const auto [calls, errors] = call_counts_(b.name);
      out->set_calls(calls);
      out->set_call_errors(errors);
    }
    for (const StateChange& change : backends_->History(b.name)) {
      v1::StateChange* h = out->add_history();
      h->set_at(
          absl::FormatTime(absl::RFC3339_sec, change.at, absl::UTCTimeZone()));
      h->set_from(ToProto(change.from));
      h->set_to(ToProto(change.to));
      h->set_reason(change.reason);
    }
  }
  return grpc::Status::OK;
}

std::string AdminService::StartRecovery(const std::string& backend,
                                        const std::string& done) {
  // Now if nothing else is recovering, else when automatic recovery gets to
  // it.
  absl::Status recovering = recovery_->Recover(backend);
  return recovering.ok() ? absl::StrCat("backend ", backend, " ", done,
                                        "; recovery started")
                         : absl::StrCat("backend ", backend, " ", done,
                                        "; it is recovered when it can be (",
                                        recovering.message(), ")");
}

grpc::Status AdminService::AddBackend(grpc::ServerContext* context,
                                      const v1::AddBackendRequest* request,
                                      v1::AddBackendResponse* response) {
  if (grpc::Status denied = authorizer_->Authorize(context, "AddBackend");
      !denied.ok()) {
    return denied;
  }
  if (roster_ == nullptr) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "raidcore keeps no backend list: start it with "
                        "--backends_file to add or remove backends");
  }
  absl::Status st = roster_->Add(request->name(), request->address());
  if (!st.ok()) return ToGrpc(st);
  response->set_message(StartRecovery(request->name(), "added"));
  return grpc::Status::OK;
}

grpc::Status AdminService::RemoveBackend(
    grpc::ServerContext* context, const v1::RemoveBackendRequest* request,
    v1::RemoveBackendResponse* response) {
  if (grpc::Status denied = authorizer_->Authorize(context, "RemoveBackend");
      !denied.ok()) {
    return denied;
  }
  if (roster_ == nullptr) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "raidcore keeps no backend list: start it with "
                        "--backends_file to add or remove backends");
  }
  absl::Status st = roster_->Remove(request->name());
  if (!st.ok()) return ToGrpc(st);
  response->set_message("backend " + request->name() + " removed");
  return grpc::Status::OK;
}

grpc::Status AdminService::Disable(grpc::ServerContext* context,
                                   const v1::DisableRequest* request,
                                   v1::DisableResponse* response) {
  if (grpc::Status denied = authorizer_->Authorize(context, "Disable");
      !denied.ok()) {
    return denied;
  }
  const std::string reason = request->reason().empty()
                                 ? std::string("disabled by an operator")
                                 : request->reason();
  absl::Status st = backends_->Disable(request->backend(), reason);
  if (!st.ok()) return ToGrpc(st);
  response->set_message("backend " + request->backend() +
                        " disabled: it serves nothing until enabled");
  return grpc::Status::OK;
}

grpc::Status AdminService::Enable(grpc::ServerContext* context,
                                  const v1::EnableRequest* request,
                                  v1::EnableResponse* response) {
  if (grpc::Status denied = authorizer_->Authorize(context, "Enable");
      !denied.ok()) {
    return denied;
  }
  absl::Status st = backends_->Enable(request->backend());
  if (!st.ok()) return ToGrpc(st);
  // Rejoins through recovery.
  response->set_message(StartRecovery(request->backend(), "enabled"));
  return grpc::Status::OK;
}

grpc::Status AdminService::Status(grpc::ServerContext*,
                                  const v1::StatusRequest*,
                                  v1::StatusResponse* response) {
  response->set_state(ToProto(backends_->raid_state()));
  response->set_storage_name(storage_name_);
  response->set_last_tid(TidHex(clock_->last_tid()));
  response->set_commits(commits_->commits());
  for (const BackendStatus& b : backends_->Status()) {
    v1::BackendStatus* out = response->add_backends();
    out->set_name(b.name);
    out->set_address(b.address);
    out->set_state(ToProto(b.state));
    out->set_last_tid(b.last_tid.empty() ? "" : TidHex(b.last_tid));
    out->set_reason(b.reason);
    out->set_auto_recover(recovery_->auto_recover() &&
                          b.state == BackendState::kDegraded &&
                          b.kind == DegradeKind::kTransport);
    const std::string head = clock_->last_tid();
    if (b.last_tid.size() == 8) {
      std::optional<uint64_t> behind = hub_->CountSince(b.last_tid);
      out->set_lag_transactions(
          behind.has_value() ? static_cast<int64_t>(*behind) : -1);
    }
    if (b.last_tid.size() == 8 && b.last_tid < head) {
      out->set_lag_seconds(absl::ToDoubleSeconds(zeo::TidToTime(head) -
                                                 zeo::TidToTime(b.last_tid)));
    }
    const std::vector<StateChange> history = backends_->History(b.name);
    for (auto it = history.rbegin(); it != history.rend(); ++it) {
      if (it->to == BackendState::kDegraded &&
          it->from != BackendState::kDegraded) {
        out->set_last_error(it->reason);
        out->set_last_error_at(
            absl::FormatTime(absl::RFC3339_sec, it->at, absl::UTCTimeZone()));
        break;
      }
    }
  }
  std::optional<RecoveryProgress> progress = recovery_->progress();
  if (progress.has_value()) {
    ToProto(*progress, response->mutable_recovery());
    for (v1::BackendStatus& b : *response->mutable_backends()) {
      if (b.name() == progress->backend &&
          b.state() == v1::BACKEND_RECOVERING) {
        ToProto(*progress, b.mutable_recovery());
      }
    }
  }
  RecoveryRate rate = recovery_->rate();
  response->mutable_recovery_rate()->set_bytes_per_second(
      rate.bytes_per_second);
  response->mutable_recovery_rate()->set_transactions_per_second(
      rate.transactions_per_second);
  response->set_waiting_for(recovery_->waiting_for());
  return grpc::Status::OK;
}

}  // namespace zeoraid::raidcore
