// AdminService: zeoraid.v1.Admin, the operator's view of the RAID.
#ifndef ZEORAID_RAIDCORE_SERVICE_ADMIN_SERVICE_H_
#define ZEORAID_RAIDCORE_SERVICE_ADMIN_SERVICE_H_

#include <string>

#include "raidcore/backend/backend_set.h"
#include "raidcore/commit/commit_clock.h"
#include "raidcore/commit/commit_coordinator.h"
#include "raidcore/recovery/recovery_manager.h"
#include "zeoraid/v1/admin.grpc.pb.h"

namespace zeoraid::raidcore {

class AdminService final : public zeoraid::v1::Admin::Service {
 public:
  AdminService(std::string storage_name, BackendSet* backends,
               const CommitClock* clock, const CommitCoordinator* commits,
               RecoveryManager* recovery)
      : storage_name_(std::move(storage_name)),
        backends_(backends),
        clock_(clock),
        commits_(commits),
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
  const std::string storage_name_;
  BackendSet* const backends_;
  const CommitClock* const clock_;
  const CommitCoordinator* const commits_;
  RecoveryManager* const recovery_;
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_SERVICE_ADMIN_SERVICE_H_
