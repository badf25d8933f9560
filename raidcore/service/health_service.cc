#include "raidcore/service/health_service.h"

#include "absl/time/clock.h"

namespace zeoraid::raidcore {

using grpc::health::v1::HealthCheckResponse;

HealthCheckResponse::ServingStatus HealthService::StatusOf(
    const std::string& service) const {
  if (service.empty()) {
    return backends_->raid_state() == RaidState::kFailed
               ? HealthCheckResponse::NOT_SERVING
               : HealthCheckResponse::SERVING;
  }
  for (const BackendStatus& b : backends_->Status()) {
    if (b.name == service) {
      return b.state == BackendState::kOptimal
                 ? HealthCheckResponse::SERVING
                 : HealthCheckResponse::NOT_SERVING;
    }
  }
  return HealthCheckResponse::SERVICE_UNKNOWN;
}

grpc::Status HealthService::Check(
    grpc::ServerContext*, const grpc::health::v1::HealthCheckRequest* request,
    HealthCheckResponse* response) {
  HealthCheckResponse::ServingStatus status = StatusOf(request->service());
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "unknown service '" + request->service() + "'");
  }
  response->set_status(status);
  return grpc::Status::OK;
}

grpc::Status HealthService::Watch(
    grpc::ServerContext* context,
    const grpc::health::v1::HealthCheckRequest* request,
    grpc::ServerWriter<HealthCheckResponse>* writer) {
  bool first = true;
  HealthCheckResponse::ServingStatus last = HealthCheckResponse::UNKNOWN;
  while (!context->IsCancelled()) {
    HealthCheckResponse::ServingStatus now = StatusOf(request->service());
    if (first || now != last) {
      HealthCheckResponse response;
      response.set_status(now);
      if (!writer->Write(response)) break;
      first = false;
      last = now;
    }
    // Backend states change rarely; polling keeps BackendSet free of callbacks.
    absl::SleepFor(absl::Milliseconds(200));
  }
  return grpc::Status::OK;
}

}  // namespace zeoraid::raidcore
