#include "net/frame_reader.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace zeoraid::net {
namespace {

absl::Time After(absl::Duration timeout) {
  return timeout == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                             : absl::Now() + timeout;
}

}  // namespace

absl::StatusOr<size_t> SocketSource::Read(char* out, size_t n,
                                          absl::Time deadline) {
  // Bytes already there are taken without a poll first: a busy connection's
  // reads cost one system call each.
  bool wait = false;
  while (true) {
    if (wait) {
      struct pollfd pfd = {socket_->fd(), POLLIN, 0};
      int ready = ::poll(&pfd, 1, PollTimeoutMs(deadline));
      if (ready == 0) return absl::DeadlineExceededError("read timed out");
      if (ready < 0 && errno != EINTR) {
        return absl::InternalError(
            absl::StrCat("poll: ", std::strerror(errno)));
      }
    }
    ssize_t r = ::recv(socket_->fd(), out, n, MSG_DONTWAIT);
    if (r > 0) return static_cast<size_t>(r);
    if (r == 0) return absl::UnavailableError("connection closed by peer");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait = true;
      continue;
    }
    return absl::UnavailableError(absl::StrCat("recv: ", std::strerror(errno)));
  }
}

bool SocketSource::HasPendingInput() { return net::HasPendingInput(*socket_); }

absl::Status FrameReader::ReadExactly(char* out, size_t n,
                                      absl::Time first_deadline) {
  absl::Time deadline = first_deadline;
  size_t got = 0;
  while (got < n) {
    absl::StatusOr<size_t> r = source_->Read(out + got, n - got, deadline);
    if (!r.ok()) return r.status();
    got += *r;
    deadline = After(options_.stall_timeout);
  }
  return absl::OkStatus();
}

absl::StatusOr<Frame> FrameReader::Next(absl::Duration idle_timeout) {
  unsigned char prefix[4];
  // The first byte may take as long as the caller allows; the rest of the
  // header is part of the frame.
  absl::StatusOr<size_t> first =
      source_->Read(reinterpret_cast<char*>(prefix), 1, After(idle_timeout));
  if (!first.ok()) return first.status();
  absl::Status st = ReadExactly(reinterpret_cast<char*>(prefix) + 1, 3,
                                After(options_.stall_timeout));
  if (!st.ok()) return Stalled(st, 4, 1);
  const size_t size = (size_t{prefix[0]} << 24) | (size_t{prefix[1]} << 16) |
                      (size_t{prefix[2]} << 8) | size_t{prefix[3]};
  if (size > options_.max_frame_bytes) {
    return absl::OutOfRangeError(absl::StrCat("frame of ", size,
                                              " bytes exceeds the limit of ",
                                              options_.max_frame_bytes));
  }
  Frame frame;
  std::string& payload = frame.payload;
  payload.reserve(std::min(size, options_.unbudgeted_bytes));
  size_t got = 0;
  absl::Time deadline = After(options_.stall_timeout);
  while (got < size) {
    if (got == payload.capacity()) {
      // Grow geometrically, never past the announced size, and pay for what
      // lies beyond the free allowance before allocating it.
      const size_t want = std::min(
          size, std::max(payload.capacity() * 2, options_.unbudgeted_bytes));
      const size_t charged = want > options_.unbudgeted_bytes
                                 ? want - options_.unbudgeted_bytes
                                 : 0;
      if (options_.budget != nullptr && charged > frame.hold.bytes()) {
        const size_t more = charged - frame.hold.bytes();
        if (!options_.budget->Acquire(more, After(options_.stall_timeout))) {
          return absl::ResourceExhaustedError(
              absl::StrCat("buffer budget of ", options_.budget->limit(),
                           " bytes exhausted (frame of ", size, " bytes, ", got,
                           " received)"));
        }
        frame.hold.Add(options_.budget, more);
      }
      payload.reserve(want);
    }
    const size_t room = std::min(payload.capacity(), size) - got;
    payload.resize(got + room);
    absl::StatusOr<size_t> r =
        source_->Read(payload.data() + got, room, deadline);
    if (!r.ok()) {
      payload.resize(got);
      return Stalled(r.status(), size, got);
    }
    got += *r;
    payload.resize(got);
    deadline = After(options_.stall_timeout);
  }
  return frame;
}

absl::Status FrameReader::Stalled(const absl::Status& status, size_t size,
                                  size_t got) const {
  if (status.code() == absl::StatusCode::kDeadlineExceeded) {
    return absl::DeadlineExceededError(
        absl::StrCat("peer stalled mid-frame for ",
                     absl::FormatDuration(options_.stall_timeout), " (", got,
                     " of ", size, " bytes received)"));
  }
  if (status.code() == absl::StatusCode::kUnavailable) {
    return absl::UnavailableError(absl::StrCat("connection closed mid-frame (",
                                               got, " of ", size,
                                               " bytes received)"));
  }
  return status;
}

}  // namespace zeoraid::net
