// AdminService: zeoraid.v1.Admin, the operator's view of the RAID.
#ifndef ZEORAID_RAIDCORE_SERVICE_ADMIN_SERVICE_H_
#define ZEORAID_RAIDCORE_SERVICE_ADMIN_SERVICE_H_

#include <functional>
#include <string>
#include <utility>

#include "raidcore/backend/backend_set.h"
#include "raidcore/commit/commit_clock.h"
#include "raidcore/commit/commit_coordinator.h"
#include "raidcore/commit/invalidation_hub.h"
#include "raidcore/recovery/recovery_manager.h"
#include "raidcore/service/admin_auth.h"
#include "zeoraid/v1/admin.grpc.pb.h"

namespace zeoraid::raidcore {

// Adds and removes backends while running: the connection factory, the
// backend set and the backends file change together (wired in main).
class BackendRoster {
 public:
  virtual ~BackendRoster() = default;
  virtual absl::Status Add(const std::string& name,
                           const std::string& address) = 0;
  virtual absl::Status Remove(const std::string& name) = 0;
};

class AdminService final : public zeoraid::v1::Admin::Service {
 public:
  AdminService(std::string storage_name, BackendSet* backends,
               const CommitClock* clock, const CommitCoordinator* commits,
               RecoveryManager* recovery, const InvalidationHub* hub)
      : storage_name_(std::move(storage_name)),
        backends_(backends),
        clock_(clock),
        commits_(commits),
        hub_(hub),
        recovery_(recovery) {}

  grpc::Status Status(grpc::ServerContext* context,
                      const v1::StatusRequest* request,
                      v1::StatusResponse* response) override;
  grpc::Status Recover(grpc::ServerContext* context,
                       const v1::RecoverRequest* request,
                       v1::RecoverResponse* response) override;
  grpc::Status CancelRecovery(grpc::ServerContext* context,
                              const v1::CancelRecoveryRequest* request,
                              v1::CancelRecoveryResponse* response) override;
  grpc::Status Details(grpc::ServerContext* context,
                       const v1::DetailsRequest* request,
                       v1::DetailsResponse* response) override;
  grpc::Status AddBackend(grpc::ServerContext* context,
                          const v1::AddBackendRequest* request,
                          v1::AddBackendResponse* response) override;
  grpc::Status RemoveBackend(grpc::ServerContext* context,
                             const v1::RemoveBackendRequest* request,
                             v1::RemoveBackendResponse* response) override;
  // Tells Details a backend's call and error counts (may stay unset).
  void set_call_counts(
      std::function<std::pair<uint64_t, uint64_t>(const std::string&)> f) {
    call_counts_ = std::move(f);
  }
  // Without a roster, AddBackend and RemoveBackend are refused.
  void set_roster(BackendRoster* roster) { roster_ = roster; }
  // Decides who may make state-changing calls (default: loopback only).
  void set_authorizer(const AdminAuthorizer* authorizer) {
    authorizer_ = authorizer;
  }
  grpc::Status Disable(grpc::ServerContext* context,
                       const v1::DisableRequest* request,
                       v1::DisableResponse* response) override;
  grpc::Status Enable(grpc::ServerContext* context,
                      const v1::EnableRequest* request,
                      v1::EnableResponse* response) override;
  grpc::Status SetRecoveryRate(grpc::ServerContext* context,
                               const v1::SetRecoveryRateRequest* request,
                               v1::SetRecoveryRateResponse* response) override;

 private:
  // Starts recovering `backend` after it was `done` ("added", "enabled");
  // the operator's message says whether it started or must wait.
  std::string StartRecovery(const std::string& backend,
                            const std::string& done);

  const std::string storage_name_;
  BackendSet* const backends_;
  const CommitClock* const clock_;
  const CommitCoordinator* const commits_;
  const InvalidationHub* const hub_;
  RecoveryManager* const recovery_;
  BackendRoster* roster_ = nullptr;
  const AdminAuthorizer default_authorizer_{AdminAuthOptions{}};
  const AdminAuthorizer* authorizer_ = &default_authorizer_;
  std::function<std::pair<uint64_t, uint64_t>(const std::string&)> call_counts_;
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_SERVICE_ADMIN_SERVICE_H_
