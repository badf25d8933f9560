#include "zeo/storea_frame.h"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "zeo/message.h"

namespace zeo {
namespace {

Message StoreaMessage(const std::string& oid, const std::string* serial,
                      const std::string& data, int64_t txn_id) {
  return MakeOneway("storea",
                    {Value::Bytes(oid),
                     serial == nullptr ? Value::None() : Value::Bytes(*serial),
                     Value::Bytes(data), Value::Int(txn_id)});
}

// What the general decoder makes of `payload`, as a StoreaFrame; false when
// it is not a one-way storea with those argument types.
bool DecodeGenerally(const std::string& payload, StoreaFrame* out,
                     std::string* storage) {
  absl::StatusOr<Message> m = DecodeMessage(
      payload, Encoding::kPickle, DecodeLimits(), GlobalPolicy::kServer);
  if (!m.ok() || m->name != "storea" || !m->is_oneway()) return false;
  const Value::Items& args = m->args.items();
  if (args.size() != 4 || !args[0].is_bytes() || !args[2].is_bytes() ||
      args[3].kind() != Value::Kind::kInt) {
    return false;
  }
  // Views into `storage`: oid | serial | data.
  *storage = args[0].string_value() +
             (args[1].is_none() ? "" : args[1].string_value()) +
             args[2].string_value();
  absl::string_view all(*storage);
  out->oid = all.substr(0, args[0].string_value().size());
  all.remove_prefix(out->oid.size());
  out->serial_is_none = args[1].is_none();
  if (!out->serial_is_none) {
    if (!args[1].is_bytes()) return false;
    out->serial = all.substr(0, args[1].string_value().size());
    all.remove_prefix(out->serial.size());
  }
  out->data = all;
  out->txn_id = args[3].int_value();
  return true;
}

void ExpectSame(const StoreaFrame& a, const StoreaFrame& b) {
  EXPECT_EQ(a.oid, b.oid);
  EXPECT_EQ(a.serial_is_none, b.serial_is_none);
  EXPECT_EQ(a.serial, b.serial);
  EXPECT_EQ(a.data, b.data);
  EXPECT_EQ(a.txn_id, b.txn_id);
}

TEST(StoreaFrameTest, EncodesWhatTheGeneralEncoderWritesAndReadsItBack) {
  const std::string oid("\0\0\0\0\0\0\0\x2a", 8);
  const std::string serial("\x03\xf1\0\0\0\0\0\x01", 8);
  const int64_t kIds[] = {0,
                          1,
                          255,
                          256,
                          65535,
                          65536,
                          -1,
                          std::numeric_limits<int32_t>::min(),
                          int64_t{1} << 31,
                          139800000000000,  // id(txn) on CPython
                          std::numeric_limits<int64_t>::max(),
                          std::numeric_limits<int64_t>::min()};
  for (size_t size : {0, 1, 255, 256, 70000}) {
    const std::string data(size, 'd');
    for (const std::string* s :
         {&serial, static_cast<const std::string*>(nullptr)}) {
      for (int64_t id : kIds) {
        SCOPED_TRACE(testing::Message() << "size " << size << " id " << id
                                        << (s == nullptr ? " None" : ""));
        const absl::string_view serial_view = serial;
        const std::string fast = EncodeStoreaPickle(
            oid, s == nullptr ? nullptr : &serial_view, data, id);
        ASSERT_EQ(absl::BytesToHexString(fast),
                  absl::BytesToHexString(EncodeMessage(
                      StoreaMessage(oid, s, data, id), Encoding::kPickle)));
        std::optional<StoreaFrame> parsed =
            ParseStoreaPickle(fast, DecodeLimits());
        ASSERT_TRUE(parsed.has_value());
        StoreaFrame general;
        std::string storage;
        ASSERT_TRUE(DecodeGenerally(fast, &general, &storage));
        ExpectSame(*parsed, general);
      }
    }
  }
}

// Recorded between a ZODB 6 client and a ZEO 6 server
// (../shared/zeo-vectors/basic.c2s.jsonl).
constexpr char kClientStorea[] =
    "8003284b0088580600000073746f726561284308000000000000000043080000000000"
    "000000434080036370657273697374656e742e6d617070696e670a50657273697374"
    "656e744d617070696e670a71002e80037d710158040000006461746171027d710373"
    "2e8a06d0934288827f74742e";

TEST(StoreaFrameTest, ReadsARealClientsStorea) {
  const std::string payload = absl::HexStringToBytes(kClientStorea);
  std::optional<StoreaFrame> parsed =
      ParseStoreaPickle(payload, DecodeLimits());
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->oid, std::string(8, '\0'));
  EXPECT_FALSE(parsed->serial_is_none);
  EXPECT_EQ(parsed->data.size(), 0x40u);
  EXPECT_EQ(parsed->txn_id, 0x7f828842'93d0);
  StoreaFrame general;
  std::string storage;
  ASSERT_TRUE(DecodeGenerally(payload, &general, &storage));
  ExpectSame(*parsed, general);
}

TEST(StoreaFrameTest, LeavesEverythingElseToTheGeneralDecoder) {
  const std::string oid(8, '\x01');
  const std::string serial(8, '\x02');
  const std::string good = EncodeMessage(
      StoreaMessage(oid, &serial, "record", 7), Encoding::kPickle);
  ASSERT_TRUE(ParseStoreaPickle(good, DecodeLimits()).has_value());

  std::vector<std::pair<std::string, std::string>> others = {
      {"a call, not one-way",
       EncodeMessage(MakeCall(Value::Int(5), "storea",
                              {Value::Bytes(oid), Value::Bytes(serial),
                               Value::Bytes("x"), Value::Int(7)}),
                     Encoding::kPickle)},
      {"another method",
       EncodeMessage(
           MakeOneway("storeb", {Value::Bytes(oid), Value::Bytes(serial),
                                 Value::Bytes("x"), Value::Int(7)}),
           Encoding::kPickle)},
      {"a str serial",
       EncodeMessage(MakeOneway("storea", {Value::Bytes(oid),
                                           Value::Str(std::string(8, 'a')),
                                           Value::Bytes("x"), Value::Int(7)}),
                     Encoding::kPickle)},
      {"a 7-byte oid",
       EncodeMessage(StoreaMessage(oid.substr(1), &serial, "x", 7),
                     Encoding::kPickle)},
      {"a str record",
       EncodeMessage(
           MakeOneway("storea", {Value::Bytes(oid), Value::Bytes(serial),
                                 Value::Str("x"), Value::Int(7)}),
           Encoding::kPickle)},
      {"a txn id beyond int64",
       EncodeMessage(
           MakeOneway(
               "storea",
               {Value::Bytes(oid), Value::Bytes(serial), Value::Bytes("x"),
                Value::BigInt(std::string("\0\0\0\0\0\0\0\0\x01", 9))}),
           Encoding::kPickle)},
      {"five arguments",
       EncodeMessage(
           MakeOneway("storea",
                      {Value::Bytes(oid), Value::Bytes(serial),
                       Value::Bytes("x"), Value::Int(7), Value::Int(8)}),
           Encoding::kPickle)},
      {"trailing bytes", good + "."},
      // A memoizing pickler's BINPUT after the record.
      {"a memo opcode", good.substr(0, good.size() - 5) + "q\x01" +
                            good.substr(good.size() - 5)},
  };
  for (const auto& [what, payload] : others) {
    EXPECT_FALSE(ParseStoreaPickle(payload, DecodeLimits()).has_value())
        << what;
  }
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(ParseStoreaPickle(good.substr(0, n), DecodeLimits()))
        << "truncated to " << n;
  }
  DecodeLimits small;
  small.max_string_bytes = 5;
  EXPECT_FALSE(ParseStoreaPickle(good, small).has_value());
}

// Whatever one changed byte makes of a storea frame, the fast path either
// leaves it to the general decoder or reads what that decoder reads.
TEST(StoreaFrameTest, NeverDisagreesWithTheGeneralDecoder) {
  const std::string serial(8, '\x02');
  const std::string good =
      EncodeMessage(StoreaMessage(std::string(8, '\x01'), &serial,
                                  std::string(300, 'r'), 139800000000000),
                    Encoding::kPickle);
  int taken = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (int b : {0x00, 0x01, 0x08, 0x28, 0x2e, 0x42, 0x43, 0x4a, 0x4b, 0x4d,
                  0x4e, 0x74, 0x88, 0x8a, 0xff}) {
      std::string mutated = good;
      mutated[i] = static_cast<char>(b);
      std::optional<StoreaFrame> fast =
          ParseStoreaPickle(mutated, DecodeLimits());
      if (!fast.has_value()) continue;
      ++taken;
      StoreaFrame general;
      std::string storage;
      ASSERT_TRUE(DecodeGenerally(mutated, &general, &storage))
          << "byte " << i << " = " << b;
      ExpectSame(*fast, general);
    }
  }
  EXPECT_GT(taken, 300);  // the record's and ids' bytes may be anything
}

}  // namespace
}  // namespace zeo
