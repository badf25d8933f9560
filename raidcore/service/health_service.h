// HealthService: grpc.health.v1.Health for raidcore. Service "" is SERVING
// unless the RAID failed; each backend's name is a service, SERVING while it is
// optimal.
#ifndef ZEORAID_RAIDCORE_SERVICE_HEALTH_SERVICE_H_
#define ZEORAID_RAIDCORE_SERVICE_HEALTH_SERVICE_H_

#include "grpc/health/v1/health.grpc.pb.h"
#include "raidcore/backend/backend_set.h"

namespace zeoraid::raidcore {

class HealthService final : public grpc::health::v1::Health::Service {
 public:
  explicit HealthService(const BackendSet* backends) : backends_(backends) {}

  grpc::Status Check(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::health::v1::HealthCheckResponse* response) override;
  // Sends the status now and again whenever it changes, until cancelled.
  grpc::Status Watch(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>*
                         writer) override;

 private:
  // SERVICE_UNKNOWN for a name that is neither "" nor a backend.
  grpc::health::v1::HealthCheckResponse::ServingStatus StatusOf(
      const std::string& service) const;

  const BackendSet* const backends_;
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_SERVICE_HEALTH_SERVICE_H_
