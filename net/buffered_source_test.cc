#include "net/buffered_source.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "net/frame_reader.h"
#include "net/socket_pair_for_test.h"

namespace zeoraid::net {
namespace {

// A socket's bytes, counting the reads made of it (each a system call).
class CountingSource final : public ByteSource {
 public:
  explicit CountingSource(const Socket* socket) : inner_(socket) {}
  absl::StatusOr<size_t> Read(char* out, size_t n,
                              absl::Time deadline) override {
    ++reads;
    largest_read = std::max(largest_read, n);
    return inner_.Read(out, n, deadline);
  }
  bool HasPendingInput() override { return inner_.HasPendingInput(); }
  int reads = 0;
  size_t largest_read = 0;

 private:
  SocketSource inner_;
};

// A FrameReader over a BufferedSource over a socket pair, counting the
// socket's reads.
struct CountedReader {
  SocketPair p;
  CountingSource* inner = new CountingSource(&p.ours);  // owned by `source`
  BufferedSource source{std::unique_ptr<ByteSource>(inner)};
  FrameReader reader{&source, {}};
};

std::string Framed(const std::string& payload) {
  std::string out;
  AppendFrame(&out, payload);
  return out;
}

// A client streaming a transaction's small stores: read in chunks, not three
// reads a frame.
TEST(BufferedSourceTest, ManySmallFramesTakeFewReads) {
  CountedReader r;
  SocketPair& p = r.p;
  BufferedSource& source = r.source;
  FrameReader& reader = r.reader;
  std::string all;
  for (int i = 0; i < 1000; ++i) all += Framed(absl::StrCat("store ", i));
  p.Send(all);  // 14 KB: fits the socket's buffer at once
  for (int i = 0; i < 1000; ++i) {
    absl::StatusOr<Frame> frame = reader.Next(absl::Seconds(5));
    ASSERT_TRUE(frame.ok()) << frame.status();
    ASSERT_EQ(frame->payload, absl::StrCat("store ", i));
  }
  EXPECT_LE(r.inner->reads, 4) << "of the socket for 1,000 frames";
  // Drained: nothing held, nothing pending.
  EXPECT_EQ(source.buffered(), 0u);
  EXPECT_FALSE(source.HasPendingInput());
}

// Bytes in the buffer count as pending input (the session pipelines a load
// when the client's next call is already there).
TEST(BufferedSourceTest, BufferedBytesArePendingInput) {
  SocketPair p;
  BufferedSource source(std::make_unique<SocketSource>(&p.ours));
  FrameReader reader(&source, {});
  p.Send(Framed("one") + Framed("two"));
  absl::StatusOr<Frame> one = reader.Next(absl::Seconds(5));
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->payload, "one");
  EXPECT_GT(source.buffered(), 0u);
  EXPECT_TRUE(source.HasPendingInput());
  absl::StatusOr<Frame> two = reader.Next(absl::Seconds(5));
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_EQ(two->payload, "two");
  EXPECT_FALSE(source.HasPendingInput());
}

// A big payload is read straight from the socket; a peer that closes after
// its frames is seen once they are all read; an idle wait is no error.
TEST(BufferedSourceTest, BigFramesIdleAndEnd) {
  CountedReader r;
  SocketPair& p = r.p;
  BufferedSource& source = r.source;
  FrameReader& reader = r.reader;
  absl::StatusOr<std::optional<Frame>> idle =
      reader.NextUnlessIdle(absl::Milliseconds(50));
  ASSERT_TRUE(idle.ok()) << idle.status();
  EXPECT_FALSE(idle->has_value());
  const std::string big(200000, 'b');
  std::thread writer([&] {
    p.Send(Framed("small") + Framed(big));
    p.peer = Socket();  // closes
  });
  absl::StatusOr<Frame> small = reader.Next(absl::Seconds(5));
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->payload, "small");
  absl::StatusOr<Frame> frame = reader.Next(absl::Seconds(5));
  ASSERT_TRUE(frame.ok()) << frame.status();
  EXPECT_EQ(frame->payload, big);
  EXPECT_GT(r.inner->largest_read, BufferedSource::kChunkBytes);
  writer.join();
  absl::StatusOr<Frame> end = reader.Next(absl::Seconds(5));
  EXPECT_EQ(end.status().code(), absl::StatusCode::kUnavailable)
      << end.status();
  EXPECT_EQ(source.buffered(), 0u);
}

}  // namespace
}  // namespace zeoraid::net
