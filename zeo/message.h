// The ZEO message model: every frame after the handshake is (msgid, flag, name,
// args).
#ifndef ZEORAID_ZEO_MESSAGE_H_
#define ZEORAID_ZEO_MESSAGE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "zeo/limits.h"
#include "zeo/pickle.h"
#include "zeo/value.h"

namespace zeo {

enum class Encoding { kPickle, kMsgpack };

inline constexpr absl::string_view kReplyName = ".reply";

struct Message {
  // Arbitrary value echoed in the reply (int for most calls, (oid, tid) for
  // loadBefore).
  Value msgid;
  // Requests: False = synchronous call, True = one-way. Replies: 0 = ok, 2 =
  // error.
  Value flag;
  std::string name;
  // Requests: a tuple of arguments. Replies: the return value, or for errors
  // (class_path, args_tuple_or_state_dict).
  Value args;

  bool is_reply() const { return name == kReplyName; }
  bool is_heartbeat() const { return is_reply() && msgid == Value::Int(-1); }
  bool is_error_reply() const { return is_reply() && flag.Truthy(); }
  bool is_oneway() const { return !is_reply() && flag.Truthy(); }
};

// Builders for the shapes ZEO peers send.
Message MakeCall(Value msgid, std::string name, Value::Items args);
Message MakeOneway(std::string name, Value::Items args);
Message MakeReply(Value msgid, Value result);
Message MakeErrorReply(Value msgid, std::string class_path, Value payload);

// Payload bytes (no length prefix). For kMsgpack, values msgpack cannot carry
// (objects, ints beyond 64 bits) are written as nil; use TryEncodeMessage
// where they can occur.
std::string EncodeMessage(const Message& message, Encoding encoding);

// EncodeMessage, but InvalidArgument instead of a lossy msgpack encoding.
absl::StatusOr<std::string> TryEncodeMessage(const Message& message,
                                             Encoding encoding);

// Strict: the payload must decode to a 4-sequence whose name is a str.
// `policy` applies to pickle only (msgpack has no globals).
absl::StatusOr<Message> DecodeMessage(absl::string_view payload,
                                      Encoding encoding,
                                      const DecodeLimits& limits,
                                      GlobalPolicy policy);

}  // namespace zeo

#endif  // ZEORAID_ZEO_MESSAGE_H_
