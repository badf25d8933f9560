#include "zeo/frame.h"

#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace zeo {
namespace {

// Takes every whole frame currently available.
std::vector<std::string> Drain(FrameReader& reader) {
  std::vector<std::string> out;
  for (;;) {
    absl::StatusOr<std::optional<std::string>> next = reader.Next();
    EXPECT_TRUE(next.ok()) << next.status();
    if (!next.ok() || !next->has_value()) return out;
    out.push_back(**next);
  }
}

TEST(FrameTest, EncodePrefixesTheBigEndianLength) {
  EXPECT_EQ(absl::BytesToHexString(EncodeFrame("Z5")), "000000025a35");
  EXPECT_EQ(absl::BytesToHexString(EncodeFrame("")), "00000000");
  const std::string big(0x010203, 'x');
  const std::string frame = EncodeFrame(big);
  EXPECT_EQ(absl::BytesToHexString(frame.substr(0, 4)), "00010203");
  EXPECT_EQ(frame.substr(4), big);
}

TEST(FrameTest, SplitsAStreamFedByteByByte) {
  const std::vector<std::string> payloads = {"Z5", "", std::string(1000, 'a'),
                                             "ruok"};
  std::string stream;
  for (const auto& p : payloads) stream += EncodeFrame(p);
  FrameReader reader(1 << 20);
  std::vector<std::string> got;
  for (char c : stream) {
    reader.Append(absl::string_view(&c, 1));
    for (auto& p : Drain(reader)) got.push_back(std::move(p));
  }
  EXPECT_EQ(got, payloads);
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(FrameTest, SplitsRandomChunksAndCompacts) {
  std::mt19937 rng(1);
  std::vector<std::string> payloads;
  std::string stream;
  for (int i = 0; i < 2000; ++i) {
    payloads.emplace_back(rng() % 300, static_cast<char>('a' + i % 26));
    stream += EncodeFrame(payloads.back());
  }
  FrameReader reader(1 << 20);
  std::vector<std::string> got;
  size_t pos = 0;
  while (pos < stream.size()) {
    const size_t n = std::min<size_t>(stream.size() - pos, rng() % 5000);
    reader.Append(absl::string_view(stream).substr(pos, n));
    pos += n;
    // Occasionally let data pile up, so consumed bytes must be compacted.
    if (rng() % 4 == 0) {
      for (auto& p : Drain(reader)) got.push_back(std::move(p));
    }
    // Never more than the not-yet-consumed bytes are retained.
    EXPECT_LE(reader.buffered(), stream.size() - got.size());
  }
  for (auto& p : Drain(reader)) got.push_back(std::move(p));
  EXPECT_EQ(got, payloads);
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(FrameTest, PartialFrameWaits) {
  FrameReader reader(100);
  reader.Append(
      std::string("\x00\x00\x00\x05"
                  "abc",
                  7));
  absl::StatusOr<std::optional<std::string>> next = reader.Next();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());
  EXPECT_EQ(reader.buffered(), 7u);
  reader.Append("de");
  next = reader.Next();
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(next->has_value());
  EXPECT_EQ(**next, "abcde");
}

TEST(FrameTest, OversizedLengthFailsBeforeThePayloadArrives) {
  FrameReader reader(100);
  reader.Append(std::string("\x00\x00\x00\x65", 4));  // 101 bytes announced
  absl::StatusOr<std::optional<std::string>> next = reader.Next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), absl::StatusCode::kOutOfRange);
  // The reader stays failed and buffers nothing more.
  reader.Append(std::string(1000, 'x'));
  EXPECT_EQ(reader.buffered(), 0u);
  EXPECT_FALSE(reader.Next().ok());
}

TEST(FrameTest, OversizedLengthAfterGoodFrames) {
  FrameReader reader(10);
  std::string stream = EncodeFrame("ok") + std::string("\xff\xff\xff\xff", 4);
  reader.Append(stream);
  absl::StatusOr<std::optional<std::string>> next = reader.Next();
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(next->has_value());
  EXPECT_EQ(**next, "ok");
  EXPECT_FALSE(reader.Next().ok());
}

TEST(FrameTest, ExactLimitIsAccepted) {
  FrameReader reader(3);
  reader.Append(EncodeFrame("abc"));
  absl::StatusOr<std::optional<std::string>> next = reader.Next();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(**next, "abc");
}

}  // namespace
}  // namespace zeo
