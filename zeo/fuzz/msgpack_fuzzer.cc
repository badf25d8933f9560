// libFuzzer target for the msgpack (M5) codec: DecodeMsgpack must fail cleanly
// or return a value msgpack can represent, which EncodeMsgpack writes back and
// DecodeMsgpack reads again as the same value. The value must also survive a
// pickle round trip (pickle can carry everything msgpack can).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "zeo/fuzz/fuzz_util.h"
#include "zeo/msgpack.h"
#include "zeo/pickle.h"
#include "zeo/value.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using zeo::Value;
  namespace fz = zeo::fuzz;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const zeo::DecodeLimits limits = fz::FuzzLimits();

  absl::StatusOr<Value> decoded = zeo::DecodeMsgpack(input, limits);
  if (!decoded.ok()) {
    fz::CheckDecodeError(decoded.status(), "DecodeMsgpack");
    return 0;
  }
  // Only values msgpack can represent are round-tripped; the decoder must
  // produce nothing else (no objects, no ints beyond uint64).
  absl::Status encodable = zeo::CheckMsgpackEncodable(*decoded);
  if (!encodable.ok()) {
    fz::Fail("DecodeMsgpack returned a value msgpack cannot encode",
             "input " + fz::Hex(input) + "\n" + encodable.ToString());
  }

  const std::string encoded = zeo::EncodeMsgpack(*decoded);
  absl::StatusOr<Value> again =
      zeo::DecodeMsgpack(encoded, fz::RoundTripLimits(limits, encoded.size()));
  if (!again.ok()) {
    fz::Fail("EncodeMsgpack output does not decode",
             "input " + fz::Hex(input) + "\nvalue " +
                 fz::Clip(decoded->DebugString()) + "\nencoded " +
                 fz::Hex(encoded) + "\nerror " + again.status().ToString());
  }
  if (*again != *decoded) {
    fz::Fail("msgpack round trip changed the value",
             "input " + fz::Hex(input) + "\nfirst  " +
                 fz::Clip(decoded->DebugString()) + "\nsecond " +
                 fz::Clip(again->DebugString()) + "\nencoded " +
                 fz::Hex(encoded));
  }
  if (zeo::EncodeMsgpack(*again) != encoded) {
    fz::Fail("EncodeMsgpack is not deterministic", "input " + fz::Hex(input));
  }
  if (decoded->is_tuple()) {
    std::vector<const Value*> items;
    for (const Value& item : decoded->items()) items.push_back(&item);
    if (zeo::EncodeMsgpackArray(items) != encoded) {
      fz::Fail("EncodeMsgpackArray differs from EncodeMsgpack of the tuple",
               "input " + fz::Hex(input));
    }
  }

  // Cross-codec: pickle carries every msgpack value unchanged.
  const std::string pickled = zeo::EncodePickle(*decoded);
  absl::StatusOr<Value> unpickled =
      zeo::DecodePickle(pickled, fz::RoundTripLimits(limits, pickled.size()),
                        zeo::GlobalPolicy::kNone);
  if (!unpickled.ok()) {
    fz::Fail("EncodePickle output of a msgpack value does not decode",
             "input " + fz::Hex(input) + "\nvalue " +
                 fz::Clip(decoded->DebugString()) + "\npickled " +
                 fz::Hex(pickled) + "\nerror " + unpickled.status().ToString());
  }
  if (*unpickled != *decoded) {
    fz::Fail("pickle round trip of a msgpack value changed it",
             "input " + fz::Hex(input) + "\nmsgpack " +
                 fz::Clip(decoded->DebugString()) + "\npickle  " +
                 fz::Clip(unpickled->DebugString()));
  }
  (void)decoded->DebugString();
  (void)decoded->Truthy();
  return 0;
}
