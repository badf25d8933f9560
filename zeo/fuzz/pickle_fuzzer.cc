// libFuzzer target for the pickle (Z5) codec: DecodePickle under each
// GlobalPolicy must fail cleanly or return a value that EncodePickle writes
// back and DecodePickle reads again as the same value. Values msgpack can
// represent must also survive a msgpack round trip (arrays coming back as
// tuples).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "zeo/fuzz/fuzz_util.h"
#include "zeo/msgpack.h"
#include "zeo/pickle.h"
#include "zeo/value.h"

namespace zeo {
namespace fuzz {
namespace {

void CheckRoundTrip(absl::string_view input, const Value& decoded,
                    const DecodeLimits& limits, GlobalPolicy policy) {
  const std::string encoded = EncodePickle(decoded);
  absl::StatusOr<Value> again =
      DecodePickle(encoded, RoundTripLimits(limits, encoded.size()), policy);
  if (!again.ok()) {
    Fail("EncodePickle output does not decode",
         "input " + Hex(input) + "\nvalue " + Clip(decoded.DebugString()) +
             "\nencoded " + Hex(encoded) + "\nerror " +
             again.status().ToString());
  }
  if (*again != decoded) {
    Fail("pickle round trip changed the value",
         "input " + Hex(input) + "\nfirst  " + Clip(decoded.DebugString()) +
             "\nsecond " + Clip(again->DebugString()) + "\nencoded " +
             Hex(encoded));
  }
  if (EncodePickle(*again) != encoded) {
    Fail("EncodePickle is not deterministic", "input " + Hex(input));
  }
  // Messages are written through EncodePickleTuple: same bytes, no copy.
  if (decoded.is_tuple()) {
    std::vector<const Value*> items;
    for (const Value& item : decoded.items()) items.push_back(&item);
    if (EncodePickleTuple(items) != encoded) {
      Fail("EncodePickleTuple differs from EncodePickle of the tuple",
           "input " + Hex(input));
    }
  }
}

// Cross-codec: what CheckMsgpackEncodable admits must come back from msgpack.
void CheckMsgpack(absl::string_view input, const Value& decoded,
                  const DecodeLimits& limits) {
  if (!CheckMsgpackEncodable(decoded).ok()) return;
  const std::string packed = EncodeMsgpack(decoded);
  absl::StatusOr<Value> unpacked =
      DecodeMsgpack(packed, RoundTripLimits(limits, packed.size()));
  if (!unpacked.ok()) {
    Fail("EncodeMsgpack output of a pickled value does not decode",
         "input " + Hex(input) + "\nvalue " + Clip(decoded.DebugString()) +
             "\npacked " + Hex(packed) + "\nerror " +
             unpacked.status().ToString());
  }
  if (*unpacked != AsMsgpackSees(decoded)) {
    Fail("msgpack round trip of a pickled value changed it",
         "input " + Hex(input) + "\npickle  " + Clip(decoded.DebugString()) +
             "\nmsgpack " + Clip(unpacked->DebugString()));
  }
}

}  // namespace
}  // namespace fuzz
}  // namespace zeo

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using zeo::GlobalPolicy;
  using zeo::Value;
  namespace fz = zeo::fuzz;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const zeo::DecodeLimits limits = fz::FuzzLimits();

  // kNone first: a pickle without globals must decode the same under every
  // policy, since policies differ only in the globals they admit.
  absl::StatusOr<Value> plain =
      zeo::DecodePickle(input, limits, GlobalPolicy::kNone);
  for (GlobalPolicy policy :
       {GlobalPolicy::kNone, GlobalPolicy::kServer, GlobalPolicy::kClient}) {
    absl::StatusOr<Value> decoded =
        policy == GlobalPolicy::kNone
            ? plain
            : zeo::DecodePickle(input, limits, policy);
    if (!decoded.ok()) {
      fz::CheckDecodeError(decoded.status(), "DecodePickle");
      if (plain.ok()) {
        fz::Fail(
            "a pickle kNone accepts is refused under another policy",
            "input " + fz::Hex(input) + "\n" + decoded.status().ToString());
      }
      continue;
    }
    if (policy != GlobalPolicy::kNone && plain.ok()) {
      // Same value as under kNone, already checked below.
      if (*decoded != *plain) {
        fz::Fail("policies decode the same pickle differently",
                 "input " + fz::Hex(input));
      }
      continue;
    }
    fz::CheckRoundTrip(input, *decoded, limits, policy);
    fz::CheckMsgpack(input, *decoded, limits);
    // Exercise the repr (float and big int rendering) and truthiness.
    (void)decoded->DebugString();
    (void)decoded->Truthy();
  }
  return 0;
}
