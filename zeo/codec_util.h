// Small byte-level helpers shared by the codecs: little-endian two's complement
// integers (pickle's LONG1/LONG4 form, Value::BigInt) and UTF-8 validation.
#ifndef ZEORAID_ZEO_CODEC_UTIL_H_
#define ZEORAID_ZEO_CODEC_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace zeo {
namespace internal {

// Length of the minimal two's complement form of `le` (little-endian): the
// high bytes that merely repeat the sign are dropped. 0 for an empty input.
size_t MinimalTwosComplementSize(absl::string_view le);

// Whether the (minimal) form `le` fits in int64_t, and its value if so.
bool TwosComplementToInt64(absl::string_view le, int64_t* value);

// Minimal little-endian two's complement bytes of `v` (empty for 0, as
// CPython's LONG1 encoding of 0).
std::string Int64ToTwosComplement(int64_t v);

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above
// U+10FFFF. This is what Python's str.decode("utf-8") accepts; with
// allow_surrogates, what decode("utf-8", "surrogatepass") accepts (pickle).
bool IsValidUtf8(absl::string_view s, bool allow_surrogates = false);

// Length of the well-formed UTF-8 sequence `s` starts with (1 for ASCII), by
// the rules of IsValidUtf8; 0 when there is none.
size_t Utf8SequenceLength(absl::string_view s, bool allow_surrogates = false);

}  // namespace internal
}  // namespace zeo

#endif  // ZEORAID_ZEO_CODEC_UTIL_H_
