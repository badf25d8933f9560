#include "zeo/storea_frame.h"

#include "absl/strings/strip.h"
#include "zeo/codec_util.h"
#include "zeo/pickle.h"
#include "zeo/value.h"

namespace zeo {
namespace {

// The opcodes of the layout (pickle protocol 3).
constexpr char kProto = '\x80';
constexpr char kMark = '(';
constexpr char kNone = 'N';
constexpr char kShortBinBytes = 'C';
constexpr char kBinBytes = 'B';
constexpr char kBinInt1 = 'K';
constexpr char kBinInt2 = 'M';
constexpr char kBinInt = 'J';
constexpr char kLong1 = '\x8a';

// "\x80\x03(" then the msgid, then this.
constexpr char kAfterMsgidBytes[] = "\x88X\x06\x00\x00\x00storea(";
constexpr absl::string_view kAfterMsgid(kAfterMsgidBytes,
                                        sizeof(kAfterMsgidBytes) - 1);
constexpr absl::string_view kEnd("tt.", 3);

// Reads the layout off the front of a payload; every Take* fails (false)
// rather than reading past the end.
class Reader {
 public:
  explicit Reader(absl::string_view in) : in_(in) {}

  bool empty() const { return in_.empty(); }

  bool TakeLiteral(absl::string_view literal) {
    return absl::ConsumePrefix(&in_, literal);
  }

  bool TakeOp(char op) {
    if (in_.empty() || in_[0] != op) return false;
    in_.remove_prefix(1);
    return true;
  }

  bool TakeBytes(size_t n, absl::string_view* out) {
    if (in_.size() < n) return false;
    *out = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }

  bool TakeLe(size_t width, uint64_t* out) {
    absl::string_view raw;
    if (!TakeBytes(width, &raw)) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < width; ++i) {
      v |= static_cast<uint64_t>(static_cast<uint8_t>(raw[i])) << (8 * i);
    }
    *out = v;
    return true;
  }

  // SHORT_BINBYTES or BINBYTES.
  bool TakeBytesValue(absl::string_view* out) {
    uint64_t n;
    if (TakeOp(kShortBinBytes)) return TakeLe(1, &n) && TakeBytes(n, out);
    if (TakeOp(kBinBytes)) return TakeLe(4, &n) && TakeBytes(n, out);
    return false;
  }

  // An int as the pickler writes one (LONG1 only while it fits in int64).
  bool TakeInt(int64_t* out) {
    uint64_t n;
    if (TakeOp(kBinInt1)) {
      if (!TakeLe(1, &n)) return false;
      *out = static_cast<int64_t>(n);
      return true;
    }
    if (TakeOp(kBinInt2)) {
      if (!TakeLe(2, &n)) return false;
      *out = static_cast<int64_t>(n);
      return true;
    }
    if (TakeOp(kBinInt)) {
      if (!TakeLe(4, &n)) return false;
      *out = static_cast<int32_t>(static_cast<uint32_t>(n));
      return true;
    }
    if (TakeOp(kLong1)) {
      absl::string_view le;
      return TakeLe(1, &n) && n <= 8 && TakeBytes(n, &le) &&
             internal::TwosComplementToInt64(le, out);
    }
    return false;
  }

 private:
  absl::string_view in_;
};

}  // namespace

std::optional<StoreaFrame> ParseStoreaPickle(absl::string_view payload,
                                             const DecodeLimits& limits) {
  if (payload.size() > limits.max_frame_bytes) return std::nullopt;
  Reader r(payload);
  StoreaFrame f;
  int64_t msgid;
  if (!r.TakeOp(kProto) || !r.TakeOp('\x03') || !r.TakeOp(kMark) ||
      !r.TakeInt(&msgid) || !r.TakeLiteral(kAfterMsgid)) {
    return std::nullopt;
  }
  if (!r.TakeBytesValue(&f.oid) || f.oid.size() != 8) return std::nullopt;
  if (r.TakeOp(kNone)) {
    f.serial_is_none = true;
  } else if (!r.TakeBytesValue(&f.serial) || f.serial.size() != 8) {
    return std::nullopt;
  }
  if (!r.TakeBytesValue(&f.data) || f.data.size() > limits.max_string_bytes ||
      !r.TakeInt(&f.txn_id) || !r.TakeLiteral(kEnd) || !r.empty()) {
    return std::nullopt;
  }
  return f;
}

std::string EncodeStoreaPickle(absl::string_view oid,
                               const absl::string_view* serial,
                               absl::string_view data, int64_t txn_id) {
  // The int's opcodes as the encoder writes them, without PROTO and STOP.
  const std::string id_pickle = EncodePickle(Value::Int(txn_id));
  const absl::string_view id_ops =
      absl::string_view(id_pickle).substr(2, id_pickle.size() - 3);
  std::string out;
  out.reserve(32 + oid.size() + 10 + data.size() + id_ops.size());
  auto put_bytes = [&out](absl::string_view b) {
    if (b.size() < 256) {
      out.push_back(kShortBinBytes);
      out.push_back(static_cast<char>(b.size()));
    } else {
      out.push_back(kBinBytes);
      const auto n = static_cast<uint32_t>(b.size());
      for (int i = 0; i < 4; ++i)
        out.push_back(static_cast<char>(n >> (8 * i)));
    }
    out.append(b.data(), b.size());
  };
  out.append({kProto, '\x03', kMark, kBinInt1, '\0'});
  out.append(kAfterMsgid.data(), kAfterMsgid.size());
  put_bytes(oid);
  if (serial == nullptr) {
    out.push_back(kNone);
  } else {
    put_bytes(*serial);
  }
  put_bytes(data);
  out.append(id_ops.data(), id_ops.size());
  out.append(kEnd.data(), kEnd.size());
  return out;
}

}  // namespace zeo
