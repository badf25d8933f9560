#include "zeo/tid.h"

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace zeo {
namespace {

TEST(TidTest, MatchesZodbTimeStamp) {
  // zeo-protocol.md 10.4: 040d3d88cf4dcb44 = 2026-11-24 23:04:48.587 UTC.
  absl::Time t = absl::FromCivil(absl::CivilSecond(2026, 11, 24, 23, 4, 48),
                                 absl::UTCTimeZone()) +
                 absl::Milliseconds(587);
  std::string tid = TidFromTime(t);
  EXPECT_EQ(TidHex(tid).substr(0, 8), "040d3d88");
  // The low word is a fraction of a minute: compare to the millisecond.
  uint64_t low = TidToUint64(tid) & 0xffffffffu;
  EXPECT_NEAR(static_cast<double>(low), static_cast<double>(0xcf4dcb44u),
              4294967296.0 / 60.0 / 1000.0);
}

TEST(TidTest, TidToTimeInvertsTidFromTime) {
  // zeo-protocol.md 10.4's recorded tid, as ZODB's TimeStamp reads it.
  absl::Time want = absl::FromCivil(absl::CivilSecond(2026, 11, 24, 23, 4, 48),
                                    absl::UTCTimeZone()) +
                    absl::Milliseconds(587);
  absl::Time got =
      TidToTime(std::string("\x04\x0d\x3d\x88\xcf\x4d\xcb\x44", 8));
  EXPECT_LT(absl::AbsDuration(got - want), absl::Milliseconds(1));
  const absl::Time now = absl::Now();
  EXPECT_LT(absl::AbsDuration(TidToTime(TidFromTime(now)) - now),
            absl::Microseconds(1));
}

TEST(TidTest, NextTidIsLaterThanLast) {
  absl::Time now = absl::Now();
  std::string last = TidFromTime(now + absl::Hours(1));
  EXPECT_EQ(TidToUint64(NextTid(now, last)), TidToUint64(last) + 1);
  std::string past = TidFromTime(now - absl::Hours(1));
  EXPECT_EQ(NextTid(now, past), TidFromTime(now));
}

TEST(TidTest, RoundTripsAndFormats) {
  EXPECT_EQ(TidFromUint64(0x0102030405060708ull),
            std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  EXPECT_EQ(TidToUint64(TidFromUint64(0x040d3d88cf4dcb44ull)),
            0x040d3d88cf4dcb44ull);
  EXPECT_EQ(TidHex(kZeroTid), "0000000000000000");
}

}  // namespace
}  // namespace zeo
