// ZEO sized-message framing: a 4-byte big-endian length, then that many payload
// bytes.
#ifndef ZEORAID_ZEO_FRAME_H_
#define ZEORAID_ZEO_FRAME_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace zeo {

// Length prefix + payload.
std::string EncodeFrame(absl::string_view payload);

// Incremental splitter for a byte stream: feed what the socket gave, take whole
// frames.
class FrameReader {
 public:
  explicit FrameReader(size_t max_frame_bytes)
      : max_frame_bytes_(max_frame_bytes) {}

  // Buffers `bytes`. Once an oversized length prefix is visible the reader
  // fails and stops buffering, so a hostile peer cannot make it hold more than
  // one frame's worth of data.
  void Append(absl::string_view bytes);
  // The next whole payload, nullopt when more bytes are needed, or an error
  // (OutOfRange) when a length prefix exceeds max_frame_bytes; after an error
  // the stream is unusable and the connection should be closed.
  absl::StatusOr<std::optional<std::string>> Next();
  size_t buffered() const { return buffer_.size() - consumed_; }

 private:
  // Reads the length prefix at consumed_ (at least 4 bytes must be buffered)
  // and records a sticky error when it exceeds max_frame_bytes_.
  size_t PeekLength();

  size_t max_frame_bytes_;
  std::string buffer_;
  size_t consumed_ = 0;
  // Set once a length prefix is refused; the stream cannot be resynchronized.
  bool failed_ = false;
};

}  // namespace zeo

#endif  // ZEORAID_ZEO_FRAME_H_
