// Blocking stream sockets with deadlines: TCP ("host:port") and Unix-domain
// ("/path") endpoints, length-prefixed frame I/O. No protocol knowledge beyond
// ZEO's 4-byte big-endian frame length.
#ifndef ZEORAID_NET_SOCKET_H_
#define ZEORAID_NET_SOCKET_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace zeoraid::net {

// An owned file descriptor; closes on destruction.
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket();
  Socket(Socket&& other) noexcept : fd_(other.release()) {}
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Wakes any thread blocked reading or writing this socket (it sees EOF/an
  // error); safe to call from another thread while the socket is in use.
  void Shutdown();

 private:
  int fd_ = -1;
};

// ZEO's frame prefix: the payload's length, 4 bytes big-endian.
std::array<char, 4> EncodeFrameLength(uint32_t n);
// poll()'s timeout in milliseconds until `deadline` (-1: InfiniteFuture).
int PollTimeoutMs(absl::Time deadline);
// `timeout` from now; InfiniteDuration gives InfiniteFuture.
absl::Time DeadlineAfter(absl::Duration timeout);

// Reads between 1 and `n` bytes, waiting until `deadline` for the first (bytes
// already there cost no poll). Unavailable when the peer closed the stream,
// DeadlineExceeded at the deadline.
absl::StatusOr<size_t> ReadSome(const Socket& socket, char* out, size_t n,
                                absl::Time deadline);
// Sends what the socket takes now of `a` then `b`, never waiting: the bytes
// sent, 0 when its buffer is full.
absl::StatusOr<size_t> SendNow(int fd, absl::string_view a,
                               absl::string_view b);

// "host:port" (IPv4, IPv6 in brackets, or a name) or a path containing '/'.
bool IsUnixPath(absl::string_view address);

absl::StatusOr<Socket> Connect(absl::string_view address,
                               absl::Duration timeout);
// Binds and listens; for TCP, port 0 picks a free port (see LocalPort).
absl::StatusOr<Socket> Listen(absl::string_view address);
absl::StatusOr<int> LocalPort(const Socket& socket);
// The peer as "host:port" (for logs); "unix" for a Unix-domain peer.
std::string PeerAddress(const Socket& socket);
// Waits up to `timeout` for a connection; returns DeadlineExceeded on timeout,
// so that accept loops can check for shutdown.
absl::StatusOr<Socket> Accept(const Socket& listener, absl::Duration timeout);

// Reads one frame payload. InfiniteDuration waits forever. Errors: Unavailable
// for a closed peer, DeadlineExceeded, OutOfRange for a length above
// max_frame_bytes.
absl::StatusOr<std::string> ReadFrame(const Socket& socket,
                                      size_t max_frame_bytes,
                                      absl::Duration timeout);
// Whether bytes from the peer (e.g. the client's next call) are waiting to be
// read right now; never blocks.
bool HasPendingInput(const Socket& socket);

// Writes `a` then `b`, within `timeout` for the whole: a peer that stops
// reading gets DeadlineExceeded, after which the stream is unusable (part of
// the bytes may be out). One sendmsg when the socket's buffer takes them.
absl::Status WriteAll(const Socket& socket, absl::string_view a,
                      absl::string_view b,
                      absl::Duration timeout = absl::InfiniteDuration());
// Appends `payload` as one frame (its length prefix, then the bytes), ready
// for WriteAll with other frames.
void AppendFrame(std::string* out, absl::string_view payload);

// Writes the length prefix and the payload, within `timeout` for the whole
// frame: a peer that stops reading (or drains too slowly) gets
// DeadlineExceeded, after which the stream is unusable (part of the frame may
// be out).
absl::Status WriteFrame(const Socket& socket, absl::string_view payload,
                        absl::Duration timeout = absl::InfiniteDuration());

}  // namespace zeoraid::net

#endif  // ZEORAID_NET_SOCKET_H_
