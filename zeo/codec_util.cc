#include "zeo/codec_util.h"

namespace zeo {
namespace internal {

size_t MinimalTwosComplementSize(absl::string_view le) {
  size_t n = le.size();
  // A top byte is redundant when it only extends the sign bit of the byte
  // below.
  while (n > 1) {
    const uint8_t top = static_cast<uint8_t>(le[n - 1]);
    const bool below_negative = (static_cast<uint8_t>(le[n - 2]) & 0x80) != 0;
    if ((top == 0x00 && !below_negative) || (top == 0xff && below_negative)) {
      --n;
    } else {
      break;
    }
  }
  // A lone zero byte is zero, whose minimal form is empty.
  if (n == 1 && le[0] == 0) n = 0;
  return n;
}

bool TwosComplementToInt64(absl::string_view le, int64_t* value) {
  const size_t n = MinimalTwosComplementSize(le);
  if (n > 8) return false;
  uint64_t u = 0;
  for (size_t i = 0; i < n; ++i) {
    u |= static_cast<uint64_t>(static_cast<uint8_t>(le[i])) << (8 * i);
  }
  // Sign-extend from the top byte actually present.
  if (n > 0 && n < 8 && (static_cast<uint8_t>(le[n - 1]) & 0x80) != 0) {
    u |= ~uint64_t{0} << (8 * n);
  }
  *value = static_cast<int64_t>(u);
  return true;
}

std::string Int64ToTwosComplement(int64_t v) {
  std::string out(8, '\0');
  const uint64_t u = static_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((u >> (8 * i)) & 0xff);
  out.resize(MinimalTwosComplementSize(out));
  return out;
}

size_t Utf8SequenceLength(absl::string_view s, bool allow_surrogates) {
  if (s.empty()) return 0;
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const uint8_t c = p[0];
  if (c < 0x80) return 1;
  size_t len;
  uint8_t lo = 0x80, hi = 0xbf;  // allowed range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;                       // overlong
    if (c == 0xed && !allow_surrogates) hi = 0x9f;  // surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;  // overlong
    if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  if (p[1] < lo || p[1] > hi) return 0;
  for (size_t i = 2; i < len; ++i) {
    if ((p[i] & 0xc0) != 0x80) return 0;
  }
  return len;
}

bool IsValidUtf8(absl::string_view s, bool allow_surrogates) {
  while (!s.empty()) {
    if (static_cast<uint8_t>(s[0]) < 0x80) {  // the common case, inline
      s.remove_prefix(1);
      continue;
    }
    const size_t len = Utf8SequenceLength(s, allow_surrogates);
    if (len == 0) return false;
    s.remove_prefix(len);
  }
  return true;
}

}  // namespace internal
}  // namespace zeo
