#include "zeo/msgpack.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "zeo/codec_util.h"

namespace zeo {
namespace {

constexpr size_t kMaxSupportedDepth = 1000;

// A BigInt msgpack can carry: non-negative and below 2^64 (uint64). Its minimal
// two's complement form then has at most 8 value bytes plus a zero sign byte.
bool BigIntToUint64(const std::string& le, uint64_t* out) {
  if (le.size() > 9 || le.empty() || (static_cast<uint8_t>(le.back()) & 0x80)) {
    return false;
  }
  if (le.size() == 9 && le[8] != 0) return false;
  *out = 0;
  for (size_t i = 0; i < std::min<size_t>(le.size(), 8); ++i) {
    *out |= static_cast<uint64_t>(static_cast<uint8_t>(le[i])) << (8 * i);
  }
  return true;
}

class Encoder {
 public:
  explicit Encoder(std::string* out) : out_(out) {}

  void Save(const Value& v) {
    switch (v.kind()) {
      case Value::Kind::kNone:
        Put(0xc0);
        break;
      case Value::Kind::kBool:
        Put(v.bool_value() ? 0xc3 : 0xc2);
        break;
      case Value::Kind::kInt:
        SaveInt(v.int_value());
        break;
      case Value::Kind::kBigInt: {
        uint64_t u;
        if (BigIntToUint64(v.string_value(), &u)) {
          PutBe(0xcf, u, 8);
        } else {
          Put(0xc0);
        }
        break;
      }
      case Value::Kind::kFloat: {
        uint64_t bits;
        const double d = v.float_value();
        std::memcpy(&bits, &d, sizeof(bits));
        PutBe(0xcb, bits, 8);
        break;
      }
      case Value::Kind::kBytes:
        SaveHeader(v.string_value().size(), 0, 0xc4, 0xc5, 0xc6, 0);
        out_->append(v.string_value());
        break;
      case Value::Kind::kStr:
        // A str with lone surrogates (pickle admits them) is not UTF-8, and
        // a msgpack str must be; like other unrepresentable values, nil.
        if (!internal::IsValidUtf8(v.string_value())) {
          Put(0xc0);
          break;
        }
        SaveHeader(v.string_value().size(), 0xa0, 0xd9, 0xda, 0xdb, 32);
        out_->append(v.string_value());
        break;
      case Value::Kind::kTuple:
      case Value::Kind::kList:
        SaveArrayHeader(v.items().size());
        for (const Value& item : v.items()) Save(item);
        break;
      case Value::Kind::kDict:
        SaveHeader(v.dict_items().size(), 0x80, 0, 0xde, 0xdf, 16);
        for (const auto& [key, item] : v.dict_items()) {
          Save(key);
          Save(item);
        }
        break;
      case Value::Kind::kObject:
        Put(0xc0);
        break;
    }
  }

  void SaveArrayHeader(size_t n) { SaveHeader(n, 0x90, 0, 0xdc, 0xdd, 16); }

 private:
  void Put(uint8_t b) { out_->push_back(static_cast<char>(b)); }
  void PutBe(uint8_t tag, uint64_t v, int width) {
    Put(tag);
    for (int i = width - 1; i >= 0; --i)
      Put(static_cast<uint8_t>(v >> (8 * i)));
  }

  // Length header: fix form below `fix_limit` (if fix_tag), else the
  // 8/16/32-bit form (the 8-bit one only where the type has it, i.e. tag8 !=
  // 0).
  void SaveHeader(size_t n, uint8_t fix_tag, uint8_t tag8, uint8_t tag16,
                  uint8_t tag32, size_t fix_limit) {
    if (fix_tag != 0 && n < fix_limit) {
      Put(static_cast<uint8_t>(fix_tag | n));
    } else if (tag8 != 0 && n <= 0xff) {
      PutBe(tag8, n, 1);
    } else if (n <= 0xffff) {
      PutBe(tag16, n, 2);
    } else {
      PutBe(tag32, n, 4);
    }
  }

  // msgpack-python's choice: fixint, then the smallest unsigned (for >= 0) or
  // signed (for < 0) width.
  void SaveInt(int64_t v) {
    if (v >= -32 && v <= 127) {
      Put(static_cast<uint8_t>(v));
    } else if (v >= 0) {
      const auto u = static_cast<uint64_t>(v);
      if (u <= 0xff) {
        PutBe(0xcc, u, 1);
      } else if (u <= 0xffff) {
        PutBe(0xcd, u, 2);
      } else if (u <= 0xffffffffu) {
        PutBe(0xce, u, 4);
      } else {
        PutBe(0xcf, u, 8);
      }
    } else {
      const auto u = static_cast<uint64_t>(v);
      if (v >= -128) {
        PutBe(0xd0, u, 1);
      } else if (v >= -32768) {
        PutBe(0xd1, u, 2);
      } else if (v >= std::numeric_limits<int32_t>::min()) {
        PutBe(0xd2, u, 4);
      } else {
        PutBe(0xd3, u, 8);
      }
    }
  }

  std::string* out_;
};

class Decoder {
 public:
  Decoder(absl::string_view data, const DecodeLimits& limits)
      : data_(data),
        limits_(limits),
        max_depth_(std::min(limits.max_depth, kMaxSupportedDepth)) {}

  absl::StatusOr<Value> Decode() {
    if (data_.size() > limits_.max_frame_bytes) {
      return absl::OutOfRangeError(absl::StrCat("msgpack: ", data_.size(),
                                                " bytes exceed the limit of ",
                                                limits_.max_frame_bytes));
    }
    Value out;
    absl::Status status = Read(0, &out);
    if (!status.ok()) return status;
    if (pos_ != data_.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "msgpack: ", data_.size() - pos_, " bytes after the value"));
    }
    return out;
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrFormat("msgpack: %s (offset %d)", what, pos_));
  }
  absl::Status Limit(absl::string_view what) const {
    return absl::OutOfRangeError(
        absl::StrFormat("msgpack: %s (offset %d)", what, pos_));
  }

  absl::Status TakeBe(size_t width, uint64_t* out) {
    if (width > data_.size() - pos_) return Error("truncated");
    *out = 0;
    for (size_t i = 0; i < width; ++i) {
      *out = (*out << 8) | static_cast<uint8_t>(data_[pos_ + i]);
    }
    pos_ += width;
    return absl::OkStatus();
  }

  absl::Status ReadString(size_t n, bool is_str, Value* out) {
    if (n > limits_.max_string_bytes) {
      return Limit(absl::StrCat("string of ", n, " bytes exceeds the limit of ",
                                limits_.max_string_bytes));
    }
    if (n > data_.size() - pos_) return Error("truncated string");
    absl::string_view s = data_.substr(pos_, n);
    pos_ += n;
    if (is_str) {
      if (!internal::IsValidUtf8(s)) return Error("invalid UTF-8 in str");
      *out = Value::Str(std::string(s));
    } else {
      *out = Value::Bytes(std::string(s));
    }
    return absl::OkStatus();
  }

  // Containers: the count is checked against the limit and against the input
  // left (every element takes at least one byte) before anything is reserved.
  absl::Status ReadArray(size_t n, size_t depth, Value* out) {
    absl::Status status = CheckContainer(n, 1, depth);
    if (!status.ok()) return status;
    Value::Items items;
    items.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      items.emplace_back();
      status = Read(depth + 1, &items.back());
      if (!status.ok()) return status;
    }
    *out = Value::Tuple(std::move(items));
    return absl::OkStatus();
  }

  absl::Status ReadMap(size_t n, size_t depth, Value* out) {
    absl::Status status = CheckContainer(n, 2, depth);
    if (!status.ok()) return status;
    Value::DictItems items;
    items.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      items.emplace_back();
      status = Read(depth + 1, &items.back().first);
      if (status.ok()) status = Read(depth + 1, &items.back().second);
      if (!status.ok()) return status;
    }
    *out = Value::Dict(std::move(items));
    return absl::OkStatus();
  }

  absl::Status CheckContainer(size_t n, size_t min_bytes_each, size_t depth) {
    if (depth + 1 > max_depth_) {
      return Limit(absl::StrCat("nesting deeper than ", max_depth_));
    }
    if (n > limits_.max_container_length) {
      return Limit(absl::StrCat("container of ", n,
                                " items exceeds the limit of ",
                                limits_.max_container_length));
    }
    if (n > (data_.size() - pos_) / min_bytes_each) {
      return Error("truncated container");
    }
    return absl::OkStatus();
  }

  absl::Status ReadInt(size_t width, bool is_signed, Value* out) {
    uint64_t u;
    absl::Status status = TakeBe(width, &u);
    if (!status.ok()) return status;
    if (is_signed) {
      // Sign-extend from `width` bytes.
      const int shift = 64 - 8 * static_cast<int>(width);
      *out = Value::Int(static_cast<int64_t>(u << shift) >> shift);
    } else if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      std::string le(9, '\0');  // 8 value bytes and a zero sign byte
      for (int i = 0; i < 8; ++i) le[i] = static_cast<char>(u >> (8 * i));
      *out = Value::BigInt(std::move(le));
    } else {
      *out = Value::Int(static_cast<int64_t>(u));
    }
    return absl::OkStatus();
  }

  absl::Status Read(size_t depth, Value* out) {
    if (++values_ > limits_.max_values) {
      return Limit(absl::StrCat("more than ", limits_.max_values, " values"));
    }
    if (pos_ >= data_.size()) return Error("truncated");
    const auto tag = static_cast<uint8_t>(data_[pos_++]);
    if (tag <= 0x7f) {
      *out = Value::Int(tag);
      return absl::OkStatus();
    }
    if (tag >= 0xe0) {
      *out = Value::Int(static_cast<int8_t>(tag));
      return absl::OkStatus();
    }
    if ((tag & 0xf0) == 0x80) return ReadMap(tag & 0x0f, depth, out);
    if ((tag & 0xf0) == 0x90) return ReadArray(tag & 0x0f, depth, out);
    if ((tag & 0xe0) == 0xa0) return ReadString(tag & 0x1f, true, out);
    uint64_t n;
    absl::Status status;
    switch (tag) {
      case 0xc0:
        *out = Value::None();
        return absl::OkStatus();
      case 0xc2:
      case 0xc3:
        *out = Value::Bool(tag == 0xc3);
        return absl::OkStatus();
      case 0xc4:
      case 0xc5:
      case 0xc6:
      case 0xd9:
      case 0xda:
      case 0xdb: {
        const bool is_str = tag >= 0xd9;
        const size_t width = size_t{1} << (is_str ? tag - 0xd9 : tag - 0xc4);
        status = TakeBe(width, &n);
        return status.ok() ? ReadString(n, is_str, out) : status;
      }
      case 0xca: {  // float32, widened as Python does
        status = TakeBe(4, &n);
        if (!status.ok()) return status;
        const auto bits = static_cast<uint32_t>(n);
        float f;
        std::memcpy(&f, &bits, sizeof(f));
        *out = Value::Float(f);
        return absl::OkStatus();
      }
      case 0xcb: {
        status = TakeBe(8, &n);
        if (!status.ok()) return status;
        double d;
        std::memcpy(&d, &n, sizeof(d));
        *out = Value::Float(d);
        return absl::OkStatus();
      }
      case 0xcc:
      case 0xcd:
      case 0xce:
      case 0xcf:
        return ReadInt(size_t{1} << (tag - 0xcc), false, out);
      case 0xd0:
      case 0xd1:
      case 0xd2:
      case 0xd3:
        return ReadInt(size_t{1} << (tag - 0xd0), true, out);
      case 0xdc:
      case 0xdd:
        status = TakeBe(tag == 0xdc ? 2 : 4, &n);
        return status.ok() ? ReadArray(n, depth, out) : status;
      case 0xde:
      case 0xdf:
        status = TakeBe(tag == 0xde ? 2 : 4, &n);
        return status.ok() ? ReadMap(n, depth, out) : status;
      default:  // 0xc1 (never used) and the extension types
        --pos_;
        return Error(absl::StrFormat("unsupported type 0x%02x", tag));
    }
  }

  const absl::string_view data_;
  const DecodeLimits& limits_;
  const size_t max_depth_;
  size_t pos_ = 0;
  size_t values_ = 0;
};

absl::Status CheckEncodable(const Value& v, size_t depth) {
  if (depth > kMaxSupportedDepth) {
    return absl::InvalidArgumentError("msgpack: value nested too deeply");
  }
  switch (v.kind()) {
    case Value::Kind::kBigInt: {
      uint64_t unused;
      if (BigIntToUint64(v.string_value(), &unused)) return absl::OkStatus();
      return absl::InvalidArgumentError(absl::StrCat(
          "msgpack cannot represent the integer ", v.DebugString()));
    }
    case Value::Kind::kStr:
      // Python's msgpack refuses these too (UnicodeEncodeError).
      if (internal::IsValidUtf8(v.string_value())) return absl::OkStatus();
      return absl::InvalidArgumentError(
          absl::StrCat("msgpack cannot represent the str with lone surrogates ",
                       v.DebugString()));
    case Value::Kind::kObject:
      return absl::InvalidArgumentError(
          absl::StrCat("msgpack cannot represent the object ",
                       v.object_module(), ".", v.object_name()));
    case Value::Kind::kTuple:
    case Value::Kind::kList:
      for (const Value& item : v.items()) {
        absl::Status status = CheckEncodable(item, depth + 1);
        if (!status.ok()) return status;
      }
      return absl::OkStatus();
    case Value::Kind::kDict:
      for (const auto& [key, item] : v.dict_items()) {
        absl::Status status = CheckEncodable(key, depth + 1);
        if (status.ok()) status = CheckEncodable(item, depth + 1);
        if (!status.ok()) return status;
      }
      return absl::OkStatus();
    default:
      return absl::OkStatus();
  }
}

}  // namespace

absl::Status CheckMsgpackEncodable(const Value& value) {
  return CheckEncodable(value, 0);
}

std::string EncodeMsgpack(const Value& value) {
  std::string out;
  Encoder(&out).Save(value);
  return out;
}

std::string EncodeMsgpackArray(absl::Span<const Value* const> items) {
  std::string out;
  Encoder encoder(&out);
  encoder.SaveArrayHeader(items.size());
  for (const Value* item : items) encoder.Save(*item);
  return out;
}

absl::StatusOr<Value> DecodeMsgpack(absl::string_view data,
                                    const DecodeLimits& limits) {
  return Decoder(data, limits).Decode();
}

Value ExceptionsAsTuples(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kTuple:
    case Value::Kind::kList: {
      Value::Items items;
      for (const Value& v : value.items())
        items.push_back(ExceptionsAsTuples(v));
      return value.is_tuple() ? Value::Tuple(std::move(items))
                              : Value::List(std::move(items));
    }
    case Value::Kind::kDict: {
      Value::DictItems items;
      for (const auto& [k, v] : value.dict_items()) {
        items.emplace_back(ExceptionsAsTuples(k), ExceptionsAsTuples(v));
      }
      return Value::Dict(std::move(items));
    }
    case Value::Kind::kObject: {
      const Value::Items& parts = value.items();  // args, state
      const Value args = parts.empty() ? Value() : parts[0];
      const Value state = parts.size() > 1 ? parts[1] : Value();
      // ZODB.POSException._recon(cls, state): the class is the first argument.
      // Its state is the exception's __dict__ plus "args" (POSError's
      // __reduce__); ZEO sends __dict__, or args when __dict__ is empty.
      if (value.object_name() == "_recon" && args.items().size() == 2 &&
          args.items()[0].is_object()) {
        const Value& cls = args.items()[0];
        Value exc_args;
        Value::DictItems exc_dict;
        for (const auto& [k, v] : args.items()[1].dict_items()) {
          if (k == Value::Str("args")) {
            exc_args = v;
          } else {
            exc_dict.emplace_back(k, v);
          }
        }
        return Value::Tuple(
            {Value::Str(cls.object_module() + "." + cls.object_name()),
             ExceptionsAsTuples(exc_dict.empty()
                                    ? exc_args
                                    : Value::Dict(std::move(exc_dict)))});
      }
      const bool has_state = state.is_dict() && !state.dict_items().empty();
      return Value::Tuple(
          {Value::Str(value.object_module() + "." + value.object_name()),
           ExceptionsAsTuples(has_state ? state : args)});
    }
    default:
      return value;
  }
}

}  // namespace zeo
