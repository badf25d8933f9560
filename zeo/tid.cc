#include "zeo/tid.h"

#include "absl/strings/escaping.h"

namespace zeo {

uint64_t TidToUint64(absl::string_view tid) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < tid.size(); ++i) {
    v = (v << 8) | static_cast<unsigned char>(tid[i]);
  }
  return v;
}

std::string TidFromUint64(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  return out;
}

std::string TidFromTime(absl::Time time) {
  absl::CivilSecond cs = absl::ToCivilSecond(time, absl::UTCTimeZone());
  uint64_t minutes =
      ((((cs.year() - 1900) * 12 + cs.month() - 1) * 31 + cs.day() - 1) * 24 +
       cs.hour()) *
          60 +
      cs.minute();
  absl::Duration into_minute =
      time - absl::FromCivil(absl::CivilMinute(cs), absl::UTCTimeZone());
  double seconds = absl::ToDoubleSeconds(into_minute);
  // Low word: seconds scaled so that one minute spans 2^32 (ZODB's TimeStamp).
  uint64_t low = static_cast<uint64_t>(seconds * (4294967296.0 / 60.0));
  if (low > 0xffffffffu) low = 0xffffffffu;
  return TidFromUint64((minutes << 32) | low);
}

absl::Time TidToTime(absl::string_view tid) {
  const uint64_t v = TidToUint64(tid);
  uint64_t minutes = v >> 32;
  const double seconds =
      static_cast<double>(v & 0xffffffffu) * (60.0 / 4294967296.0);
  const int64_t minute = minutes % 60;
  minutes /= 60;
  const int64_t hour = minutes % 24;
  minutes /= 24;
  const int64_t day = minutes % 31 + 1;
  minutes /= 31;
  const int64_t month = minutes % 12 + 1;
  const int64_t year = minutes / 12 + 1900;
  // CivilMinute normalizes a day past the month's end, as TimeStamp does not
  // produce one.
  return absl::FromCivil(absl::CivilMinute(year, month, day, hour, minute),
                         absl::UTCTimeZone()) +
         absl::Seconds(seconds);
}

std::string NextTid(absl::Time now, absl::string_view last) {
  uint64_t candidate = TidToUint64(TidFromTime(now));
  uint64_t floor = TidToUint64(last) + 1;
  return TidFromUint64(candidate > floor ? candidate : floor);
}

std::string TidHex(absl::string_view tid) {
  return absl::BytesToHexString(tid);
}

}  // namespace zeo
