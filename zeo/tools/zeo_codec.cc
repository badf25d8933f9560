// zeo_codec: decodes payloads with the project's ZEO codecs and re-encodes
// them, one line in, one line out, so that another language's reference
// implementation (tests/codec/test_oracle.py) can check both directions.
//
// Input, one per line:   ENC HEX
//   ENC  `pickle` (DecodePickle, GlobalPolicy::kServer) or `msgpack`
//   HEX  the payload (no frame length prefix), any case, may be empty
// Output, one per line:  OK <lower-case hex of the re-encoding>
//                   or:  ERR <message on one line>
// Empty input lines are skipped. Exit status 0 unless stdin/stdout fail.
#include <cstdio>
#include <iostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "zeo/limits.h"
#include "zeo/msgpack.h"
#include "zeo/pickle.h"
#include "zeo/value.h"

namespace {

constexpr absl::string_view kUsage =
    "usage: zeo_codec < lines\n"
    "  each input line: ENC HEX   (ENC = pickle | msgpack)\n"
    "  each output line: OK <hex of the re-encoding> | ERR <message>\n";

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> FromHex(absl::string_view hex) {
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError("odd number of hex digits");
  }
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = HexDigit(hex[2 * i]);
    const int lo = HexDigit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad hex digit near offset ", 2 * i));
    }
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

// Decodes `payload` with the codec named `encoding` and re-encodes the value.
absl::StatusOr<std::string> RoundTrip(absl::string_view encoding,
                                      absl::string_view payload) {
  const zeo::DecodeLimits limits;
  if (encoding == "pickle") {
    absl::StatusOr<zeo::Value> value =
        zeo::DecodePickle(payload, limits, zeo::GlobalPolicy::kServer);
    if (!value.ok()) return value.status();
    return zeo::EncodePickle(*value);
  }
  if (encoding == "msgpack") {
    absl::StatusOr<zeo::Value> value = zeo::DecodeMsgpack(payload, limits);
    if (!value.ok()) return value.status();
    absl::Status encodable = zeo::CheckMsgpackEncodable(*value);
    if (!encodable.ok()) return encodable;
    return zeo::EncodeMsgpack(*value);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown encoding '", encoding, "'"));
}

std::string Process(absl::string_view line) {
  const size_t space = line.find(' ');
  const absl::string_view encoding = line.substr(0, space);
  const absl::string_view hex = space == absl::string_view::npos
                                    ? absl::string_view()
                                    : line.substr(space + 1);
  absl::StatusOr<std::string> payload = FromHex(hex);
  if (!payload.ok()) return absl::StrCat("ERR ", payload.status().ToString());
  absl::StatusOr<std::string> out = RoundTrip(encoding, *payload);
  if (!out.ok()) {
    // Keep one output line per input line whatever the message holds.
    return absl::StrCat("ERR ",
                        absl::StrReplaceAll(out.status().ToString(),
                                            {{"\n", "\\n"}, {"\r", "\\r"}}));
  }
  return absl::StrCat("OK ", absl::BytesToHexString(*out));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {
    const absl::string_view arg = argv[1];
    std::cerr << kUsage;
    return arg == "--help" || arg == "-h" ? 0 : 2;
  }
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    absl::string_view view = absl::StripSuffix(line, "\r");
    if (view.empty()) continue;
    std::cout << Process(view) << '\n';
  }
  std::cout.flush();
  return std::cin.bad() || !std::cout ? 1 : 0;
}
