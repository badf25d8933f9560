#include "net/frame_reader.h"

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "net/socket_pair_for_test.h"

namespace zeoraid::net {
namespace {

using Pipe = SocketPair;

std::string Header(uint32_t n) {
  return std::string{static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                     static_cast<char>(n >> 8), static_cast<char>(n)};
}

TEST(FrameReaderTest, ReadsFramesSentInPieces) {
  Pipe p;
  SocketSource source(&p.ours);
  FrameReader reader(&source, {});
  std::string big(300000, 'b');
  std::thread writer([&] {
    std::string all = Header(3) + "abc" + Header(big.size()) + big;
    for (size_t i = 0; i < all.size(); i += 7001) {
      p.Send(all.substr(i, 7001));
    }
  });
  absl::StatusOr<Frame> one = reader.Next(absl::Seconds(5));
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->payload, "abc");
  absl::StatusOr<Frame> two = reader.Next(absl::Seconds(5));
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(two->payload, big);
  writer.join();
}

TEST(FrameReaderTest, AnnouncedLengthAllocatesNothingAndStallIsCut) {
  Pipe p;
  SocketSource source(&p.ours);
  ByteBudget budget(1 << 20);
  FrameReaderOptions options;
  options.stall_timeout = absl::Milliseconds(200);
  options.budget = &budget;
  FrameReader reader(&source, options);
  p.Send(Header(60u << 20) + "xyz");  // announces 60 MiB, sends 3 bytes
  absl::Time start = absl::Now();
  absl::StatusOr<Frame> frame = reader.Next(absl::InfiniteDuration());
  EXPECT_EQ(frame.status().code(), absl::StatusCode::kDeadlineExceeded)
      << frame.status();
  EXPECT_NE(frame.status().message().find("stalled mid-frame"),
            std::string::npos);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(budget.used(), 0u);  // nothing beyond the free allowance taken
}

TEST(FrameReaderTest, StalledHeaderIsCutToo) {
  Pipe p;
  SocketSource source(&p.ours);
  FrameReaderOptions options;
  options.stall_timeout = absl::Milliseconds(100);
  FrameReader reader(&source, options);
  p.Send(std::string(2, '\0'));
  EXPECT_EQ(reader.Next(absl::InfiniteDuration()).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST(FrameReaderTest, IdleTimeoutAndClose) {
  Pipe p;
  SocketSource source(&p.ours);
  FrameReader reader(&source, {});
  EXPECT_EQ(reader.Next(absl::Milliseconds(50)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  p.peer = Socket();  // closed between frames
  EXPECT_EQ(reader.Next(absl::Seconds(5)).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(FrameReaderTest, NextUnlessIdleTellsIdleFromStalled) {
  Pipe p;
  SocketSource source(&p.ours);
  FrameReaderOptions options;
  options.stall_timeout = absl::Milliseconds(100);
  FrameReader reader(&source, options);
  // Nothing sent: idle, no error, and the next frame still reads whole.
  absl::StatusOr<std::optional<Frame>> idle =
      reader.NextUnlessIdle(absl::Milliseconds(50));
  ASSERT_TRUE(idle.ok()) << idle.status();
  EXPECT_FALSE(idle->has_value());
  p.Send(Header(2) + "hi");
  absl::StatusOr<std::optional<Frame>> frame =
      reader.NextUnlessIdle(absl::Milliseconds(50));
  ASSERT_TRUE(frame.ok()) << frame.status();
  ASSERT_TRUE(frame->has_value());
  EXPECT_EQ((*frame)->payload, "hi");
  // Half a header, then silence: a stall (an error), not idleness.
  p.Send(std::string(2, '\0'));
  EXPECT_EQ(reader.NextUnlessIdle(absl::Seconds(5)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST(FrameReaderTest, OversizedFrameRefusedBeforeReading) {
  Pipe p;
  SocketSource source(&p.ours);
  FrameReaderOptions options;
  options.max_frame_bytes = 1000;
  FrameReader reader(&source, options);
  p.Send(Header(1001));
  EXPECT_EQ(reader.Next(absl::Seconds(5)).status().code(),
            absl::StatusCode::kOutOfRange);
}

TEST(FrameReaderTest, BudgetIsHeldUntilTheFrameIsDroppedAndBoundsOthers) {
  ByteBudget budget(512 << 10);
  FrameReaderOptions options;
  options.budget = &budget;
  options.unbudgeted_bytes = 64 << 10;
  options.stall_timeout = absl::Milliseconds(300);
  Pipe a, b;
  SocketSource source_a(&a.ours), source_b(&b.ours);
  FrameReader reader_a(&source_a, options), reader_b(&source_b, options);
  std::string payload(400 << 10, 'a');
  std::thread send_a([&] { a.Send(Header(payload.size()) + payload); });
  absl::StatusOr<Frame> frame_a = reader_a.Next(absl::Seconds(5));
  send_a.join();
  ASSERT_TRUE(frame_a.ok()) << frame_a.status();
  EXPECT_EQ(frame_a->payload, payload);
  EXPECT_GE(budget.used(), payload.size() - (64 << 10));

  // While frame_a is held, b's large frame cannot get its budget.
  std::thread send_b([&] {
    std::string all = Header(payload.size()) + payload;
    ::send(b.peer.fd(), all.data(), all.size(), MSG_NOSIGNAL);
  });
  absl::StatusOr<Frame> frame_b = reader_b.Next(absl::Seconds(5));
  ::shutdown(b.ours.fd(), SHUT_RDWR);  // unblocks the sender
  send_b.join();
  EXPECT_EQ(frame_b.status().code(), absl::StatusCode::kResourceExhausted)
      << frame_b.status();
  frame_a = absl::UnavailableError("dropped");
  EXPECT_EQ(budget.used(), 0u);
}

TEST(FrameReaderTest, FrameLargerThanBudgetFailsAtOnce) {
  ByteBudget budget(100 << 10);
  FrameReaderOptions options;
  options.budget = &budget;
  options.stall_timeout = absl::Seconds(30);
  Pipe p;
  SocketSource source(&p.ours);
  FrameReader reader(&source, options);
  std::string payload(1 << 20, 'x');
  std::thread sender([&] {
    p.Send(Header(payload.size()));
    ::send(p.peer.fd(), payload.data(), payload.size(), MSG_NOSIGNAL);
  });
  absl::Time start = absl::Now();
  EXPECT_EQ(reader.Next(absl::Seconds(5)).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ::shutdown(p.ours.fd(), SHUT_RDWR);  // unblocks the sender
  sender.join();
}

}  // namespace
}  // namespace zeoraid::net
