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

}  // namespace
}  // namespace zeoraid::raidcore
