// msgpack codec for ZEO messages (the `M5` encoding).
//
// The encoder writes what Python's msgpack.packb(value, use_bin_type=True)
// writes: the smallest int form, float64, str as fixstr/str8/16/32, bytes as
// bin8/16/32, tuples and lists as arrays, dicts as maps. The decoder reads
// like msgpack.unpackb(raw=False, use_list=False): every array becomes a
// Tuple, bin becomes Bytes, str must be valid UTF-8. Extension types are
// refused. msgpack cannot carry objects or ints beyond 64 bits.
#ifndef ZEORAID_ZEO_MSGPACK_H_
#define ZEORAID_ZEO_MSGPACK_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "zeo/limits.h"
#include "zeo/value.h"

namespace zeo {

// OK when EncodeMsgpack can represent `value` faithfully; InvalidArgument
// naming the first Object, out-of-range BigInt or str that is not UTF-8 (lone
// surrogates, which pickle admits) otherwise.
absl::Status CheckMsgpackEncodable(const Value& value);

// What ZEO's msgpack server encoder (its `default` hook) sends for exceptions
// nested in a value: (class path, state dict or args). Pickled exceptions are
// objects here (ZODB.POSException._recon(cls, state), or cls(*args)); this
// turns each into that tuple so an error reply can travel as msgpack.
Value ExceptionsAsTuples(const Value& value);

// Values msgpack cannot represent (see CheckMsgpackEncodable) are written as
// nil; check first where they may occur.
std::string EncodeMsgpack(const Value& value);

// Same bytes as EncodeMsgpack(Value::Tuple({*items[0], ...})), without copying.
std::string EncodeMsgpackArray(absl::Span<const Value* const> items);

// InvalidArgument for malformed input, OutOfRange for exceeded limits.
absl::StatusOr<Value> DecodeMsgpack(
    absl::string_view data, const DecodeLimits& limits = DecodeLimits());

}  // namespace zeo

#endif  // ZEORAID_ZEO_MSGPACK_H_
