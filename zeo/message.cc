#include "zeo/message.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "zeo/codec_util.h"
#include "zeo/msgpack.h"

namespace zeo {
namespace {

// A short description for errors (a DebugString could be megabytes long).
std::string Describe(const Value& v) {
  static constexpr const char* kNames[] = {"None",  "bool",  "int",   "int",
                                           "float", "bytes", "str",   "tuple",
                                           "list",  "dict",  "object"};
  std::string out = kNames[static_cast<int>(v.kind())];
  if (v.is_sequence())
    absl::StrAppend(&out, " of ", v.items().size(), " items");
  return out;
}

}  // namespace

Message MakeCall(Value msgid, std::string name, Value::Items args) {
  Message m;
  m.msgid = std::move(msgid);
  m.flag = Value::Bool(false);
  m.name = std::move(name);
  m.args = Value::Tuple(std::move(args));
  return m;
}

Message MakeOneway(std::string name, Value::Items args) {
  Message m;
  m.msgid = Value::Int(0);
  m.flag = Value::Bool(true);
  m.name = std::move(name);
  m.args = Value::Tuple(std::move(args));
  return m;
}

// The Python server answers with int flags (0 ok, 2 error), not bools.
Message MakeReply(Value msgid, Value result) {
  Message m;
  m.msgid = std::move(msgid);
  m.flag = Value::Int(0);
  m.name = std::string(kReplyName);
  m.args = std::move(result);
  return m;
}

Message MakeErrorReply(Value msgid, std::string class_path, Value payload) {
  Message m;
  m.msgid = std::move(msgid);
  m.flag = Value::Int(2);
  m.name = std::string(kReplyName);
  m.args =
      Value::Tuple({Value::Str(std::move(class_path)), std::move(payload)});
  return m;
}

std::string EncodeMessage(const Message& message, Encoding encoding) {
  // The name is the only part not already a Value; the args (which may hold
  // large records) are encoded in place rather than copied into a tuple.
  const Value name = Value::Str(message.name);
  const Value* parts[] = {&message.msgid, &message.flag, &name, &message.args};
  return encoding == Encoding::kPickle ? EncodePickleTuple(parts)
                                       : EncodeMsgpackArray(parts);
}

absl::StatusOr<std::string> TryEncodeMessage(const Message& message,
                                             Encoding encoding) {
  if (encoding == Encoding::kMsgpack) {
    if (!internal::IsValidUtf8(message.name)) {
      return absl::InvalidArgumentError(
          "msgpack cannot represent a method name with lone surrogates");
    }
    for (const Value* part : {&message.msgid, &message.flag, &message.args}) {
      absl::Status status = CheckMsgpackEncodable(*part);
      if (!status.ok()) return status;
    }
  }
  return EncodeMessage(message, encoding);
}

absl::StatusOr<Message> DecodeMessage(absl::string_view payload,
                                      Encoding encoding,
                                      const DecodeLimits& limits,
                                      GlobalPolicy policy) {
  absl::StatusOr<Value> decoded = encoding == Encoding::kPickle
                                      ? DecodePickle(payload, limits, policy)
                                      : DecodeMsgpack(payload, limits);
  if (!decoded.ok()) return decoded.status();
  if (!decoded->is_sequence() || decoded->items().size() != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("message is not a 4-sequence but a ", Describe(*decoded)));
  }
  Value::Items& parts = decoded->mutable_items();
  if (!parts[2].is_str()) {
    return absl::InvalidArgumentError(
        absl::StrCat("message name is a ", Describe(parts[2]), ", not a str"));
  }
  Message m;
  m.msgid = std::move(parts[0]);
  m.flag = std::move(parts[1]);
  m.name = parts[2].string_value();
  m.args = std::move(parts[3]);
  return m;
}

}  // namespace zeo
