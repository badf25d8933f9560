// Replays the real ZEO traffic captured in testdata/*.jsonl (a copy of
// shared/zeo-vectors): every pickle and msgpack message frame must decode to
// the typed `value` recorded by the capture tools, and re-encode byte for byte
// (except the client side of the `raw` scenario, which plain memoizing
// pickle.dumps produced). Hostile variants of the same frames must fail
// cleanly.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "zeo/frame.h"
#include "zeo/message.h"
#include "zeo/msgpack.h"
#include "zeo/pickle.h"
#include "zeo/value.h"

namespace zeo {
namespace {

// ---------------------------------------------------------------------------
// A minimal JSON reader: enough for the capture files (objects, arrays,
// strings with \u escapes, numbers kept as text, true/false/null).

struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  std::string text;  // string contents, or the number as written
  std::vector<Json> array;
  std::vector<std::pair<std::string, Json>> object;

  const Json* Get(absl::string_view key) const {
    for (const auto& [k, v] : object) {
      if (k == key) return &v;
    }
    return nullptr;
  }
  std::string GetString(absl::string_view key) const {
    const Json* v = Get(key);
    return v != nullptr && v->type == Type::kString ? v->text : "";
  }
};

class JsonParser {
 public:
  explicit JsonParser(absl::string_view in) : in_(in) {}

  bool Parse(Json* out) {
    if (!ParseValue(out)) return false;
    SkipSpace();
    return pos_ == in_.size();
  }

 private:
  void SkipSpace() {
    while (pos_ < in_.size() && std::strchr(" \t\r\n", in_[pos_]) != nullptr) {
      ++pos_;
    }
  }
  bool Consume(absl::string_view word) {
    if (!absl::StartsWith(in_.substr(pos_), word)) return false;
    pos_ += word.size();
    return true;
  }

  bool ParseValue(Json* out) {
    SkipSpace();
    if (pos_ >= in_.size()) return false;
    const char c = in_[pos_];
    if (c == '{') return ParseObject(out);
    if (c == '[') return ParseArray(out);
    if (c == '"') {
      out->type = Json::Type::kString;
      return ParseString(&out->text);
    }
    if (Consume("true") || Consume("false")) {
      out->type = Json::Type::kBool;
      out->boolean = in_[pos_ - 1] == 'e' && in_[pos_ - 2] == 'u';
      return true;
    }
    if (Consume("null")) return true;
    const size_t start = pos_;
    while (pos_ < in_.size() && std::strchr("+-.0123456789eE", in_[pos_])) {
      ++pos_;
    }
    if (pos_ == start) return false;
    out->type = Json::Type::kNumber;
    out->text = std::string(in_.substr(start, pos_ - start));
    return true;
  }

  bool ParseObject(Json* out) {
    out->type = Json::Type::kObject;
    ++pos_;
    SkipSpace();
    if (Consume("}")) return true;
    for (;;) {
      SkipSpace();
      std::string key;
      if (!ParseString(&key)) return false;
      SkipSpace();
      if (!Consume(":")) return false;
      Json value;
      if (!ParseValue(&value)) return false;
      out->object.emplace_back(std::move(key), std::move(value));
      SkipSpace();
      if (Consume("}")) return true;
      if (!Consume(",")) return false;
    }
  }

  bool ParseArray(Json* out) {
    out->type = Json::Type::kArray;
    ++pos_;
    SkipSpace();
    if (Consume("]")) return true;
    for (;;) {
      out->array.emplace_back();
      if (!ParseValue(&out->array.back())) return false;
      SkipSpace();
      if (Consume("]")) return true;
      if (!Consume(",")) return false;
    }
  }

  bool ParseHex4(uint32_t* out) {
    if (in_.size() - pos_ < 4) return false;
    *out = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = in_[pos_++];
      const int digit =
          std::isdigit(static_cast<unsigned char>(c))
              ? c - '0'
              : (std::tolower(static_cast<unsigned char>(c)) - 'a' + 10);
      if (digit < 0 || digit > 15) return false;
      *out = *out * 16 + static_cast<uint32_t>(digit);
    }
    return true;
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }

  bool ParseString(std::string* out) {
    if (!Consume("\"")) return false;
    while (pos_ < in_.size()) {
      const char c = in_[pos_++];
      if (c == '"') return true;
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= in_.size()) return false;
      const char e = in_[pos_++];
      switch (e) {
        case 'n':
          out->push_back('\n');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'u': {
          uint32_t cp;
          if (!ParseHex4(&cp)) return false;
          if (cp >= 0xd800 && cp < 0xdc00 && Consume("\\u")) {
            uint32_t low;
            if (!ParseHex4(&low)) return false;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          }
          AppendUtf8(cp, out);
          break;
        }
        default:  // \" \\ \/
          out->push_back(e);
      }
    }
    return false;
  }

  absl::string_view in_;
  size_t pos_ = 0;
};

// ---------------------------------------------------------------------------
// Typed `value` nodes -> Value.

// Decimal text -> minimal little-endian two's complement (for |v| >= 2^63).
std::string DecimalToTwosComplement(absl::string_view text) {
  const bool negative = !text.empty() && text[0] == '-';
  if (negative) text.remove_prefix(1);
  std::vector<uint8_t> mag;  // little-endian magnitude
  for (char c : text) {
    unsigned carry = static_cast<unsigned>(c - '0');
    for (uint8_t& b : mag) {
      const unsigned v = b * 10u + carry;
      b = static_cast<uint8_t>(v);
      carry = v >> 8;
    }
    if (carry != 0) mag.push_back(static_cast<uint8_t>(carry));
  }
  mag.push_back(0);  // room for the sign
  if (negative) {
    unsigned carry = 1;
    for (uint8_t& b : mag) {
      const unsigned v = static_cast<uint8_t>(~b) + carry;
      b = static_cast<uint8_t>(v);
      carry = v >> 8;
    }
  }
  return std::string(mag.begin(), mag.end());
}

bool ToValue(const Json& node, Value* out, std::string* error) {
  const std::string t = node.GetString("t");
  const Json* v = node.Get("v");
  if (t == "none") {
    *out = Value::None();
  } else if (t == "bool" && v != nullptr) {
    *out = Value::Bool(v->boolean);
  } else if (t == "int" && v != nullptr) {
    int64_t i;
    if (absl::SimpleAtoi(v->text, &i)) {
      *out = Value::Int(i);
    } else {
      *out = Value::BigInt(DecimalToTwosComplement(v->text));
    }
  } else if (t == "float") {
    const std::string bits = absl::HexStringToBytes(node.GetString("hex"));
    if (bits.size() != 8) return (*error = "bad float hex", false);
    uint64_t u = 0;
    for (char c : bits) u = (u << 8) | static_cast<uint8_t>(c);
    double d;
    std::memcpy(&d, &u, sizeof(d));
    *out = Value::Float(d);
  } else if (t == "bytes") {
    *out = Value::Bytes(absl::HexStringToBytes(node.GetString("hex")));
  } else if (t == "str" && v != nullptr) {
    *out = Value::Str(v->text);
  } else if ((t == "tuple" || t == "list" || t == "array") && v != nullptr) {
    Value::Items items(v->array.size());
    for (size_t i = 0; i < items.size(); ++i) {
      if (!ToValue(v->array[i], &items[i], error)) return false;
    }
    // msgpack arrays decode as tuples.
    *out = t == "list" ? Value::List(std::move(items))
                       : Value::Tuple(std::move(items));
  } else if ((t == "dict" || t == "map") && v != nullptr) {
    Value::DictItems items(v->array.size());
    for (size_t i = 0; i < items.size(); ++i) {
      const Json& pair = v->array[i];
      if (pair.array.size() != 2 ||
          !ToValue(pair.array[0], &items[i].first, error) ||
          !ToValue(pair.array[1], &items[i].second, error)) {
        return false;
      }
    }
    *out = Value::Dict(std::move(items));
  } else if (t == "object") {
    // The captures hold none; the renderer does not say NEWOBJ or REDUCE, so
    // this is compared as Object (NEWOBJ).
    const std::string path = node.GetString("global");
    const size_t dot = path.rfind('.');
    Value args, state;
    if ((node.Get("args") && !ToValue(*node.Get("args"), &args, error)) ||
        (node.Get("state") && !ToValue(*node.Get("state"), &state, error))) {
      return false;
    }
    *out = Value::Object(path.substr(0, dot), path.substr(dot + 1),
                         std::move(args), std::move(state));
  } else {
    *error = "unknown value node type '" + t + "'";
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// The capture files.

struct Frame {
  std::string file;  // e.g. "raw.c2s.jsonl"
  int line = 0;
  std::string dir, kind, encoding, method;
  std::string bytes;  // the whole frame, length prefix included
  bool has_value = false;
  Value value;

  std::string Where() const { return absl::StrCat(file, ":", line); }
  std::string payload() const { return bytes.substr(4); }
  // Real ZEO code produced it, so re-encoding must reproduce it.
  bool byte_exact() const { return file != "raw.c2s.jsonl"; }
};

std::string TestDataDir() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(srcdir ? srcdir : ".", "/",
                      workspace ? workspace : "zeoraid", "/zeo/testdata");
}

const std::vector<Frame>& Frames() {
  static const auto* frames = [] {
    auto* out = new std::vector<Frame>;
    std::vector<std::filesystem::path> files;
    for (const auto& entry :
         std::filesystem::directory_iterator(TestDataDir())) {
      if (entry.path().extension() == ".jsonl") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
      std::ifstream in(path);
      std::string line;
      int number = 0;
      while (std::getline(in, line)) {
        ++number;
        if (line.empty()) continue;
        Json json;
        Frame frame;
        frame.file = path.filename().string();
        frame.line = number;
        if (!JsonParser(line).Parse(&json)) {
          ADD_FAILURE() << frame.Where() << ": bad JSON";
          continue;
        }
        frame.dir = json.GetString("dir");
        frame.kind = json.GetString("kind");
        frame.encoding = json.GetString("encoding");
        frame.method = json.GetString("method");
        frame.bytes = absl::HexStringToBytes(json.GetString("frame_hex"));
        if (const Json* value = json.Get("value")) {
          std::string error;
          frame.has_value = ToValue(*value, &frame.value, &error);
          if (!frame.has_value) ADD_FAILURE() << frame.Where() << ": " << error;
        }
        out->push_back(std::move(frame));
      }
    }
    return out;
  }();
  return *frames;
}

GlobalPolicy PolicyFor(const Frame& frame) {
  return frame.dir == "c2s" ? GlobalPolicy::kServer : GlobalPolicy::kClient;
}

bool IsMessage(const Frame& f, absl::string_view encoding) {
  return f.kind == "message" && f.encoding == encoding;
}

// ---------------------------------------------------------------------------

TEST(VectorsTest, AllFilesLoaded) {
  std::map<std::string, int> per_file;
  for (const Frame& f : Frames()) ++per_file[f.file];
  EXPECT_EQ(per_file.size(), 12u);
  for (const auto& [file, count] : per_file) {
    std::printf("%-22s %4d frames\n", file.c_str(), count);
  }
}

TEST(VectorsTest, PickleFrames) {
  int checked = 0, reencoded = 0;
  for (const Frame& f : Frames()) {
    if (!IsMessage(f, "pickle")) continue;
    SCOPED_TRACE(f.Where());
    ASSERT_GE(f.bytes.size(), 4u);
    const std::string payload = f.payload();
    EXPECT_EQ(EncodeFrame(payload), f.bytes);  // prefix == payload size
    absl::StatusOr<Value> v =
        DecodePickle(payload, DecodeLimits(), PolicyFor(f));
    ASSERT_TRUE(v.ok()) << v.status();
    ASSERT_TRUE(f.has_value);
    EXPECT_EQ(*v, f.value) << "decoded:  " << v->DebugString()
                           << "\nexpected: " << f.value.DebugString();
    absl::StatusOr<Message> m =
        DecodeMessage(payload, Encoding::kPickle, DecodeLimits(), PolicyFor(f));
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->name, f.method.empty() ? m->name : f.method);
    if (f.byte_exact()) {
      EXPECT_EQ(absl::BytesToHexString(EncodePickle(*v)),
                absl::BytesToHexString(payload));
      EXPECT_EQ(EncodeMessage(*m, Encoding::kPickle), payload);
      ++reencoded;
    }
    ++checked;
  }
  std::printf(
      "pickle frames checked: %d decoded and compared, %d re-encoded "
      "byte for byte\n",
      checked, reencoded);
  EXPECT_EQ(checked, 510);
  EXPECT_EQ(reencoded, 483);  // zeo-protocol.md 4.1: all 483 ZEO pickle frames
}

TEST(VectorsTest, MsgpackFrames) {
  int checked = 0;
  for (const Frame& f : Frames()) {
    if (!IsMessage(f, "msgpack")) continue;
    SCOPED_TRACE(f.Where());
    const std::string payload = f.payload();
    EXPECT_EQ(EncodeFrame(payload), f.bytes);
    absl::StatusOr<Value> v = DecodeMsgpack(payload);
    ASSERT_TRUE(v.ok()) << v.status();
    ASSERT_TRUE(f.has_value);
    EXPECT_EQ(*v, f.value) << "decoded:  " << v->DebugString()
                           << "\nexpected: " << f.value.DebugString();
    EXPECT_EQ(absl::BytesToHexString(EncodeMsgpack(*v)),
              absl::BytesToHexString(payload));
    absl::StatusOr<Message> m = DecodeMessage(payload, Encoding::kMsgpack,
                                              DecodeLimits(), PolicyFor(f));
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(EncodeMessage(*m, Encoding::kMsgpack), payload);
    ++checked;
  }
  std::printf("msgpack frames checked: %d\n", checked);
  EXPECT_EQ(checked, 80);
}

TEST(VectorsTest, FrameReaderSplitsEachCapturedStream) {
  std::map<std::string, std::vector<const Frame*>> by_file;
  for (const Frame& f : Frames()) by_file[f.file].push_back(&f);
  std::mt19937 rng(5);
  int frames = 0;
  for (const auto& [file, list] : by_file) {
    std::string stream;
    for (const Frame* f : list) stream += f->bytes;
    FrameReader reader(1 << 20);
    size_t pos = 0, next = 0;
    while (pos < stream.size()) {
      const size_t n = std::min<size_t>(stream.size() - pos, 1 + rng() % 700);
      reader.Append(absl::string_view(stream).substr(pos, n));
      pos += n;
      for (;;) {
        absl::StatusOr<std::optional<std::string>> payload = reader.Next();
        ASSERT_TRUE(payload.ok()) << payload.status();
        if (!payload->has_value()) break;
        ASSERT_LT(next, list.size());
        EXPECT_EQ(**payload, list[next]->payload()) << list[next]->Where();
        ++next;
        ++frames;
      }
    }
    EXPECT_EQ(next, list.size()) << file;
  }
  std::printf("frames split by FrameReader: %d\n", frames);
}

// Every proper prefix of every captured message must be refused, cleanly.
TEST(VectorsTest, EveryTruncationOfEveryFrameFails) {
  long attempts = 0;
  for (const Frame& f : Frames()) {
    if (f.kind != "message") continue;
    const std::string payload = f.payload();
    for (size_t n = 0; n < payload.size(); ++n) {
      const absl::string_view prefix = absl::string_view(payload).substr(0, n);
      const bool ok =
          f.encoding == "pickle"
              ? DecodePickle(prefix, DecodeLimits(), PolicyFor(f)).ok()
              : DecodeMsgpack(prefix).ok();
      EXPECT_FALSE(ok) << f.Where() << " prefix " << n;
      ++attempts;
    }
    // And a frame reader never yields a frame from a truncated stream.
    FrameReader reader(1 << 20);
    reader.Append(absl::string_view(f.bytes).substr(0, f.bytes.size() - 1));
    absl::StatusOr<std::optional<std::string>> next = reader.Next();
    ASSERT_TRUE(next.ok());
    EXPECT_FALSE(next->has_value());
  }
  std::printf("truncated payloads refused: %ld\n", attempts);
}

TEST(VectorsTest, RandomMutationsOfRealFramesNeverCrash) {
  std::vector<const Frame*> messages;
  for (const Frame& f : Frames()) {
    if (f.kind == "message") messages.push_back(&f);
  }
  ASSERT_FALSE(messages.empty());
  std::mt19937 rng(31337);
  int still_decoded = 0;
  constexpr int kIterations = 4000;
  for (int i = 0; i < kIterations; ++i) {
    const Frame& f = *messages[rng() % messages.size()];
    std::string mutated = f.payload();
    for (int flips = 1 + static_cast<int>(rng() % 3); flips > 0; --flips) {
      const size_t at = rng() % mutated.size();
      mutated[at] = rng() % 2
                        ? static_cast<char>(mutated[at] ^ (1u << (rng() % 8)))
                        : static_cast<char>(rng());
    }
    const Encoding encoding =
        f.encoding == "pickle" ? Encoding::kPickle : Encoding::kMsgpack;
    absl::StatusOr<Message> m =
        DecodeMessage(mutated, encoding, DecodeLimits(), PolicyFor(f));
    if (m.ok()) {
      ++still_decoded;
      // Whatever is accepted must survive a round trip.
      absl::StatusOr<Message> again = DecodeMessage(
          EncodeMessage(*m, encoding), encoding, DecodeLimits(), PolicyFor(f));
      ASSERT_TRUE(again.ok()) << again.status();
      EXPECT_EQ(again->args, m->args);
    }
  }
  std::printf("mutated frames still decoding: %d of %d\n", still_decoded,
              kIterations);
}

}  // namespace
}  // namespace zeo
