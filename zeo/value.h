// zeo::Value: the dynamically typed values ZEO messages carry (the Python
// objects a ZEO peer pickles: None, bool, int, float, bytes, str, tuple, list,
// dict), plus an opaque "object" node for the few pickle globals ZEO lets
// through (ZopeUndo Prefix, exotic exception states).
#ifndef ZEORAID_ZEO_VALUE_H_
#define ZEORAID_ZEO_VALUE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace zeo {

class Value {
 public:
  enum class Kind {
    kNone,
    kBool,
    kInt,     // fits in int64_t
    kBigInt,  // outside int64_t: little-endian two's complement, minimal (LONG1
              // form)
    kFloat,
    kBytes,
    kStr,  // UTF-8 text
    kTuple,
    kList,
    kDict,    // insertion order kept
    kObject,  // built from a pickle global: module, name, args, state
  };
  using Items = std::vector<Value>;
  using DictItems = std::vector<std::pair<Value, Value>>;

  Value() = default;  // None
  static Value None() { return Value(); }
  static Value Bool(bool v);
  static Value Int(int64_t v);
  // Normalizes: redundant sign bytes are dropped and a value that fits in
  // int64_t becomes an Int, so every integer has exactly one representation.
  static Value BigInt(std::string le_twos_complement);
  static Value Float(double v);
  static Value Bytes(std::string v);
  static Value Str(std::string v);
  static Value Tuple(Items items);
  static Value List(Items items);
  static Value Dict(DictItems items);
  static Value Object(std::string module, std::string name, Value args,
                      Value state);
  // An object built by calling the global (pickle REDUCE, e.g. exceptions and
  // most __reduce__ results) rather than by cls.__new__ (NEWOBJ, what Object()
  // stands for). Kept apart so that re-encoding reproduces the original opcode.
  // With args None, Object()/ReduceObject() denote the bare global itself
  // (e.g. a class passed as an argument); state is then ignored by encoders.
  static Value ReduceObject(std::string module, std::string name, Value args,
                            Value state);

  Kind kind() const { return kind_; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_bytes() const { return kind_ == Kind::kBytes; }
  bool is_str() const { return kind_ == Kind::kStr; }
  bool is_tuple() const { return kind_ == Kind::kTuple; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_sequence() const { return is_tuple() || is_list(); }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  bool is_big_int() const { return kind_ == Kind::kBigInt; }
  bool is_object() const { return kind_ == Kind::kObject; }

  // Accessors. Calling one for the wrong kind returns the zero value of its
  // type.
  bool bool_value() const { return kind_ == Kind::kBool && bool_; }
  int64_t int_value() const { return kind_ == Kind::kInt ? int_ : 0; }
  double float_value() const { return kind_ == Kind::kFloat ? float_ : 0.0; }
  // Bytes, str, and BigInt's raw little-endian bytes.
  const std::string& string_value() const { return string_; }
  // Tuple and list elements.
  const Items& items() const { return items_; }
  Items& mutable_items() { return items_; }
  const DictItems& dict_items() const { return dict_; }
  DictItems& mutable_dict_items() { return dict_; }
  // Object parts: module and name of the global; args and state are
  // items()[0..1].
  const std::string& object_module() const { return string_; }
  const std::string& object_name() const { return name_; }
  // True for ReduceObject(), false for Object() and every other kind.
  bool object_reduce() const { return kind_ == Kind::kObject && bool_; }

  // Python truthiness (how ZEO peers read the flag of a message).
  bool Truthy() const;
  // Dict lookup by str key; nullptr when absent or when this is not a dict.
  // Decoded dicts keep duplicate keys as sent; the last one wins, as in Python.
  const Value* Find(absl::string_view key) const;

  // Structural equality (a tuple never equals a list; Int never equals Bool).
  // Floats compare by bit pattern (NaN equals itself, 0.0 differs from -0.0),
  // dicts item by item in order.
  bool operator==(const Value& other) const;
  bool operator!=(const Value& other) const { return !(*this == other); }

  // Python-repr-like rendering for logs and test failures.
  std::string DebugString() const;

 private:
  Kind kind_ = Kind::kNone;
  bool bool_ = false;
  int64_t int_ = 0;
  double float_ = 0.0;
  std::string string_;
  std::string name_;
  Items items_;
  DictItems dict_;
};

}  // namespace zeo

#endif  // ZEORAID_ZEO_VALUE_H_
