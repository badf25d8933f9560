// libFuzzer target for the message layer: DecodeMessage of the input as a
// pickle payload (server and client policy) and as a msgpack payload must
// fail cleanly or give a message that agrees with the codec's own decoding,
// re-encodes (EncodeMessage, TryEncodeMessage) to a payload that decodes to
// the same message, and crosses to the other encoding whenever
// TryEncodeMessage accepts it. The storea fast path (zeo/storea_frame.h)
// must either leave the input alone or read what DecodeMessage reads.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "zeo/codec_util.h"
#include "zeo/fuzz/fuzz_util.h"
#include "zeo/message.h"
#include "zeo/msgpack.h"
#include "zeo/pickle.h"
#include "zeo/storea_frame.h"
#include "zeo/value.h"

namespace zeo {
namespace fuzz {
namespace {

const char* EncodingName(Encoding encoding) {
  return encoding == Encoding::kPickle ? "pickle" : "msgpack";
}

bool SameMessage(const Message& a, const Message& b) {
  return a.msgid == b.msgid && a.flag == b.flag && a.name == b.name &&
         a.args == b.args;
}

std::string Describe(const Message& m) {
  return Clip("(" + m.msgid.DebugString() + ", " + m.flag.DebugString() + ", " +
              Value::Str(m.name).DebugString() + ", " + m.args.DebugString() +
              ")");
}

// `message`, re-encoded as msgpack, as msgpack decodes it (arrays as tuples).
Message AsMsgpackSees(const Message& message) {
  Message out;
  out.msgid = fuzz::AsMsgpackSees(message.msgid);
  out.flag = fuzz::AsMsgpackSees(message.flag);
  out.name = message.name;
  out.args = fuzz::AsMsgpackSees(message.args);
  return out;
}

// Encodes `message` with `encoding` and decodes it back; returns the message
// read back (the caller compares), aborting if the payload does not decode.
Message ReDecode(absl::string_view input, const Message& message,
                 const std::string& payload, Encoding encoding,
                 const DecodeLimits& limits, GlobalPolicy policy) {
  absl::StatusOr<Message> again = DecodeMessage(
      payload, encoding, RoundTripLimits(limits, payload.size()), policy);
  if (!again.ok()) {
    Fail(std::string("re-encoded message does not decode as ") +
             EncodingName(encoding),
         "input " + Hex(input) + "\nmessage " + Describe(message) +
             "\npayload " + Hex(payload) + "\nerror " +
             again.status().ToString());
  }
  return *std::move(again);
}

void CheckMessage(absl::string_view input, const Message& message,
                  Encoding encoding, const DecodeLimits& limits,
                  GlobalPolicy policy) {
  // The message is the codec's 4-sequence, split up.
  absl::StatusOr<Value> value = encoding == Encoding::kPickle
                                    ? DecodePickle(input, limits, policy)
                                    : DecodeMsgpack(input, limits);
  if (!value.ok() || !value->is_sequence() || value->items().size() != 4 ||
      !value->items()[2].is_str() || value->items()[0] != message.msgid ||
      value->items()[1] != message.flag ||
      value->items()[2].string_value() != message.name ||
      value->items()[3] != message.args) {
    Fail("DecodeMessage disagrees with the codec",
         "input " + Hex(input) + "\nmessage " + Describe(message));
  }

  // Predicates.
  const bool reply = message.name == kReplyName;
  if (message.is_reply() != reply ||
      (message.is_heartbeat() && !message.is_reply()) ||
      (message.is_error_reply() && !message.is_reply()) ||
      (message.is_oneway() && message.is_reply()) ||
      message.is_error_reply() != (reply && message.flag.Truthy()) ||
      message.is_oneway() != (!reply && message.flag.Truthy())) {
    Fail("inconsistent message predicates", "message " + Describe(message));
  }

  // Same encoding: TryEncodeMessage must accept what was decoded, write the
  // EncodeMessage bytes, and read back the same message.
  absl::StatusOr<std::string> payload = TryEncodeMessage(message, encoding);
  if (!payload.ok()) {
    Fail("TryEncodeMessage refuses a decoded message in its own encoding",
         "input " + Hex(input) + "\n" + payload.status().ToString());
  }
  if (*payload != EncodeMessage(message, encoding)) {
    Fail("TryEncodeMessage and EncodeMessage differ", "input " + Hex(input));
  }
  if (!SameMessage(ReDecode(input, message, *payload, encoding, limits, policy),
                   message)) {
    Fail("message round trip changed the message",
         "input " + Hex(input) + "\nmessage " + Describe(message) +
             "\npayload " + Hex(*payload));
  }

  // The other encoding (what a translator does between M5 and Z5 peers).
  if (encoding == Encoding::kMsgpack) {
    absl::StatusOr<std::string> pickled =
        TryEncodeMessage(message, Encoding::kPickle);
    if (!pickled.ok()) {
      Fail("TryEncodeMessage refuses pickle", pickled.status().ToString());
    }
    if (!SameMessage(ReDecode(input, message, *pickled, Encoding::kPickle,
                              limits, GlobalPolicy::kNone),
                     message)) {
      Fail("msgpack message changed through pickle",
           "input " + Hex(input) + "\nmessage " + Describe(message));
    }
  } else {
    absl::StatusOr<std::string> packed =
        TryEncodeMessage(message, Encoding::kMsgpack);
    if (packed.ok()) {
      if (!SameMessage(ReDecode(input, message, *packed, Encoding::kMsgpack,
                                limits, policy),
                       AsMsgpackSees(message))) {
        Fail("pickle message changed through msgpack",
             "input " + Hex(input) + "\nmessage " + Describe(message));
      }
    } else {
      if (packed.status().code() != absl::StatusCode::kInvalidArgument) {
        Fail("TryEncodeMessage failed with an undocumented status code",
             packed.status().ToString());
      }
      // The lossy form (objects, huge ints and non-UTF-8 strs as nil) is
      // still a message, unless the name itself was lost.
      if (internal::IsValidUtf8(message.name)) {
        ReDecode(input, message, EncodeMessage(message, Encoding::kMsgpack),
                 Encoding::kMsgpack, limits, policy);
      }
    }
  }
}

void CheckStoreaFastPath(absl::string_view input, const DecodeLimits& limits) {
  std::optional<StoreaFrame> fast = ParseStoreaPickle(input, limits);
  if (!fast.has_value()) return;
  absl::StatusOr<Message> message =
      DecodeMessage(input, Encoding::kPickle, limits, GlobalPolicy::kServer);
  const Value::Items* args = message.ok() && message->args.is_tuple()
                                 ? &message->args.items()
                                 : nullptr;
  const bool same =
      args != nullptr && message->name == "storea" && message->is_oneway() &&
      args->size() == 4 && (*args)[0] == Value::Bytes(std::string(fast->oid)) &&
      (*args)[1] == (fast->serial_is_none
                         ? Value::None()
                         : Value::Bytes(std::string(fast->serial))) &&
      (*args)[2] == Value::Bytes(std::string(fast->data)) &&
      (*args)[3] == Value::Int(fast->txn_id);
  if (!same) {
    Fail("the storea fast path disagrees with DecodeMessage",
         "input " + Hex(input) + "\n" +
             (message.ok() ? Describe(*message) : message.status().ToString()));
  }
}

}  // namespace
}  // namespace fuzz
}  // namespace zeo

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using zeo::Encoding;
  using zeo::GlobalPolicy;
  using zeo::Message;
  namespace fz = zeo::fuzz;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const zeo::DecodeLimits limits = fz::FuzzLimits();
  fz::CheckStoreaFastPath(input, limits);

  for (Encoding encoding : {Encoding::kPickle, Encoding::kMsgpack}) {
    std::optional<absl::StatusOr<Message>> server;
    for (GlobalPolicy policy : {GlobalPolicy::kServer, GlobalPolicy::kClient}) {
      absl::StatusOr<Message> message =
          zeo::DecodeMessage(input, encoding, limits, policy);
      if (!message.ok())
        fz::CheckDecodeError(message.status(), "DecodeMessage");
      if (server.has_value()) {
        // The policy applies to pickle only, and only to globals.
        const absl::StatusOr<Message>& first = *server;
        const bool same = first.ok() == message.ok() &&
                          (first.ok() ? fz::SameMessage(*first, *message)
                                      : first.status() == message.status());
        if (encoding == Encoding::kMsgpack && !same) {
          fz::Fail("msgpack message decoding depends on the pickle policy",
                   "input " + fz::Hex(input));
        }
        if (same) continue;  // nothing new to check
      }
      if (message.ok()) {
        fz::CheckMessage(input, *message, encoding, limits, policy);
      }
      if (!server.has_value()) server = std::move(message);
    }
  }
  return 0;
}
