// BufferedSource: a ByteSource that reads its inner source a chunk at a time
// and serves small reads from memory.
//
// FrameReader asks for a frame's prefix and then its payload: three reads for
// a frame, each a system call on a plain socket. A client that streams a
// transaction's stores sends a thousand small frames; read a chunk at a time,
// they cost a few system calls instead of three thousand. A chunk is read
// into the stack; the heap holds only what a read brought beyond what its
// caller took, until it is taken: a connection with nothing pending holds no
// memory for it (a translator keeps thousands of idle connections).
#ifndef ZEORAID_NET_BUFFERED_SOURCE_H_
#define ZEORAID_NET_BUFFERED_SOURCE_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "net/frame_reader.h"

namespace zeoraid::net {

class BufferedSource final : public ByteSource {
 public:
  static constexpr size_t kChunkBytes = 16 << 10;

  explicit BufferedSource(std::unique_ptr<ByteSource> inner)
      : inner_(std::move(inner)) {}

  // ByteSource: buffered bytes first; with none, one read of the inner source
  // (straight into `out` when it asks for a chunk or more).
  absl::StatusOr<size_t> Read(char* out, size_t n,
                              absl::Time deadline) override;
  // Bytes in the buffer, or waiting in the inner source.
  bool HasPendingInput() override;

  // Bytes read from the inner source and not yet handed out.
  size_t buffered() const { return buffer_.size() - taken_; }

 private:
  const std::unique_ptr<ByteSource> inner_;
  // buffer_[taken_…] is what is left of the last chunk read; empty (and
  // freed) once all of it was handed out. One reader: no lock.
  std::string buffer_;
  size_t taken_ = 0;
};

}  // namespace zeoraid::net

#endif  // ZEORAID_NET_BUFFERED_SOURCE_H_
