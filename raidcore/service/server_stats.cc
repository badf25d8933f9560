#include "raidcore/service/server_stats.h"

#include "absl/time/clock.h"
#include "zeo/tid.h"

namespace zeoraid::raidcore {

using zeo::Value;

ServerStats::ServerStats()
    // Python's time.ctime(): "Tue Dec  1 16:03:48 2026", local time.
    : start_(absl::FormatTime("%a %b %e %H:%M:%S %Y", absl::Now(),
                              absl::LocalTimeZone())) {}

Value ServerStats::Status(int64_t connections, int64_t waiting,
                          std::optional<absl::Time> lock_time,
                          const std::string& last_tid) const {
  auto count = [](const std::atomic<int64_t>& c) {
    return Value::Int(c.load(std::memory_order_relaxed));
  };
  // ZEO's is str(hex bytes): lower case, as TidHex.
  const std::string hex = zeo::TidHex(last_tid);
  return Value::Dict({
      {Value::Str("connections"), Value::Int(connections)},
      {Value::Str("loads"), count(loads_)},
      {Value::Str("stores"), count(stores_)},
      {Value::Str("commits"), count(commits_)},
      {Value::Str("aborts"), count(aborts_)},
      {Value::Str("active_txns"), count(active_txns_)},
      {Value::Str("lock_time"),
       lock_time.has_value()
           ? Value::Float(absl::ToDoubleSeconds(*lock_time - absl::UnixEpoch()))
           : Value::None()},
      {Value::Str("conflicts"), count(conflicts_)},
      {Value::Str("conflicts_resolved"), Value::Int(0)},
      {Value::Str("start"), Value::Str(start_)},
      {Value::Str("waiting"), Value::Int(waiting)},
      // ZEO has a timeout thread only with a transaction-timeout (else its
      // stub answers 'stub'); raidcore always enforces one
      // (--commit_lock_timeout), so it answers as ZEO with one.
      {Value::Str("timeout-thread-is-alive"), Value::Bool(true)},
      {Value::Str("last-transaction"), Value::Str(hex)},
  });
}

}  // namespace zeoraid::raidcore
