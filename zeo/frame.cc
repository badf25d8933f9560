#include "zeo/frame.h"

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace zeo {
namespace {

constexpr size_t kHeaderBytes = 4;
// Consumed bytes are dropped from the front of the buffer once they exceed
// this and half the buffer, so compaction costs O(1) amortized per byte.
constexpr size_t kCompactThreshold = 64 * 1024;

}  // namespace

std::string EncodeFrame(absl::string_view payload) {
  // ZEO has only 32 bits of length; no caller sends 4 GiB messages.
  const auto n = static_cast<uint32_t>(payload.size());
  std::string out;
  out.reserve(kHeaderBytes + payload.size());
  out.push_back(static_cast<char>(n >> 24));
  out.push_back(static_cast<char>(n >> 16));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  out.append(payload.data(), payload.size());
  return out;
}

size_t FrameReader::PeekLength() {
  const auto* p = reinterpret_cast<const uint8_t*>(buffer_.data() + consumed_);
  const size_t length = (size_t{p[0]} << 24) | (size_t{p[1]} << 16) |
                        (size_t{p[2]} << 8) | size_t{p[3]};
  if (length > max_frame_bytes_) failed_ = true;
  return length;
}

void FrameReader::Append(absl::string_view bytes) {
  if (failed_) return;
  buffer_.append(bytes.data(), bytes.size());
  if (buffered() >= kHeaderBytes && PeekLength() > max_frame_bytes_) {
    // Nothing after a refused prefix will ever be read.
    buffer_.clear();
    consumed_ = 0;
  }
}

absl::StatusOr<std::optional<std::string>> FrameReader::Next() {
  if (!failed_ && buffered() >= kHeaderBytes) PeekLength();
  if (failed_) {
    return absl::OutOfRangeError(absl::StrCat(
        "frame length exceeds the limit of ", max_frame_bytes_, " bytes"));
  }
  if (buffered() < kHeaderBytes) return std::optional<std::string>();
  const size_t length = PeekLength();
  if (buffered() - kHeaderBytes < length) return std::optional<std::string>();
  std::string payload = buffer_.substr(consumed_ + kHeaderBytes, length);
  consumed_ += kHeaderBytes + length;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  } else if (consumed_ > kCompactThreshold && consumed_ > buffer_.size() / 2) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  return std::optional<std::string>(std::move(payload));
}

}  // namespace zeo
