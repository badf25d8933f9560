#include "raidcore/admin_service.h"

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

}  // namespace

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
  }
  return grpc::Status::OK;
}

}  // namespace zeoraid::raidcore
