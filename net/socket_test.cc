#include "net/socket.h"

#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace zeoraid::net {
namespace {

struct Pair {
  Socket client;
  Socket server;
};

Pair Connected(const std::string& address = "127.0.0.1:0") {
  absl::StatusOr<Socket> listener = Listen(address);
  EXPECT_TRUE(listener.ok()) << listener.status();
  std::string target = address;
  if (!IsUnixPath(address)) {
    target = absl::StrCat("127.0.0.1:", *LocalPort(*listener));
  }
  absl::StatusOr<Socket> client = Connect(target, absl::Seconds(5));
  EXPECT_TRUE(client.ok()) << client.status();
  absl::StatusOr<Socket> server = Accept(*listener, absl::Seconds(5));
  EXPECT_TRUE(server.ok()) << server.status();
  return Pair{std::move(*client), std::move(*server)};
}

TEST(SocketTest, FramesRoundTrip) {
  Pair p = Connected();
  ASSERT_TRUE(WriteFrame(p.client, "hello").ok());
  ASSERT_TRUE(WriteFrame(p.client, std::string(100000, 'x')).ok());
  EXPECT_EQ(*ReadFrame(p.server, 1 << 20, absl::Seconds(5)), "hello");
  EXPECT_EQ(ReadFrame(p.server, 1 << 20, absl::Seconds(5))->size(), 100000u);
}

TEST(SocketTest, HasPendingInputSeesTheNextFrame) {
  Pair p = Connected();
  EXPECT_FALSE(HasPendingInput(p.server));
  ASSERT_TRUE(WriteFrame(p.client, "one").ok());
  ASSERT_TRUE(WriteFrame(p.client, "two").ok());
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!HasPendingInput(p.server) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_TRUE(HasPendingInput(p.server));
  EXPECT_EQ(*ReadFrame(p.server, 64, absl::Seconds(5)), "one");
  EXPECT_TRUE(HasPendingInput(p.server));  // "two" is waiting
  EXPECT_EQ(*ReadFrame(p.server, 64, absl::Seconds(5)), "two");
  EXPECT_FALSE(HasPendingInput(p.server));
}

TEST(SocketTest, UnixSocketsWork) {
  // Bazel's test directory is too deep for a socket path (108 bytes at most).
  std::string path =
      absl::StrCat("/tmp/zeoraid-socket-test-", getpid(), ".sock");
  Pair p = Connected(path);
  ASSERT_TRUE(WriteFrame(p.server, "Z5").ok());
  EXPECT_EQ(*ReadFrame(p.client, 64, absl::Seconds(5)), "Z5");
  unlink(path.c_str());
}

TEST(SocketTest, OversizedFrameIsRefusedBeforeReadingIt) {
  Pair p = Connected();
  ASSERT_TRUE(WriteFrame(p.client, std::string(1000, 'x')).ok());
  absl::StatusOr<std::string> frame =
      ReadFrame(p.server, 999, absl::Seconds(5));
  EXPECT_EQ(frame.status().code(), absl::StatusCode::kOutOfRange);
}

TEST(SocketTest, ReadTimesOutAndSeesClosedPeer) {
  Pair p = Connected();
  EXPECT_EQ(ReadFrame(p.server, 64, absl::Milliseconds(50)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  p.client = Socket();  // closes
  EXPECT_EQ(ReadFrame(p.server, 64, absl::Seconds(5)).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(SocketTest, WriteToAPeerThatStoppedReadingTimesOut) {
  Pair p = Connected();
  int small = 4096;
  setsockopt(p.server.fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  setsockopt(p.client.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  absl::Time start = absl::Now();
  absl::Status st;
  for (int i = 0; i < 10000 && st.ok(); ++i) {
    st = WriteFrame(p.server, std::string(65536, 'x'), absl::Milliseconds(200));
  }
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded) << st;
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(SocketTest, ConnectFailsClearly) {
  absl::StatusOr<Socket> listener = Listen("127.0.0.1:0");
  int port = *LocalPort(*listener);
  listener = Socket();  // nobody listens there any more
  absl::StatusOr<Socket> s =
      Connect(absl::StrCat("127.0.0.1:", port), absl::Seconds(2));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable) << s.status();
  EXPECT_EQ(Connect("no-port", absl::Seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace zeoraid::net
