// A fast path for the call a committing client sends most: storea(oid, serial,
// data, txn_id), one-way, a thousand of them in a big transaction. Decoding
// one through the general pickle decoder builds a Value tree (a tuple, five
// strings, an int) only for the record to be copied out of it again; this
// reads the fields as views into the frame, and writes a storea frame straight
// from the record's bytes.
//
// Only the exact layout CPython's fast pickler (protocol 3, no memo) writes
// for a storea whose oid and serial are 8 bytes (or the serial None), whose
// data is bytes and whose transaction id is an int64 is taken; for anything
// else ParseStoreaPickle returns nullopt and the caller decodes the frame the
// general way (which also makes every error the general decoder's).
#ifndef ZEORAID_ZEO_STOREA_FRAME_H_
#define ZEORAID_ZEO_STOREA_FRAME_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "zeo/limits.h"

namespace zeo {

// Views into the payload ParseStoreaPickle was given.
struct StoreaFrame {
  absl::string_view oid;  // 8 bytes
  bool serial_is_none = false;
  absl::string_view serial;  // 8 bytes, or empty when serial_is_none
  absl::string_view data;
  int64_t txn_id = 0;
};

// `payload` (a frame without its length prefix) as a one-way storea call in
// the pickle encoding, or nullopt when it is anything else, including a
// storea laid out another way or beyond `limits`.
std::optional<StoreaFrame> ParseStoreaPickle(absl::string_view payload,
                                             const DecodeLimits& limits);

// The same bytes as EncodeMessage(MakeOneway("storea", {Bytes(oid), serial
// (None when `serial` is null), Bytes(data), Int(txn_id)}), kPickle).
std::string EncodeStoreaPickle(absl::string_view oid,
                               const absl::string_view* serial,
                               absl::string_view data, int64_t txn_id);

}  // namespace zeo

#endif  // ZEORAID_ZEO_STOREA_FRAME_H_
