#include "zeo/message.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "zeo/msgpack.h"

namespace zeo {
namespace {

std::string Hex(absl::string_view s) { return absl::BytesToHexString(s); }
std::string Unhex(absl::string_view h) { return absl::HexStringToBytes(h); }

const std::string kOid = Unhex("00000000deadbeef");
const std::string kMaxTid = Unhex("7fffffffffffffff");

TEST(MessageTest, BuildersUseTheFlagsZeoSends) {
  const Message call = MakeCall(Value::Int(3), "vote", {Value::Int(12345)});
  EXPECT_EQ(call.flag, Value::Bool(false));
  EXPECT_EQ(call.args, Value::Tuple({Value::Int(12345)}));
  EXPECT_FALSE(call.is_reply());
  EXPECT_FALSE(call.is_oneway());

  const Message oneway = MakeOneway("info", {Value::Dict({})});
  EXPECT_EQ(oneway.msgid, Value::Int(0));
  EXPECT_EQ(oneway.flag, Value::Bool(true));
  EXPECT_TRUE(oneway.is_oneway());

  const Message reply = MakeReply(Value::Int(3), Value::None());
  EXPECT_EQ(reply.flag, Value::Int(0));
  EXPECT_EQ(reply.name, ".reply");
  EXPECT_TRUE(reply.is_reply());
  EXPECT_FALSE(reply.is_error_reply());

  const Message error = MakeErrorReply(Value::Int(3), "builtins.ValueError",
                                       Value::Tuple({Value::Str("x")}));
  EXPECT_EQ(error.flag, Value::Int(2));
  EXPECT_TRUE(error.is_error_reply());
  EXPECT_EQ(error.args, Value::Tuple({Value::Str("builtins.ValueError"),
                                      Value::Tuple({Value::Str("x")})}));
}

TEST(MessageTest, EncodesThePosKeyErrorReplyOfTheSpec) {
  const Value msgid = Value::Tuple({Value::Bytes(kOid), Value::Bytes(kMaxTid)});
  const Message m = MakeErrorReply(msgid, "ZODB.POSException.POSKeyError",
                                   Value::Tuple({Value::Bytes(kOid)}));
  EXPECT_EQ(
      Hex(EncodeMessage(m, Encoding::kPickle)),
      "8003284308"
      "00000000deadbeef"
      "4308"
      "7fffffffffffffff"
      "86"
      "4b02"
      "58060000002e7265706c79"
      "581d0000005a4f44422e504f53457863657074696f6e2e504f534b65794572726f72"
      "4308"
      "00000000deadbeef"
      "85"
      "86"
      "74"
      "2e");
}

TEST(MessageTest, EncodesTheStorageTransactionErrorOfTheSpec) {
  const Message m = MakeErrorReply(
      Value::Int(0x56), "ZODB.POSException.StorageTransactionError",
      Value::Tuple({Value::None(), Value::Int(12345)}));
  const std::string payload = EncodeMessage(m, Encoding::kPickle);
  EXPECT_EQ(payload.size(), 0x48u);
  // ... (None, 12345) TUPLE2, (class_path, args) TUPLE2, TUPLE, STOP
  EXPECT_EQ(Hex(payload.substr(payload.size() - 8)),
            "4e4d3930"
            "8686742e");
}

TEST(MessageTest, HeartbeatBothEncodings) {
  Message hb = MakeReply(Value::Int(-1), Value::None());
  EXPECT_TRUE(hb.is_heartbeat());
  EXPECT_EQ(Hex(EncodeMessage(hb, Encoding::kPickle)),
            "8003284affffffff4b0058060000002e7265706c794e742e");
  EXPECT_EQ(Hex(EncodeMessage(hb, Encoding::kMsgpack)),
            "94ff00a62e7265706c79c0");
}

TEST(MessageTest, InfoCallbackInMsgpackFromTheSpec) {
  const Message info = MakeOneway(
      "info", {Value::Dict({{Value::Str("length"), Value::Int(1)},
                            {Value::Str("size"), Value::Int(166)}})});
  EXPECT_EQ(Hex(EncodeMessage(info, Encoding::kMsgpack)),
            "9400c3a4696e666f9182a66c656e67746801a473697a65cca6");
}

TEST(MessageTest, RoundTripsBothEncodings) {
  const Message call =
      MakeCall(Value::Tuple({Value::Bytes(kOid), Value::Bytes(kMaxTid)}),
               "loadBefore", {Value::Bytes(kOid), Value::Bytes(kMaxTid)});
  for (Encoding encoding : {Encoding::kPickle, Encoding::kMsgpack}) {
    absl::StatusOr<Message> decoded =
        DecodeMessage(EncodeMessage(call, encoding), encoding, DecodeLimits(),
                      GlobalPolicy::kServer);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(decoded->msgid, call.msgid);
    EXPECT_EQ(decoded->flag, call.flag);
    EXPECT_EQ(decoded->name, "loadBefore");
    EXPECT_EQ(decoded->args, call.args);
  }
}

TEST(MessageTest, MsgpackTurnsListsIntoTuples) {
  const Message reply =
      MakeReply(Value::Int(5), Value::List({Value::Bytes(kOid)}));
  absl::StatusOr<Message> decoded =
      DecodeMessage(EncodeMessage(reply, Encoding::kMsgpack),
                    Encoding::kMsgpack, DecodeLimits(), GlobalPolicy::kNone);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->args, Value::Tuple({Value::Bytes(kOid)}));
}

TEST(MessageTest, DecodeAcceptsA4List) {
  const std::string payload =
      EncodePickle(Value::List({Value::Int(1), Value::Bool(false),
                                Value::Str("ping"), Value::Tuple({})}));
  absl::StatusOr<Message> decoded = DecodeMessage(
      payload, Encoding::kPickle, DecodeLimits(), GlobalPolicy::kServer);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->name, "ping");
}

TEST(MessageTest, DecodeRejectsOtherShapes) {
  const Value ok_name = Value::Str("ping");
  const Value bad[] = {
      Value::None(),
      Value::Tuple({Value::Int(1), Value::Bool(false), ok_name}),
      Value::Tuple({Value::Int(1), Value::Bool(false), ok_name,
                    Value::Tuple({}), Value::None()}),
      Value::Tuple({Value::Int(1), Value::Bool(false), Value::Bytes("ping"),
                    Value::Tuple({})}),
      Value::Dict({}),
  };
  for (const Value& v : bad) {
    for (Encoding encoding : {Encoding::kPickle, Encoding::kMsgpack}) {
      const std::string payload =
          encoding == Encoding::kPickle ? EncodePickle(v) : EncodeMsgpack(v);
      absl::StatusOr<Message> decoded = DecodeMessage(
          payload, encoding, DecodeLimits(), GlobalPolicy::kServer);
      ASSERT_FALSE(decoded.ok()) << v.DebugString();
      EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST(MessageTest, DecodePassesThePolicyAndLimits) {
  const Message m = MakeCall(
      Value::Int(1), "undoInfo",
      {Value::Int(0), Value::Int(20),
       Value::Dict({{Value::Str("user_name"),
                     Value::Object("ZopeUndo.Prefix", "Prefix",
                                   Value::Tuple({}), Value::Dict({}))}})});
  const std::string payload = EncodeMessage(m, Encoding::kPickle);
  EXPECT_TRUE(DecodeMessage(payload, Encoding::kPickle, DecodeLimits(),
                            GlobalPolicy::kServer)
                  .ok());
  EXPECT_FALSE(DecodeMessage(payload, Encoding::kPickle, DecodeLimits(),
                             GlobalPolicy::kNone)
                   .ok());
  DecodeLimits small;
  small.max_depth = 2;
  absl::StatusOr<Message> deep =
      DecodeMessage(payload, Encoding::kPickle, small, GlobalPolicy::kServer);
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().code(), absl::StatusCode::kOutOfRange);
}

TEST(MessageTest, TryEncodeRefusesWhatMsgpackCannotCarry) {
  const Message with_object = MakeReply(
      Value::Int(1),
      Value::Object("ZopeUndo.Prefix", "Prefix", Value::Tuple({}), Value()));
  EXPECT_TRUE(TryEncodeMessage(with_object, Encoding::kPickle).ok());
  absl::StatusOr<std::string> refused =
      TryEncodeMessage(with_object, Encoding::kMsgpack);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("ZopeUndo.Prefix.Prefix"),
            absl::string_view::npos);
  // 2^70 does not fit msgpack's 64-bit ints; 2^64 - 1 does.
  const Message big =
      MakeReply(Value::Int(1), Value::BigInt(Unhex("000000000000000040")));
  EXPECT_FALSE(TryEncodeMessage(big, Encoding::kMsgpack).ok());
  const Message u64 =
      MakeReply(Value::Int(1), Value::BigInt(Unhex("ffffffffffffffff00")));
  absl::StatusOr<std::string> encoded =
      TryEncodeMessage(u64, Encoding::kMsgpack);
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  EXPECT_EQ(Hex(*encoded), "940100a62e7265706c79cfffffffffffffffff");
  // A lone surrogate (which pickle carries) in the args or in the name.
  const Message surrogate_arg =
      MakeReply(Value::Int(1), Value::Str(Unhex("edb3bf")));
  EXPECT_TRUE(TryEncodeMessage(surrogate_arg, Encoding::kPickle).ok());
  EXPECT_FALSE(TryEncodeMessage(surrogate_arg, Encoding::kMsgpack).ok());
  Message surrogate_name = MakeReply(Value::Int(1), Value());
  surrogate_name.name = Unhex("edb389");
  EXPECT_FALSE(TryEncodeMessage(surrogate_name, Encoding::kMsgpack).ok());
}

}  // namespace
}  // namespace zeo
