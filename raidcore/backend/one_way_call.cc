#include "raidcore/backend/one_way_call.h"

namespace zeoraid::raidcore {

const absl::StatusOr<std::string>& OneWayCall::Payload(zeo::Encoding encoding) {
  std::optional<absl::StatusOr<std::string>>& payload =
      payloads_[encoding == zeo::Encoding::kMsgpack ? 1 : 0];
  if (!payload.has_value()) payload = zeo::TryEncodeMessage(message_, encoding);
  return *payload;
}

}  // namespace zeoraid::raidcore
