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
  // After a failover the next backend hands out stale oids for a while:
  // as many as were handed out and not stored yet (the translators'
  // reserves hold up to 2,000 each). They are skipped, a round of
  // kMaxCount at a time once a round brought nothing fresh. Bounded: a
  // backend that keeps handing out stale oids is not worth looping on.
  bool skipping = false;
  for (int round = 0; round < 100 && static_cast<int>(fresh.size()) < count;
       ++round) {
    const int wanted =
        skipping ? kMaxCount : count - static_cast<int>(fresh.size());
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
    const size_t fresh_before = fresh.size();
    for (std::string& oid : oids) {
      if (static_cast<int>(fresh.size()) == count) break;
      const uint64_t n = TidToUint64(oid);  // oids are 8 bytes, as tids
      if (n <= max_handed_out_) continue;
      max_handed_out_ = n;
      fresh.push_back(zeo::Value::Bytes(std::move(oid)));
    }
    skipping = fresh.size() == fresh_before;
  }
  if (fresh.empty()) {
    return absl::InternalError("backend kept returning already used oids");
  }
  return ZeoReply::Result(zeo::Value::List(std::move(fresh)));
}

}  // namespace zeoraid::raidcore
