#include "net/frame_reader.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace zeoraid::net {

absl::StatusOr<size_t> SocketSource::Read(char* out, size_t n,
                                          absl::Time deadline) {
  absl::StatusOr<size_t> r = ReadSome(*socket_, out, n, deadline);
  // Any failure of the socket itself ends the stream for the reader.
  if (!r.ok() && !absl::IsDeadlineExceeded(r.status()) &&
      !absl::IsUnavailable(r.status())) {
    return absl::UnavailableError(r.status().message());
  }
  return r;
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
    deadline = DeadlineAfter(options_.stall_timeout);
  }
  return absl::OkStatus();
}

absl::StatusOr<Frame> FrameReader::Next(absl::Duration idle_timeout) {
  bool idle = false;
  return NextFrame(idle_timeout, &idle);
}

absl::StatusOr<std::optional<Frame>> FrameReader::NextUnlessIdle(
    absl::Duration idle_timeout) {
  bool idle = false;
  absl::StatusOr<Frame> frame = NextFrame(idle_timeout, &idle);
  if (frame.ok()) return std::optional<Frame>(std::move(*frame));
  if (idle) return std::optional<Frame>();
  return frame.status();
}

absl::StatusOr<Frame> FrameReader::NextFrame(absl::Duration idle_timeout,
                                             bool* idle) {
  unsigned char prefix[4];
  // The first byte may take as long as the caller allows; the rest of the
  // header is part of the frame.
  absl::StatusOr<size_t> first = source_->Read(reinterpret_cast<char*>(prefix),
                                               1, DeadlineAfter(idle_timeout));
  if (!first.ok()) {
    *idle = absl::IsDeadlineExceeded(first.status());
    return first.status();
  }
  absl::Status st = ReadExactly(reinterpret_cast<char*>(prefix) + 1, 3,
                                DeadlineAfter(options_.stall_timeout));
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
  absl::Time deadline = DeadlineAfter(options_.stall_timeout);
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
        if (!options_.budget->Acquire(more,
                                      DeadlineAfter(options_.stall_timeout))) {
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
    deadline = DeadlineAfter(options_.stall_timeout);
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
