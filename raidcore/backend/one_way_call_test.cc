#include "raidcore/backend/one_way_call.h"

#include "gtest/gtest.h"
#include "zeo/message.h"
#include "zeo/value.h"

namespace zeoraid::raidcore {
namespace {

using zeo::Value;

// A store bound for two mirrors is encoded once per encoding, and the bytes
// are the ones each connection would have made itself.
TEST(OneWayCallTest, EncodesOncePerEncoding) {
  OneWayCall call("storea", {Value::Bytes(std::string(8, '\1')), Value::None(),
                             Value::Bytes("record"), Value::Int(3)});
  EXPECT_EQ(call.method(), "storea");
  const absl::StatusOr<std::string>& pickle =
      call.Payload(zeo::Encoding::kPickle);
  ASSERT_TRUE(pickle.ok()) << pickle.status();
  EXPECT_EQ(&pickle, &call.Payload(zeo::Encoding::kPickle));
  const absl::StatusOr<std::string>& msgpack =
      call.Payload(zeo::Encoding::kMsgpack);
  ASSERT_TRUE(msgpack.ok()) << msgpack.status();
  EXPECT_NE(*pickle, *msgpack);
  zeo::Message expected = zeo::MakeOneway(
      "storea", {Value::Bytes(std::string(8, '\1')), Value::None(),
                 Value::Bytes("record"), Value::Int(3)});
  EXPECT_EQ(*pickle, zeo::EncodeMessage(expected, zeo::Encoding::kPickle));
  EXPECT_EQ(*msgpack, zeo::EncodeMessage(expected, zeo::Encoding::kMsgpack));
}

// A store pickled straight from its record is the same call in every form:
// the bytes the general encoder writes, in both encodings, and its arguments.
TEST(OneWayCallTest, AStoreFromItsRecordIsTheSameCall) {
  const std::string serial(8, '\2');
  const absl::string_view serial_view = serial;
  for (const std::string& oid : {std::string(8, '\1'), std::string("short")}) {
    for (const absl::string_view* s :
         {&serial_view, static_cast<const absl::string_view*>(nullptr)}) {
      SCOPED_TRACE(oid.size());
      const std::string record(300, 'r');
      OneWayCall call = OneWayCall::Storea(oid, s, record, 139800000000000);
      const Value::Items expected_args = {
          Value::Bytes(oid),
          s == nullptr ? Value::None() : Value::Bytes(serial),
          Value::Bytes(record), Value::Int(139800000000000)};
      const zeo::Message expected = zeo::MakeOneway("storea", expected_args);
      EXPECT_EQ(call.method(), "storea");
      const absl::StatusOr<std::string>& pickle =
          call.Payload(zeo::Encoding::kPickle);
      ASSERT_TRUE(pickle.ok()) << pickle.status();
      EXPECT_EQ(*pickle, zeo::EncodeMessage(expected, zeo::Encoding::kPickle));
      const absl::StatusOr<std::string>& msgpack =
          call.Payload(zeo::Encoding::kMsgpack);
      ASSERT_TRUE(msgpack.ok()) << msgpack.status();
      EXPECT_EQ(*msgpack,
                zeo::EncodeMessage(expected, zeo::Encoding::kMsgpack));
      EXPECT_EQ(Value::Tuple(call.args()), Value::Tuple(expected_args));
    }
  }
}

}  // namespace
}  // namespace zeoraid::raidcore
