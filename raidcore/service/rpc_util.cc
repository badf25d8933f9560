#include "raidcore/service/rpc_util.h"

#include "zeo/pickle.h"

namespace zeoraid::raidcore {

grpc::Status ToGrpc(const absl::Status& status) {
  grpc::StatusCode code;
  switch (status.code()) {
    case absl::StatusCode::kDeadlineExceeded:
      code = grpc::StatusCode::DEADLINE_EXCEEDED;
      break;
    case absl::StatusCode::kInvalidArgument:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case absl::StatusCode::kFailedPrecondition:
      code = grpc::StatusCode::FAILED_PRECONDITION;
      break;
    case absl::StatusCode::kUnavailable:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    default:
      code = grpc::StatusCode::INTERNAL;
  }
  return grpc::Status(code, std::string(status.message()));
}

void SetError(const ZeoReply& reply, v1::ZeoError* error) {
  error->set_class_path(reply.error_class);
  error->set_payload_pickle(zeo::EncodePickle(reply.value));
  error->set_message(reply.value.DebugString());
}

}  // namespace zeoraid::raidcore
