// Shared pieces of the zeo/fuzz libFuzzer targets: the decode limits they use,
// the limits for decoding a re-encoding, and a failure report that aborts (so
// libFuzzer saves the input as a crash).
#ifndef ZEORAID_ZEO_FUZZ_FUZZ_UTIL_H_
#define ZEORAID_ZEO_FUZZ_FUZZ_UTIL_H_

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "zeo/limits.h"
#include "zeo/value.h"

namespace zeo {
namespace fuzz {

// Tight bounds, so that the fuzzer explores structure rather than giant
// allocations (a memo bomb still expands to max_values nodes and
// max_frame_bytes of strings). max_depth is the production default.
inline DecodeLimits FuzzLimits() {
  DecodeLimits limits;
  limits.max_frame_bytes = 1u << 20;
  limits.max_depth = 64;
  limits.max_container_length = 1u << 16;
  limits.max_string_bytes = 1u << 20;
  limits.max_values = 1u << 16;
  return limits;
}

// Limits for decoding what an encoder wrote for a value that `first` admitted.
// The encoding can be larger than the input (memo copies are written out, and
// one codec is more compact than the other) and a pickled object takes two
// pickle-machine values (GLOBAL, then NEWOBJ/REDUCE); every other bound is the
// same, since the value is the same.
inline DecodeLimits RoundTripLimits(const DecodeLimits& first,
                                    size_t encoded_bytes) {
  DecodeLimits limits = first;
  limits.max_frame_bytes = std::max(first.max_frame_bytes, encoded_bytes);
  limits.max_values = 2 * first.max_values + 2;
  return limits;
}

// At most `n` bytes of `s`, for reports (a decoded value can be megabytes).
inline std::string Clip(std::string s, size_t n = 2000) {
  if (s.size() > n) {
    const size_t total = s.size();
    s.resize(n);
    s += "... (" + std::to_string(total) + " bytes)";
  }
  return s;
}

inline std::string Hex(absl::string_view bytes, size_t n = 512) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < n; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  if (bytes.size() > n) out += "...";
  return out;
}

// A property the codec promises does not hold: report and abort.
[[noreturn]] inline void Fail(absl::string_view what,
                              absl::string_view detail = "") {
  std::fprintf(stderr, "\n*** zeo fuzz invariant violated: %.*s\n%.*s\n",
               static_cast<int>(what.size()), what.data(),
               static_cast<int>(detail.size()), detail.data());
  std::fflush(stderr);
  std::abort();
}

// The decoders document InvalidArgument (malformed) and OutOfRange (a limit);
// any other code (Internal, Unknown, ...) is a bug.
inline void CheckDecodeError(const absl::Status& status,
                             absl::string_view decoder) {
  if (status.code() == absl::StatusCode::kInvalidArgument ||
      status.code() == absl::StatusCode::kOutOfRange) {
    return;
  }
  Fail(std::string(decoder) + " failed with an undocumented status code",
       status.ToString());
}

// What msgpack gives back for a value it can encode: every tuple and list
// becomes a tuple (msgpack has one array type), all else is unchanged.
inline Value AsMsgpackSees(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kTuple:
    case Value::Kind::kList: {
      Value::Items items;
      items.reserve(v.items().size());
      for (const Value& item : v.items()) items.push_back(AsMsgpackSees(item));
      return Value::Tuple(std::move(items));
    }
    case Value::Kind::kDict: {
      Value::DictItems items;
      items.reserve(v.dict_items().size());
      for (const auto& [key, item] : v.dict_items()) {
        items.emplace_back(AsMsgpackSees(key), AsMsgpackSees(item));
      }
      return Value::Dict(std::move(items));
    }
    default:
      return v;
  }
}

}  // namespace fuzz
}  // namespace zeo

#endif  // ZEORAID_ZEO_FUZZ_FUZZ_UTIL_H_
