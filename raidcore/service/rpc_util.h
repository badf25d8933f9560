// Small conversions shared by the Storage service's RPC handlers: absl::Status
// to grpc::Status, a ZEO application error into its protobuf form.
#ifndef ZEORAID_RAIDCORE_SERVICE_RPC_UTIL_H_
#define ZEORAID_RAIDCORE_SERVICE_RPC_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "raidcore/backend/backend_connection.h"
#include "zeoraid/v1/storage.pb.h"

namespace zeoraid::raidcore {

grpc::Status ToGrpc(const absl::Status& status);
void SetError(const ZeoReply& reply, v1::ZeoError* error);
inline bool IsTid(const std::string& bytes) { return bytes.size() == 8; }
inline grpc::Status BadArgument(absl::string_view what) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(what));
}

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_SERVICE_RPC_UTIL_H_
