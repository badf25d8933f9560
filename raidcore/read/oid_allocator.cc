#include "raidcore/read/oid_allocator.h"

#include <algorithm>
#include <string>
#include <vector>

#include "zeo/tid.h"

namespace zeoraid::raidcore {

using zeo::TidToUint64;

absl::StatusOr<ZeoReply> OidAllocator::NewOids(int count) {
  // ZEO's server hands out at most this many per new_oids call.
  constexpr int kPerCall = 100;
  count = std::clamp(count, 1, kMaxCount);
  MutexLock lock(&mu_);
  zeo::Value::Items fresh;
  fresh.reserve(count);
  // Bounded: a backend that keeps handing out stale oids is not worth
  // looping on (after a failover the next backend may hand out stale ones
  // for a while: those are skipped).
  for (int round = 0; round < 100 && static_cast<int>(fresh.size()) < count;
       ++round) {
    const int wanted = count - static_cast<int>(fresh.size());
    absl::StatusOr<std::vector<ZeoReply>> replies =
        router_->ReadRepeatedOnFirst(
            "new_oids", {zeo::Value::Int(std::min(wanted, kPerCall))},
            (wanted + kPerCall - 1) / kPerCall);
    if (!replies.ok()) return replies.status();
    std::vector<std::string> oids;
    for (const ZeoReply& reply : *replies) {
      if (reply.is_error) return reply;
      for (const zeo::Value& oid : reply.value.items()) {
        if (oid.is_bytes() && oid.string_value().size() == 8) {
          oids.push_back(oid.string_value());
        }
      }
    }
    // 8-byte big-endian: byte order is numeric order.
    std::sort(oids.begin(), oids.end());
    for (std::string& oid : oids) {
      if (static_cast<int>(fresh.size()) == count) break;
      const uint64_t n = TidToUint64(oid);  // oids are 8 bytes, as tids
      if (n <= max_handed_out_) continue;
      max_handed_out_ = n;
      fresh.push_back(zeo::Value::Bytes(std::move(oid)));
    }
  }
  if (fresh.empty()) {
    return absl::InternalError("backend kept returning already used oids");
  }
  return ZeoReply::Result(zeo::Value::List(std::move(fresh)));
}

}  // namespace zeoraid::raidcore
