// Pickle protocol 3 codec for ZEO messages (the `Z5` encoding).
//
// The encoder writes exactly what CPython's pickle.Pickler(f, 3) with fast=1
// writes (and so what ZEO's zodbpickle Pickler writes): no memo, no FRAME. The
// decoder is strict and bounded: it accepts the opcodes ZEO peers (and plain
// memoizing picklers) produce, refuses everything else, and admits a global
// only when the caller's GlobalPolicy allows it.
#ifndef ZEORAID_ZEO_PICKLE_H_
#define ZEORAID_ZEO_PICKLE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "zeo/limits.h"
#include "zeo/value.h"

namespace zeo {

// Which pickle globals a decoder admits (ZEO's find_global /
// server_find_global).
enum class GlobalPolicy {
  // Server side (what a ZEO server accepts from clients): modules
  // ZopeUndo.Prefix,
  // zodbpickle, builtins, copy_reg, __builtin__.
  kServer,
  // Client side (what a ZEO client accepts from servers): exception classes
  // and objects marked side-effect free; we accept globals whose module is
  // ZODB.POSException, ZEO.Exceptions, builtins, ZopeUndo.Prefix, BTrees or
  // transaction.interfaces.
  kClient,
  kNone,  // no global at all
};

// Object values become GLOBAL, the args tuple and NEWOBJ (REDUCE for
// Value::ReduceObject), then state and BUILD when the state is not None; an
// object whose args are None is the bare GLOBAL.
std::string EncodePickle(const Value& value);

// Same bytes as EncodePickle(Value::Tuple({*items[0], ...})), without copying
// the items into a temporary tuple (messages carry large object records).
std::string EncodePickleTuple(absl::Span<const Value* const> items);

// Errors: InvalidArgument for malformed input (unknown opcode, truncation,
// stack/MARK misuse, bad UTF-8, trailing bytes, a global the policy refuses),
// OutOfRange when a DecodeLimits bound is exceeded. Memo opcodes share values
// as Python does (a list stored with BINPUT and filled later is seen filled by
// BINGET); cycles are refused through max_depth. Nesting is also capped at an
// internal 1000 levels whatever max_depth says, to bound recursion.
absl::StatusOr<Value> DecodePickle(absl::string_view data,
                                   const DecodeLimits& limits = DecodeLimits(),
                                   GlobalPolicy policy = GlobalPolicy::kServer);

}  // namespace zeo

#endif  // ZEORAID_ZEO_PICKLE_H_
