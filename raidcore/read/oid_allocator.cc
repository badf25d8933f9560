#include "raidcore/read/oid_allocator.h"

#include "zeo/tid.h"

namespace zeoraid::raidcore {

using zeo::TidToUint64;

absl::StatusOr<ZeoReply> OidAllocator::NewOids(int count) {
  if (count < 1) count = 1;
  if (count > 100) count = 100;
  MutexLock lock(&mu_);
  zeo::Value::Items fresh;
  // Bounded: a backend that keeps handing out stale oids is not worth looping
  // on.
  for (int round = 0; round < 100 && fresh.empty(); ++round) {
    absl::StatusOr<ZeoReply> reply =
        router_->Read("new_oids", {zeo::Value::Int(count)});
    if (!reply.ok() || reply->is_error) return reply;
    for (const zeo::Value& oid : reply->value.items()) {
      uint64_t n = TidToUint64(oid.string_value());  // oids are 8-byte too
      if (!oid.is_bytes() || oid.string_value().size() != 8 ||
          n <= max_handed_out_) {
        continue;
      }
      max_handed_out_ = n;
      fresh.push_back(oid);
    }
  }
  if (fresh.empty()) {
    return absl::InternalError("backend kept returning already used oids");
  }
  return ZeoReply::Result(zeo::Value::List(std::move(fresh)));
}

}  // namespace zeoraid::raidcore
