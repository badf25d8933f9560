#include "zeo/value.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "zeo/codec_util.h"

namespace zeo {

Value Value::Bool(bool v) {
  Value out;
  out.kind_ = Kind::kBool;
  out.bool_ = v;
  return out;
}

Value Value::Int(int64_t v) {
  Value out;
  out.kind_ = Kind::kInt;
  out.int_ = v;
  return out;
}

Value Value::BigInt(std::string le_twos_complement) {
  int64_t small;
  if (internal::TwosComplementToInt64(le_twos_complement, &small)) {
    return Int(small);
  }
  le_twos_complement.resize(
      internal::MinimalTwosComplementSize(le_twos_complement));
  Value out;
  out.kind_ = Kind::kBigInt;
  out.string_ = std::move(le_twos_complement);
  return out;
}

Value Value::Float(double v) {
  Value out;
  out.kind_ = Kind::kFloat;
  out.float_ = v;
  return out;
}

Value Value::Bytes(std::string v) {
  Value out;
  out.kind_ = Kind::kBytes;
  out.string_ = std::move(v);
  return out;
}

Value Value::Str(std::string v) {
  Value out;
  out.kind_ = Kind::kStr;
  out.string_ = std::move(v);
  return out;
}

Value Value::Tuple(Items items) {
  Value out;
  out.kind_ = Kind::kTuple;
  out.items_ = std::move(items);
  return out;
}

Value Value::List(Items items) {
  Value out;
  out.kind_ = Kind::kList;
  out.items_ = std::move(items);
  return out;
}

Value Value::Dict(DictItems items) {
  Value out;
  out.kind_ = Kind::kDict;
  out.dict_ = std::move(items);
  return out;
}

Value Value::Object(std::string module, std::string name, Value args,
                    Value state) {
  Value out;
  out.kind_ = Kind::kObject;
  out.string_ = std::move(module);
  out.name_ = std::move(name);
  out.items_.reserve(2);
  out.items_.push_back(std::move(args));
  out.items_.push_back(std::move(state));
  return out;
}

Value Value::ReduceObject(std::string module, std::string name, Value args,
                          Value state) {
  Value out = Object(std::move(module), std::move(name), std::move(args),
                     std::move(state));
  out.bool_ = true;
  return out;
}

bool Value::Truthy() const {
  switch (kind_) {
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return bool_;
    case Kind::kInt:
      return int_ != 0;
    case Kind::kBigInt:
      return true;  // normalized: never zero
    case Kind::kFloat:
      return float_ != 0.0;  // NaN is true, as in Python
    case Kind::kBytes:
    case Kind::kStr:
      return !string_.empty();
    case Kind::kTuple:
    case Kind::kList:
      return !items_.empty();
    case Kind::kDict:
      return !dict_.empty();
    case Kind::kObject:
      return true;
  }
  return false;
}

const Value* Value::Find(absl::string_view key) const {
  if (kind_ != Kind::kDict) return nullptr;
  // Backwards, so that a duplicated key yields its last value (Python's view).
  for (auto it = dict_.rbegin(); it != dict_.rend(); ++it) {
    if (it->first.kind_ == Kind::kStr && it->first.string_ == key) {
      return &it->second;
    }
  }
  return nullptr;
}

bool Value::operator==(const Value& other) const {
  if (kind_ != other.kind_) return false;
  switch (kind_) {
    case Kind::kNone:
      return true;
    case Kind::kBool:
      return bool_ == other.bool_;
    case Kind::kInt:
      return int_ == other.int_;
    case Kind::kFloat:
      return std::memcmp(&float_, &other.float_, sizeof(double)) == 0;
    case Kind::kBigInt:
    case Kind::kBytes:
    case Kind::kStr:
      return string_ == other.string_;
    case Kind::kTuple:
    case Kind::kList:
      return items_ == other.items_;
    case Kind::kDict:
      return dict_ == other.dict_;
    case Kind::kObject:
      return bool_ == other.bool_ && string_ == other.string_ &&
             name_ == other.name_ && items_ == other.items_;
  }
  return false;
}

namespace {

// Python's repr(float): the shortest digits that read back exactly; fixed
// notation for decimal exponents in [-4, 16), scientific otherwise.
std::string FloatRepr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*e", precision - 1, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  // buf is "[-]d[.ddd]e[+-]xx": split it into sign, digits and exponent.
  std::string s(buf);
  std::string sign;
  if (s[0] == '-') {
    sign = "-";
    s.erase(0, 1);
  }
  const size_t e = s.find('e');
  const int exponent = std::atoi(s.c_str() + e + 1);
  std::string digits;
  for (size_t i = 0; i < e; ++i) {
    if (s[i] != '.') digits.push_back(s[i]);
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();

  if (exponent < -4 || exponent >= 16) {
    std::string out = sign + digits.substr(0, 1);
    if (digits.size() > 1) absl::StrAppend(&out, ".", digits.substr(1));
    std::snprintf(buf, sizeof(buf), "e%c%02d", exponent < 0 ? '-' : '+',
                  std::abs(exponent));
    return out + buf;
  }
  if (exponent < 0) {
    return sign + "0." + std::string(-exponent - 1, '0') + digits;
  }
  const size_t int_digits = static_cast<size_t>(exponent) + 1;
  if (digits.size() <= int_digits) {
    return sign + digits + std::string(int_digits - digits.size(), '0') + ".0";
  }
  return sign + digits.substr(0, int_digits) + "." + digits.substr(int_digits);
}

// Decimal rendering of a little-endian two's complement integer. Quadratic, so
// absurdly long values (only possible from LONG4) are summarized instead.
std::string BigIntRepr(const std::string& le) {
  constexpr size_t kMaxBytes = 512;
  if (le.size() > kMaxBytes)
    return absl::StrCat("<int of ", le.size(), " bytes>");
  std::vector<uint8_t> mag(le.begin(), le.end());
  const bool negative = !mag.empty() && (mag.back() & 0x80) != 0;
  if (negative) {  // magnitude = ~x + 1
    unsigned carry = 1;
    for (uint8_t& b : mag) {
      const unsigned sum = static_cast<uint8_t>(~b) + carry;
      b = static_cast<uint8_t>(sum);
      carry = sum >> 8;
    }
  }
  std::string digits;
  bool nonzero = true;
  while (nonzero) {
    unsigned rem = 0;
    nonzero = false;
    for (size_t i = mag.size(); i-- > 0;) {
      const unsigned cur = (rem << 8) | mag[i];
      mag[i] = static_cast<uint8_t>(cur / 10);
      rem = cur % 10;
      if (mag[i] != 0) nonzero = true;
    }
    digits.push_back(static_cast<char>('0' + rem));
  }
  if (negative) digits.push_back('-');
  return std::string(digits.rbegin(), digits.rend());
}

// Python's quoting: single quotes unless the text has ' and no ".
char PickQuote(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  return has_single && !has_double ? '"' : '\'';
}

// repr of bytes (every byte >= 0x7f escaped) or str (UTF-8 kept as is, lone
// surrogates as \udxxx and stray bytes as \xNN, so the result is always
// UTF-8, fit for logs and protobuf strings).
std::string QuotedRepr(const std::string& s, bool is_bytes) {
  const char quote = PickQuote(s);
  std::string out = is_bytes ? "b" : "";
  out.push_back(quote);
  for (size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    const auto c = static_cast<uint8_t>(ch);
    if (!is_bytes && c >= 0x80) {
      const size_t n = internal::Utf8SequenceLength(
          absl::string_view(s).substr(i), /*allow_surrogates=*/true);
      char buf[12];
      if (n == 0) {
        std::snprintf(buf, sizeof(buf), "\\x%02x", c);
        out += buf;
      } else if (c == 0xed && static_cast<uint8_t>(s[i + 1]) >= 0xa0) {
        // U+D800..U+DFFF: three bytes 1110_1101 101x_xxxx 10xx_xxxx.
        const unsigned cp = 0xd000 |
                            ((static_cast<uint8_t>(s[i + 1]) & 0x3f) << 6) |
                            (static_cast<uint8_t>(s[i + 2]) & 0x3f);
        std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
        out += buf;
        i += n - 1;
      } else {
        out.append(s, i, n);
        i += n - 1;
      }
      continue;
    }
    if (c == static_cast<uint8_t>(quote) || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f || (is_bytes && c > 0x7f)) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(ch);
    }
  }
  out.push_back(quote);
  return out;
}

}  // namespace

std::string Value::DebugString() const {
  switch (kind_) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return bool_ ? "True" : "False";
    case Kind::kInt:
      return absl::StrCat(int_);
    case Kind::kBigInt:
      return BigIntRepr(string_);
    case Kind::kFloat:
      return FloatRepr(float_);
    case Kind::kBytes:
      return QuotedRepr(string_, /*is_bytes=*/true);
    case Kind::kStr:
      return QuotedRepr(string_, /*is_bytes=*/false);
    case Kind::kTuple:
    case Kind::kList: {
      const bool tuple = kind_ == Kind::kTuple;
      std::string out = tuple ? "(" : "[";
      for (size_t i = 0; i < items_.size(); ++i) {
        if (i > 0) out += ", ";
        out += items_[i].DebugString();
      }
      if (tuple && items_.size() == 1) out += ",";
      out += tuple ? ")" : "]";
      return out;
    }
    case Kind::kDict: {
      std::string out = "{";
      for (size_t i = 0; i < dict_.size(); ++i) {
        if (i > 0) out += ", ";
        absl::StrAppend(&out, dict_[i].first.DebugString(), ": ",
                        dict_[i].second.DebugString());
      }
      return out + "}";
    }
    case Kind::kObject: {
      const std::string path = absl::StrCat(string_, ".", name_);
      if (items_.empty() || items_[0].is_none()) {
        return absl::StrCat("<global ", path, ">");
      }
      std::string out = absl::StrCat(bool_ ? "<call " : "<object ", path,
                                     " args=", items_[0].DebugString());
      if (items_.size() > 1 && !items_[1].is_none()) {
        absl::StrAppend(&out, " state=", items_[1].DebugString());
      }
      return out + ">";
    }
  }
  return "?";
}

}  // namespace zeo
