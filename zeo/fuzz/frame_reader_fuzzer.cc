// libFuzzer target for zeo::FrameReader. The input is a byte stream (the seed
// corpus holds recorded connections: frames concatenated); it is fed to the
// reader in chunks whose sizes are derived from the input, draining Next()
// after every chunk until it returns nullopt or an error. The frames must be
// exactly those a direct parse of the stream finds, the error must come
// exactly at the first length prefix above the limit and stay, and the reader
// must never hold more than one frame's worth of unread bytes.
//
// The last input byte (also part of the stream) selects the mode:
//   bits 0-1  chunking: 0 whole input, 1 single bytes, 2 1 + the byte at the
//             chunk start (1..256), 3 1 + the big-endian 16 bits there
//   bit 2     max frame size: 1 MiB, or 64 bytes (so refusals happen with
//             much data buffered)
//   bits 3-4  3: the stream starts with a frame of 64 KiB (of max frame size,
//             if smaller), appended together with the first chunk of the
//             input, so that taking it crosses the reader's 64 KiB compaction
//             threshold with bytes left over; otherwise the input alone
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "zeo/frame.h"
#include "zeo/fuzz/fuzz_util.h"

namespace zeo {
namespace fuzz {
namespace {

constexpr size_t kHeaderBytes = 4;

struct Parse {
  std::vector<absl::string_view> frames;   // payloads
  std::vector<absl::string_view> encoded;  // the same frames with prefixes
  size_t end = 0;                          // offset after the last whole frame
  bool refused = false;  // a prefix above the limit follows the last frame
};

// The reference: ZEO framing read straight off the whole stream.
Parse ParseStream(absl::string_view stream, size_t max_frame_bytes) {
  Parse parse;
  size_t pos = 0;
  while (stream.size() - pos >= kHeaderBytes) {
    const auto* p = reinterpret_cast<const uint8_t*>(stream.data() + pos);
    const size_t length = (size_t{p[0]} << 24) | (size_t{p[1]} << 16) |
                          (size_t{p[2]} << 8) | size_t{p[3]};
    if (length > max_frame_bytes) {
      parse.refused = true;
      break;
    }
    if (stream.size() - pos - kHeaderBytes < length) break;
    parse.frames.push_back(stream.substr(pos + kHeaderBytes, length));
    parse.encoded.push_back(stream.substr(pos, kHeaderBytes + length));
    pos += kHeaderBytes + length;
  }
  parse.end = pos;
  return parse;
}

}  // namespace
}  // namespace fuzz
}  // namespace zeo

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fz = zeo::fuzz;
  if (size == 0) return 0;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const uint8_t mode = data[size - 1];
  const size_t max_frame_bytes = (mode & 4) != 0 ? 64 : size_t{1} << 20;
  std::string stream;
  size_t pad_bytes = 0;  // the leading big frame, if any
  if (((mode >> 3) & 3) == 3) {
    stream = zeo::EncodeFrame(
        std::string(std::min<size_t>(64 * 1024, max_frame_bytes), '\xff'));
    pad_bytes = stream.size();
  }
  stream.append(input.data(), input.size());

  const fz::Parse expected = fz::ParseStream(stream, max_frame_bytes);
  zeo::FrameReader reader(max_frame_bytes);
  size_t frames = 0;  // returned so far
  bool refused = false;

  // Takes every whole frame out of the reader.
  auto drain = [&]() {
    if (refused) {
      absl::StatusOr<std::optional<std::string>> next = reader.Next();
      if (next.ok()) fz::Fail("FrameReader recovered after an error");
      return;
    }
    for (;;) {
      absl::StatusOr<std::optional<std::string>> next = reader.Next();
      if (!next.ok()) {
        if (next.status().code() != absl::StatusCode::kOutOfRange) {
          fz::Fail("FrameReader error is not OutOfRange",
                   next.status().ToString());
        }
        if (!expected.refused || frames != expected.frames.size()) {
          fz::Fail("FrameReader refused a stream it should not have",
                   "stream " + fz::Hex(stream) + "\nafter frame " +
                       std::to_string(frames));
        }
        refused = true;
        return;
      }
      if (!next->has_value()) break;
      if (frames >= expected.frames.size() ||
          **next != expected.frames[frames]) {
        fz::Fail("FrameReader returned a wrong frame",
                 "stream " + fz::Hex(stream) + "\nframe " +
                     std::to_string(frames) + " " + fz::Hex(**next));
      }
      if (zeo::EncodeFrame(**next) != expected.encoded[frames]) {
        fz::Fail("EncodeFrame does not give back the frame",
                 "payload " + fz::Hex(**next));
      }
      ++frames;
    }
    // Waiting for more bytes: at most one incomplete frame is held.
    if (reader.buffered() >= fz::kHeaderBytes + max_frame_bytes) {
      fz::Fail("FrameReader holds more than one frame",
               "buffered " + std::to_string(reader.buffered()));
    }
  };

  // Chunk size at `pos`, from the bytes there.
  auto chunk_at = [&](size_t pos) -> size_t {
    switch (mode & 3) {
      case 0:
        return stream.size();
      case 1:
        return 1;
      case 2:
        return 1 + static_cast<uint8_t>(stream[pos]);
      default:
        return 1 +
               ((size_t{static_cast<uint8_t>(stream[pos])} << 8) |
                (pos + 1 < stream.size() ? static_cast<uint8_t>(stream[pos + 1])
                                         : 0));
    }
  };

  size_t pos = 0;
  while (pos < stream.size()) {
    size_t chunk = pos == 0 && pad_bytes > 0 ? pad_bytes + chunk_at(pad_bytes)
                                             : chunk_at(pos);
    chunk = std::min(chunk, stream.size() - pos);
    reader.Append(absl::string_view(stream).substr(pos, chunk));
    pos += chunk;
    drain();
  }

  if (frames != expected.frames.size()) {
    fz::Fail("FrameReader missed frames",
             "stream " + fz::Hex(stream) + "\ngot " + std::to_string(frames) +
                 " of " + std::to_string(expected.frames.size()));
  }
  if (refused != expected.refused) {
    fz::Fail("FrameReader did not refuse an oversized prefix",
             "stream " + fz::Hex(stream));
  }
  if (!refused && reader.buffered() != stream.size() - expected.end) {
    fz::Fail("FrameReader lost or invented bytes",
             "buffered " + std::to_string(reader.buffered()) + ", expected " +
                 std::to_string(stream.size() - expected.end));
  }
  if (refused) {
    // Sticky: further input is ignored and every Next() fails.
    reader.Append(input);
    drain();
  }
  return 0;
}
