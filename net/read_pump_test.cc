#include "net/read_pump.h"

#include <sys/socket.h>

#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "net/socket_pair_for_test.h"

namespace zeoraid::net {
namespace {

using Pipe = SocketPair;

TEST(ReadPumpTest, ReadsAheadBoundedAndPassesTheEndOn) {
  Pipe p;
  ReadPump pump(std::make_unique<SocketSource>(&p.ours), 1000,
                [&] { p.ours.Shutdown(); });
  std::string data(5000, 'q');
  ASSERT_EQ(::send(p.peer.fd(), data.data(), data.size(), 0), 5000);
  // The pump reads without anyone asking, but no more than its bound.
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!pump.HasPendingInput() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  absl::SleepFor(absl::Milliseconds(50));
  char buf[8192];
  absl::StatusOr<size_t> n = pump.Read(buf, sizeof(buf), deadline);
  ASSERT_TRUE(n.ok());
  EXPECT_LE(*n, 1000u);
  std::string got(buf, *n);
  p.peer = Socket();  // the peer closes
  while (true) {
    n = pump.Read(buf, sizeof(buf), absl::Now() + absl::Seconds(5));
    if (!n.ok()) break;
    got.append(buf, *n);
  }
  EXPECT_EQ(n.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(got, data);  // everything, in order, before the end
}

TEST(ReadPumpTest, ReadTimesOutAndDestructionUnblocksThePump) {
  Pipe p;
  auto pump =
      std::make_unique<ReadPump>(std::make_unique<SocketSource>(&p.ours), 1000,
                                 [&] { p.ours.Shutdown(); });
  char buf[10];
  EXPECT_EQ(pump->Read(buf, sizeof(buf), absl::Now() + absl::Milliseconds(50))
                .status()
                .code(),
            absl::StatusCode::kDeadlineExceeded);
  pump.reset();  // must not hang on the blocked read
}

}  // namespace
}  // namespace zeoraid::net
