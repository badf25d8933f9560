#include "net/write_queue.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "net/frame_reader.h"
#include "net/socket_pair_for_test.h"

namespace zeoraid::net {
namespace {

using Pipe = SocketPair;

TEST(WriteQueueTest, SendsAtOnceWhenThePeerReads) {
  OutputFlusher flusher;
  Pipe p;
  WriteQueue queue(p.ours.fd(), {}, &flusher, nullptr);
  ASSERT_TRUE(queue.WriteFrame("hello").ok());
  EXPECT_EQ(queue.queued(), 0u);
  SocketSource source(&p.peer);
  FrameReader reader(&source, {});
  EXPECT_EQ(reader.Next(absl::Seconds(5))->payload, "hello");
}

TEST(WriteQueueTest, NeverBlocksAndASlowPeerGetsEverythingInOrder) {
  OutputFlusher flusher;
  Pipe p;
  WriteQueue queue(p.ours.fd(), {/*max_bytes=*/64 << 20, absl::Seconds(10)},
                   &flusher, nullptr);
  const int kFrames = 200;
  absl::Time start = absl::Now();
  for (int i = 0; i < kFrames; ++i) {
    ASSERT_TRUE(queue.WriteFrame(std::string(50000, 'a' + i % 26)).ok());
  }
  // 10 MB into a socket nobody reads yet: queued, not blocked.
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_GT(queue.queued(), 0u);
  SocketSource source(&p.peer);
  FrameReader reader(&source, {});
  for (int i = 0; i < kFrames; ++i) {
    absl::StatusOr<Frame> frame = reader.Next(absl::Seconds(10));
    ASSERT_TRUE(frame.ok()) << i << ": " << frame.status();
    ASSERT_EQ(frame->payload, std::string(50000, 'a' + i % 26)) << i;
    if (i % 50 == 0) absl::SleepFor(absl::Milliseconds(20));  // slow reader
  }
  EXPECT_TRUE(queue.Drain(absl::Now() + absl::Seconds(5)).ok());
}

TEST(WriteQueueTest, APeerThatStopsReadingFailsTheQueueAfterTheStallTimeout) {
  OutputFlusher flusher;
  Pipe p;
  std::atomic<int> failures{0};
  absl::StatusCode code = absl::StatusCode::kOk;
  WriteQueue queue(p.ours.fd(), {64 << 20, absl::Milliseconds(300)}, &flusher,
                   [&](const absl::Status& why) {
                     code = why.code();
                     failures++;
                   });
  absl::Time start = absl::Now();
  while (queue.queued() == 0)
    ASSERT_TRUE(queue.Write(std::string(65536, 'x')).ok());
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (failures == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(failures, 1);
  EXPECT_EQ(code, absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_FALSE(queue.Write("more").ok());
}

TEST(WriteQueueTest, OverflowFailsTheWrite) {
  OutputFlusher flusher;
  Pipe p;
  WriteQueue queue(p.ours.fd(), {1 << 20, absl::Seconds(30)}, &flusher,
                   nullptr);
  absl::Status st;
  for (int i = 0; i < 1000 && st.ok(); ++i) {
    st = queue.Write(std::string(65536, 'x'));
  }
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  EXPECT_LE(queue.queued(), size_t{1} << 20);
}

TEST(WriteQueueTest, WaitBelowWaitsForThePeer) {
  OutputFlusher flusher;
  Pipe p;
  WriteQueue queue(p.ours.fd(), {}, &flusher, nullptr);
  while (queue.queued() == 0)
    ASSERT_TRUE(queue.Write(std::string(65536, 'x')).ok());
  EXPECT_EQ(queue.WaitBelow(0, absl::Now() + absl::Milliseconds(100)).code(),
            absl::StatusCode::kDeadlineExceeded);
  std::thread reader([&] {
    char buf[65536];
    while (::recv(p.peer.fd(), buf, sizeof(buf), 0) > 0) {
    }
  });
  EXPECT_TRUE(queue.Drain(absl::Now() + absl::Seconds(5)).ok());
  queue.Close();
  ::shutdown(p.ours.fd(), SHUT_RDWR);
  reader.join();
}

TEST(WriteQueueTest, ClosingWithBytesWaitingIsSafe) {
  OutputFlusher flusher;
  for (int i = 0; i < 50; ++i) {
    Pipe p;
    auto queue = std::make_unique<WriteQueue>(p.ours.fd(), WriteQueueOptions{},
                                              &flusher, nullptr);
    while (queue->queued() == 0) {
      ASSERT_TRUE(queue->Write(std::string(65536, 'x')).ok());
    }
    queue.reset();  // forgets it while the flusher may be polling its fd
  }
}

}  // namespace
}  // namespace zeoraid::net
