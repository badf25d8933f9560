// ZODB transaction ids: 8-byte big-endian TimeStamps (minutes since 1900 in the
// high word, fractions of a minute in the low word). raidcore is the only place
// that makes new ones.
#ifndef ZEORAID_ZEO_TID_H_
#define ZEORAID_ZEO_TID_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "zeo/value.h"

namespace zeo {

inline constexpr absl::string_view kZeroTid("\0\0\0\0\0\0\0\0", 8);

uint64_t TidToUint64(absl::string_view tid);
std::string TidFromUint64(uint64_t value);
// The TimeStamp of `time` (UTC).
std::string TidFromTime(absl::Time time);
// The time a tid stands for (ZODB's TimeStamp(tid).timeTime()).
absl::Time TidToTime(absl::string_view tid);
// The tid for a new transaction: the time `now`, or just after `last` when the
// clock has not moved past it (ZODB's TimeStamp.laterThan).
std::string NextTid(absl::Time now, absl::string_view last);
// 16 lowercase hex digits, for logs and the admin API.
std::string TidHex(absl::string_view tid);
// Whether `v` is a tid (or oid, or serial) on the wire: 8 bytes.
inline bool IsTid(const Value& v) {
  return v.is_bytes() && v.string_value().size() == 8;
}

}  // namespace zeo

#endif  // ZEORAID_ZEO_TID_H_
