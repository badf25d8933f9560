// FrameReader: ZEO's length-prefixed frames read from an untrusted peer.
// Memory is committed as the bytes arrive, never when a length is announced;
// beyond a small allowance per frame it comes out of a budget shared by all
// connections; and a peer that stops sending in the middle of a frame is cut
// after a stall timeout. Between frames a peer may stay silent for as long as
// the caller allows (ZEO clients idle for hours).
#ifndef ZEORAID_NET_FRAME_READER_H_
#define ZEORAID_NET_FRAME_READER_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "net/byte_budget.h"
#include "net/socket.h"

namespace zeoraid::net {

// Bytes read with a deadline: a plain socket, or TLS over one.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads between 1 and `n` bytes, waiting until `deadline` for the first.
  // Unavailable when the peer closed the stream, DeadlineExceeded at the
  // deadline.
  virtual absl::StatusOr<size_t> Read(char* out, size_t n,
                                      absl::Time deadline) = 0;
  // Whether a Read would return at once (bytes are waiting); never blocks.
  virtual bool HasPendingInput() = 0;
};

class SocketSource final : public ByteSource {
 public:
  explicit SocketSource(const Socket* socket) : socket_(socket) {}
  absl::StatusOr<size_t> Read(char* out, size_t n,
                              absl::Time deadline) override;
  bool HasPendingInput() override;

 private:
  const Socket* const socket_;
};

struct FrameReaderOptions {
  // Larger announced frames are refused (OutOfRange) before any byte is read.
  size_t max_frame_bytes = 64u << 20;
  // The first bytes of each frame are not charged to the budget, so that the
  // small frames that make up nearly all traffic never wait for it.
  size_t unbudgeted_bytes = 64u << 10;
  // Once a frame has begun: the longest the peer may go without sending more
  // of it (and the longest a frame waits for budget).
  absl::Duration stall_timeout = absl::Seconds(60);
  // Shared by every connection; null: no shared bound (only max_frame_bytes).
  ByteBudget* budget = nullptr;
};

// One frame's payload, and the budget it holds until destroyed: a caller
// keeps the Frame while it works on the payload, so that the bound covers the
// bytes being processed, not only those being received.
struct Frame {
  std::string payload;
  BudgetHold hold;
};

class FrameReader {
 public:
  FrameReader(ByteSource* source, FrameReaderOptions options)
      : source_(source), options_(options) {}

  // The next frame. Waits up to `idle_timeout` (InfiniteDuration: forever)
  // for its first byte. Errors: Unavailable when the peer closed the stream
  // (between frames or inside one), DeadlineExceeded when it stayed idle or
  // stalled mid-frame, OutOfRange for an announced length above the limit,
  // ResourceExhausted when the shared budget stayed exhausted for the stall
  // timeout. After an error the stream is out of step: close it.
  absl::StatusOr<Frame> Next(absl::Duration idle_timeout);

  // As Next, but a peer that sends nothing for `idle_timeout` is no error:
  // nullopt, and the stream is still in step (nothing of a frame was read).
  absl::StatusOr<std::optional<Frame>> NextUnlessIdle(
      absl::Duration idle_timeout);

 private:
  // Next; `*idle` tells whether a DeadlineExceeded came before the first byte.
  absl::StatusOr<Frame> NextFrame(absl::Duration idle_timeout, bool* idle);
  // Reads exactly `n` bytes; the deadline moves on with every byte received.
  absl::Status ReadExactly(char* out, size_t n, absl::Time first_deadline);
  // Names what happened to a frame cut short after `got` of `size` bytes.
  absl::Status Stalled(const absl::Status& status, size_t size,
                       size_t got) const;

  ByteSource* const source_;
  const FrameReaderOptions options_;
};

}  // namespace zeoraid::net

#endif  // ZEORAID_NET_FRAME_READER_H_
