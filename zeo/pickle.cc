#include "zeo/pickle.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "zeo/codec_util.h"

namespace zeo {
namespace {

// Opcodes (CPython Lib/pickletools.py names).
enum Op : uint8_t {
  kMark = '(',
  kStop = '.',
  kTuple = 't',
  kEmptyTuple = ')',
  kTuple1 = 0x85,
  kTuple2 = 0x86,
  kTuple3 = 0x87,
  kEmptyList = ']',
  kAppend = 'a',
  kAppends = 'e',
  kEmptyDict = '}',
  kSetItem = 's',
  kSetItems = 'u',
  kNone = 'N',
  kNewTrue = 0x88,
  kNewFalse = 0x89,
  kBinInt1 = 'K',
  kBinInt2 = 'M',
  kBinInt = 'J',
  kLong1 = 0x8a,
  kLong4 = 0x8b,
  kBinFloat = 'G',
  kBinUnicode = 'X',
  kShortBinUnicode = 0x8c,
  kShortBinBytes = 'C',
  kBinBytes = 'B',
  kShortBinString = 'U',
  kBinString = 'T',
  kBinPut = 'q',
  kLongBinPut = 'r',
  kBinGet = 'h',
  kLongBinGet = 'j',
  kMemoize = 0x94,
  kFrame = 0x95,
  kProto = 0x80,
  kGlobal = 'c',
  kStackGlobal = 0x93,
  kReduce = 'R',
  kNewObj = 0x81,
  kBuild = 'b',
};

// CPython's pickler batches APPENDS/SETITEMS in groups of this size.
constexpr size_t kBatchSize = 1000;

// ---------------------------------------------------------------------------
// Encoder: CPython's C pickler, protocol 3, fast mode (no memo).

class Encoder {
 public:
  explicit Encoder(std::string* out) : out_(out) {}

  void Begin() {
    Put(kProto);
    Put(3);
  }
  void End() { Put(kStop); }

  void Save(const Value& v) {
    switch (v.kind()) {
      case Value::Kind::kNone:
        Put(kNone);
        break;
      case Value::Kind::kBool:
        Put(v.bool_value() ? kNewTrue : kNewFalse);
        break;
      case Value::Kind::kInt:
        SaveInt(v.int_value());
        break;
      case Value::Kind::kBigInt:
        SaveLong(v.string_value());
        break;
      case Value::Kind::kFloat:
        SaveFloat(v.float_value());
        break;
      case Value::Kind::kBytes:
        SaveSized(v.string_value(), kShortBinBytes, kBinBytes);
        break;
      case Value::Kind::kStr:
        // Protocol 3 has no SHORT_BINUNICODE: every str is BINUNICODE.
        Put(kBinUnicode);
        PutU32(v.string_value().size());
        out_->append(v.string_value());
        break;
      case Value::Kind::kTuple:
        SaveTuple(v.items().size(),
                  [&v](size_t i) -> const Value& { return v.items()[i]; });
        break;
      case Value::Kind::kList:
        SaveList(v.items());
        break;
      case Value::Kind::kDict:
        SaveDict(v.dict_items());
        break;
      case Value::Kind::kObject:
        SaveObject(v);
        break;
    }
  }

  // Tuples of 0..3 items have dedicated opcodes; longer ones are MARK..TUPLE.
  template <typename Get>
  void SaveTuple(size_t n, Get get) {
    if (n == 0) {
      Put(kEmptyTuple);
      return;
    }
    if (n > 3) Put(kMark);
    for (size_t i = 0; i < n; ++i) Save(get(i));
    static constexpr uint8_t kSmall[] = {0, kTuple1, kTuple2, kTuple3};
    Put(n > 3 ? kTuple : kSmall[n]);
  }

 private:
  void Put(uint8_t b) { out_->push_back(static_cast<char>(b)); }
  void PutU32(uint64_t n) {
    // Protocol 3 cannot express 4 GiB strings; no ZEO message comes close.
    const auto v = static_cast<uint32_t>(n);
    for (int i = 0; i < 4; ++i) Put(static_cast<uint8_t>(v >> (8 * i)));
  }

  void SaveInt(int64_t v) {
    if (v >= 0 && v <= 0xff) {
      Put(kBinInt1);
      Put(static_cast<uint8_t>(v));
    } else if (v >= 0 && v <= 0xffff) {
      Put(kBinInt2);
      Put(static_cast<uint8_t>(v));
      Put(static_cast<uint8_t>(v >> 8));
    } else if (v >= std::numeric_limits<int32_t>::min() &&
               v <= std::numeric_limits<int32_t>::max()) {
      Put(kBinInt);
      PutU32(static_cast<uint32_t>(static_cast<int32_t>(v)));
    } else {
      SaveLong(internal::Int64ToTwosComplement(v));
    }
  }

  void SaveLong(absl::string_view le) {
    if (le.size() < 256) {
      Put(kLong1);
      Put(static_cast<uint8_t>(le.size()));
    } else {
      Put(kLong4);
      PutU32(le.size());
    }
    out_->append(le.data(), le.size());
  }

  void SaveFloat(double d) {
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof(bits));
    Put(kBinFloat);
    for (int i = 7; i >= 0; --i) Put(static_cast<uint8_t>(bits >> (8 * i)));
  }

  void SaveSized(const std::string& s, uint8_t short_op, uint8_t long_op) {
    if (s.size() < 256) {
      Put(short_op);
      Put(static_cast<uint8_t>(s.size()));
    } else {
      Put(long_op);
      PutU32(s.size());
    }
    out_->append(s);
  }

  // Like the C pickler (not pickle.py): a single item uses APPEND, anything
  // longer is MARK..APPENDS groups, even when the last group holds one item.
  void SaveList(const Value::Items& items) {
    Put(kEmptyList);
    if (items.size() == 1) {
      Save(items[0]);
      Put(kAppend);
      return;
    }
    for (size_t start = 0; start < items.size(); start += kBatchSize) {
      const size_t end = std::min(items.size(), start + kBatchSize);
      Put(kMark);
      for (size_t i = start; i < end; ++i) Save(items[i]);
      Put(kAppends);
    }
  }

  void SaveDict(const Value::DictItems& items) {
    Put(kEmptyDict);
    if (items.size() == 1) {
      Save(items[0].first);
      Save(items[0].second);
      Put(kSetItem);
      return;
    }
    // The C pickler's loop for dicts (not lists) runs again after every full
    // batch, so a dict of exactly k*1000 items ends with an empty MARK
    // SETITEMS.
    if (items.empty()) return;
    size_t start = 0;
    size_t batch;
    do {
      const size_t end = std::min(items.size(), start + kBatchSize);
      Put(kMark);
      for (size_t i = start; i < end; ++i) {
        Save(items[i].first);
        Save(items[i].second);
      }
      Put(kSetItems);
      batch = end - start;
      start = end;
    } while (batch == kBatchSize);
  }

  // What CPython writes for a plain class instance (copyreg.__newobj__), e.g.
  // ZopeUndo.Prefix: GLOBAL, args, NEWOBJ, state, BUILD.
  void SaveObject(const Value& v) {
    Put(kGlobal);
    out_->append(v.object_module());
    Put('\n');
    out_->append(v.object_name());
    Put('\n');
    const Value::Items& parts = v.items();
    if (parts.empty() || parts[0].is_none()) return;  // the bare global
    Save(parts[0]);
    Put(v.object_reduce() ? kReduce : kNewObj);
    if (parts.size() > 1 && !parts[1].is_none()) {
      Save(parts[1]);
      Put(kBuild);
    }
  }

  std::string* out_;
};

// ---------------------------------------------------------------------------
// Decoder. Pass 1 runs the pickle machine over an arena of nodes whose strings
// point into the input, so memo references share nodes exactly like Python
// shares objects. Pass 2 measures the tree the root expands to (depth, which
// also rejects cycles, values and string bytes) and pass 3 copies it into a
// Value only when it fits the limits.

constexpr size_t kMaxSupportedDepth = 1000;

// What a node expands to once copied out (pass 2).
struct Extent {
  bool done = false;
  uint32_t height =
      0;  // containers on the longest path down, this one included
  uint64_t values = 0;
  uint64_t string_bytes = 0;
};

struct Node {
  Value::Kind kind = Value::Kind::kNone;
  bool flag = false;  // kBool: the value; kObject: built by REDUCE
  int64_t int_value = 0;
  double float_value = 0.0;
  absl::string_view text;  // bytes, str, BigInt bytes, object module
  absl::string_view name;  // object name
  // Tuple/list items; dict keys and values interleaved; object {args[, state]}
  // (no children: the bare global).
  std::vector<uint32_t> children;
};

bool ModuleAllowed(GlobalPolicy policy, absl::string_view module) {
  switch (policy) {
    case GlobalPolicy::kServer:
      return module == "ZopeUndo.Prefix" || module == "zodbpickle" ||
             module == "builtins" || module == "copy_reg" ||
             module == "__builtin__";
    case GlobalPolicy::kClient:
      return module == "ZODB.POSException" || module == "ZEO.Exceptions" ||
             module == "builtins" || module == "ZopeUndo.Prefix" ||
             module == "BTrees" || absl::StartsWith(module, "BTrees.") ||
             module == "transaction.interfaces";
    case GlobalPolicy::kNone:
      return false;
  }
  return false;
}

const char* PolicyName(GlobalPolicy policy) {
  switch (policy) {
    case GlobalPolicy::kServer:
      return "server";
    case GlobalPolicy::kClient:
      return "client";
    case GlobalPolicy::kNone:
      return "none";
  }
  return "?";
}

class Decoder {
 public:
  Decoder(absl::string_view data, const DecodeLimits& limits,
          GlobalPolicy policy)
      : data_(data),
        limits_(limits),
        policy_(policy),
        max_depth_(std::min(limits.max_depth, kMaxSupportedDepth)) {}

  absl::StatusOr<Value> Decode() {
    if (data_.size() > limits_.max_frame_bytes) {
      return absl::OutOfRangeError(absl::StrCat("pickle: ", data_.size(),
                                                " bytes exceed the limit of ",
                                                limits_.max_frame_bytes));
    }
    bool stopped = false;
    while (!stopped) {
      if (pos_ >= data_.size()) {
        return absl::InvalidArgumentError(
            "pickle: truncated (input ends before STOP)");
      }
      op_offset_ = pos_;
      op_ = static_cast<uint8_t>(data_[pos_++]);
      absl::Status status = Step(&stopped);
      if (!status.ok()) return status;
    }
    if (pos_ != data_.size()) {
      return Error(absl::StrCat(data_.size() - pos_, " bytes after STOP"));
    }
    if (stack_.size() != 1 || !marks_.empty()) {
      return Error("STOP with a stack other than one value");
    }
    absl::Status status = MeasureRoot(stack_[0]);
    if (!status.ok()) return status;
    return Build(stack_[0], 0);
  }

 private:
  // --- Errors -------------------------------------------------------------

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrFormat(
        "pickle: %s (opcode 0x%02x at offset %d)", what, op_, op_offset_));
  }
  absl::Status Limit(absl::string_view what) const {
    return absl::OutOfRangeError(absl::StrFormat(
        "pickle: %s (opcode 0x%02x at offset %d)", what, op_, op_offset_));
  }

  // --- Input --------------------------------------------------------------

  absl::Status Take(size_t n, absl::string_view* out) {
    if (n > data_.size() - pos_) return Error("truncated argument");
    *out = data_.substr(pos_, n);
    pos_ += n;
    return absl::OkStatus();
  }

  // Little-endian unsigned of `n` bytes.
  absl::Status TakeLe(size_t n, uint64_t* out) {
    absl::string_view bytes;
    absl::Status status = Take(n, &bytes);
    if (!status.ok()) return status;
    *out = 0;
    for (size_t i = 0; i < n; ++i) {
      *out |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
    }
    return absl::OkStatus();
  }

  // A length argument of `width` bytes; `is_signed` for the int32 lengths of
  // BINSTRING and LONG4, where a negative value is malformed.
  absl::Status TakeLength(size_t width, bool is_signed, size_t* out) {
    uint64_t raw;
    absl::Status status = TakeLe(width, &raw);
    if (!status.ok()) return status;
    if (is_signed && (raw & 0x80000000u) != 0) return Error("negative length");
    *out = static_cast<size_t>(raw);
    return absl::OkStatus();
  }

  // A string body, with the size limit checked before the remaining input.
  absl::Status TakeString(size_t n, absl::string_view* out) {
    if (n > limits_.max_string_bytes) {
      return Limit(absl::StrCat("string of ", n, " bytes exceeds the limit of ",
                                limits_.max_string_bytes));
    }
    return Take(n, out);
  }

  absl::Status TakeLine(absl::string_view* out) {
    const size_t nl = data_.find('\n', pos_);
    if (nl == absl::string_view::npos) return Error("truncated GLOBAL line");
    *out = data_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    return absl::OkStatus();
  }

  // --- Stack --------------------------------------------------------------

  size_t Fence() const { return marks_.empty() ? 0 : marks_.back(); }
  size_t Available() const { return stack_.size() - Fence(); }

  absl::Status Push(Node node) {
    if (nodes_.size() >= limits_.max_values) {
      return Limit(absl::StrCat("more than ", limits_.max_values, " values"));
    }
    nodes_.push_back(std::move(node));
    stack_.push_back(static_cast<uint32_t>(nodes_.size() - 1));
    return absl::OkStatus();
  }

  absl::Status Pop(uint32_t* out) {
    if (Available() == 0) return Error("stack underflow");
    *out = stack_.back();
    stack_.pop_back();
    return absl::OkStatus();
  }

  // Removes the innermost MARK and returns the stack height it recorded.
  absl::Status PopMark(size_t* mark) {
    if (marks_.empty()) return Error("no MARK on the stack");
    *mark = marks_.back();
    marks_.pop_back();
    return absl::OkStatus();
  }

  // The node an APPEND/SETITEM/BUILD applies to: on top, above the fence.
  absl::Status Top(Value::Kind kind, uint32_t* out) {
    if (Available() == 0) return Error("stack underflow");
    *out = stack_.back();
    if (nodes_[*out].kind != kind) return Error("wrong target type");
    return absl::OkStatus();
  }

  // The container under a MARK that APPENDS/SETITEMS pops.
  absl::Status BelowMark(size_t mark, Value::Kind kind, uint32_t* out) {
    if (mark == 0 || mark - 1 < Fence())
      return Error("no container under MARK");
    *out = stack_[mark - 1];
    if (nodes_[*out].kind != kind) return Error("wrong target type");
    return absl::OkStatus();
  }

  absl::Status CheckLength(size_t n) const {
    if (n > limits_.max_container_length) {
      return Limit(absl::StrCat("container of ", n,
                                " items exceeds the limit of ",
                                limits_.max_container_length));
    }
    return absl::OkStatus();
  }

  // --- Opcodes ------------------------------------------------------------

  absl::Status PushKind(Value::Kind kind) {
    Node node;
    node.kind = kind;
    return Push(std::move(node));
  }

  absl::Status PushBool(bool v) {
    Node node;
    node.kind = Value::Kind::kBool;
    node.flag = v;
    return Push(std::move(node));
  }

  absl::Status PushInt(int64_t v) {
    Node node;
    node.kind = Value::Kind::kInt;
    node.int_value = v;
    return Push(std::move(node));
  }

  absl::Status PushLong(size_t length) {
    absl::string_view bytes;
    absl::Status status = TakeString(length, &bytes);
    if (!status.ok()) return status;
    int64_t small;
    if (internal::TwosComplementToInt64(bytes, &small)) return PushInt(small);
    Node node;
    node.kind = Value::Kind::kBigInt;
    node.text = bytes;  // Value::BigInt() trims redundant sign bytes
    return Push(std::move(node));
  }

  absl::Status PushFloat() {
    absl::string_view bytes;
    absl::Status status = Take(8, &bytes);
    if (!status.ok()) return status;
    uint64_t bits = 0;
    for (char c : bytes) bits = (bits << 8) | static_cast<uint8_t>(c);
    Node node;
    node.kind = Value::Kind::kFloat;
    std::memcpy(&node.float_value, &bits, sizeof(bits));
    return Push(std::move(node));
  }

  // How a string opcode's body reads.
  enum class Body {
    kBytes,  // BINBYTES family
    kUtf8,   // BINUNICODE: Python pickles str with "surrogatepass"
    kAscii,  // Python 2 BINSTRING: ZEO's Unpickler (zodbpickle's, with the
             // default encoding="ASCII") makes a str and fails on other bytes
  };

  absl::Status PushString(size_t width, bool is_signed, Body body) {
    size_t length;
    absl::Status status = TakeLength(width, is_signed, &length);
    if (!status.ok()) return status;
    Node node;
    node.kind = body == Body::kBytes ? Value::Kind::kBytes : Value::Kind::kStr;
    status = TakeString(length, &node.text);
    if (!status.ok()) return status;
    if (body == Body::kUtf8 &&
        !internal::IsValidUtf8(node.text, /*allow_surrogates=*/true)) {
      return Error("invalid UTF-8 in str");
    }
    if (body == Body::kAscii) {
      for (char c : node.text) {
        if (static_cast<unsigned char>(c) >= 0x80) {
          return Error("Python 2 string with non-ASCII bytes");
        }
      }
    }
    return Push(std::move(node));
  }

  absl::Status Mark() {
    // Every open MARK belongs to a container being built, so open MARKs never
    // legitimately outnumber the nesting limit.
    if (marks_.size() >= max_depth_) {
      return Limit(absl::StrCat("more than ", max_depth_, " nested MARKs"));
    }
    marks_.push_back(stack_.size());
    return absl::OkStatus();
  }

  absl::Status SmallTuple(size_t n) {
    if (Available() < n) return Error("stack underflow");
    Node node;
    node.kind = Value::Kind::kTuple;
    node.children.assign(stack_.end() - n, stack_.end());
    stack_.resize(stack_.size() - n);
    return Push(std::move(node));
  }

  absl::Status MarkTuple() {
    size_t mark;
    absl::Status status = PopMark(&mark);
    if (!status.ok()) return status;
    status = CheckLength(stack_.size() - mark);
    if (!status.ok()) return status;
    Node node;
    node.kind = Value::Kind::kTuple;
    node.children.assign(stack_.begin() + mark, stack_.end());
    stack_.resize(mark);
    return Push(std::move(node));
  }

  absl::Status Append() {
    uint32_t item, list;
    absl::Status status = Pop(&item);
    if (status.ok()) status = Top(Value::Kind::kList, &list);
    if (status.ok()) status = CheckLength(nodes_[list].children.size() + 1);
    if (!status.ok()) return status;
    nodes_[list].children.push_back(item);
    return absl::OkStatus();
  }

  absl::Status SetItem() {
    uint32_t key, value, dict;
    absl::Status status = Pop(&value);
    if (status.ok()) status = Pop(&key);
    if (status.ok()) status = Top(Value::Kind::kDict, &dict);
    if (status.ok()) status = CheckLength(nodes_[dict].children.size() / 2 + 1);
    if (!status.ok()) return status;
    nodes_[dict].children.push_back(key);
    nodes_[dict].children.push_back(value);
    return absl::OkStatus();
  }

  // APPENDS (per_item 1) and SETITEMS (per_item 2).
  absl::Status Extend(Value::Kind kind, size_t per_item) {
    size_t mark;
    uint32_t target;
    absl::Status status = PopMark(&mark);
    if (status.ok()) status = BelowMark(mark, kind, &target);
    if (!status.ok()) return status;
    const size_t n = stack_.size() - mark;
    if (n % per_item != 0) return Error("odd number of SETITEMS values");
    std::vector<uint32_t>& children = nodes_[target].children;
    status = CheckLength((children.size() + n) / per_item);
    if (!status.ok()) return status;
    children.insert(children.end(), stack_.begin() + mark, stack_.end());
    stack_.resize(mark);
    return absl::OkStatus();
  }

  absl::Status PushGlobal(absl::string_view module, absl::string_view name) {
    // A name with a control character can name nothing Python imports, and
    // the GLOBAL opcode we re-encode with could not even carry a '\n' (found
    // by pickle_fuzzer through STACK_GLOBAL).
    auto has_control = [](absl::string_view text) {
      for (char c : text) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
      }
      return false;
    };
    if (module.empty() || name.empty() || !internal::IsValidUtf8(module) ||
        !internal::IsValidUtf8(name) || has_control(module) ||
        has_control(name)) {
      return Error("malformed global name");
    }
    if (!ModuleAllowed(policy_, module)) {
      return Error(absl::StrCat("global '", module, ".", name,
                                "' is not allowed (policy ",
                                PolicyName(policy_), ")"));
    }
    Node node;
    node.kind = Value::Kind::kObject;
    node.text = module;
    node.name = name;
    return Push(std::move(node));
  }

  absl::Status Global() {
    absl::string_view module, name;
    absl::Status status = TakeLine(&module);
    if (status.ok()) status = TakeLine(&name);
    if (!status.ok()) return status;
    return PushGlobal(module, name);
  }

  absl::Status StackGlobal() {
    uint32_t module, name;
    absl::Status status = Pop(&name);
    if (status.ok()) status = Pop(&module);
    if (!status.ok()) return status;
    if (nodes_[module].kind != Value::Kind::kStr ||
        nodes_[name].kind != Value::Kind::kStr) {
      return Error("STACK_GLOBAL needs two str");
    }
    return PushGlobal(nodes_[module].text, nodes_[name].text);
  }

  // REDUCE and NEWOBJ: a bare global applied to an args tuple.
  absl::Status Instantiate(bool reduce) {
    uint32_t args, callable;
    absl::Status status = Pop(&args);
    if (status.ok()) status = Pop(&callable);
    if (!status.ok()) return status;
    const Node& global = nodes_[callable];
    if (global.kind != Value::Kind::kObject || !global.children.empty()) {
      return Error("REDUCE/NEWOBJ needs a global");
    }
    if (nodes_[args].kind != Value::Kind::kTuple) {
      return Error("REDUCE/NEWOBJ needs an args tuple");
    }
    Node node;
    node.kind = Value::Kind::kObject;
    node.flag = reduce;
    node.text = global.text;
    node.name = global.name;
    node.children.push_back(args);
    return Push(std::move(node));
  }

  absl::Status Build() {
    uint32_t state, object;
    absl::Status status = Pop(&state);
    if (status.ok()) status = Top(Value::Kind::kObject, &object);
    if (!status.ok()) return status;
    if (nodes_[object].children.size() != 1) {
      return Error("BUILD needs an object built once");
    }
    nodes_[object].children.push_back(state);
    return absl::OkStatus();
  }

  absl::Status Memo(uint64_t key) {
    if (Available() == 0) return Error("stack underflow");
    memo_[key] = stack_.back();
    return absl::OkStatus();
  }

  absl::Status Get(uint64_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end())
      return Error(absl::StrCat("memo key ", key, " unset"));
    stack_.push_back(it->second);
    return absl::OkStatus();
  }

  absl::Status Step(bool* stopped) {
    uint64_t n;
    absl::Status status;
    switch (op_) {
      case kProto:
        if (op_offset_ != 0) return Error("PROTO not at the start");
        status = TakeLe(1, &n);
        if (status.ok() && n > 5) return Error("unknown protocol");
        return status;
      case kFrame:  // protocol 4 framing carries no value
        status = TakeLe(8, &n);
        if (status.ok() && n > data_.size() - pos_) return Error("bad FRAME");
        return status;
      case kStop:
        *stopped = true;
        return absl::OkStatus();
      case kMark:
        return Mark();
      case kEmptyTuple:
        return PushKind(Value::Kind::kTuple);
      case kTuple1:
        return SmallTuple(1);
      case kTuple2:
        return SmallTuple(2);
      case kTuple3:
        return SmallTuple(3);
      case kTuple:
        return MarkTuple();
      case kEmptyList:
        return PushKind(Value::Kind::kList);
      case kAppend:
        return Append();
      case kAppends:
        return Extend(Value::Kind::kList, 1);
      case kEmptyDict:
        return PushKind(Value::Kind::kDict);
      case kSetItem:
        return SetItem();
      case kSetItems:
        return Extend(Value::Kind::kDict, 2);
      case kNone:
        return PushKind(Value::Kind::kNone);
      case kNewTrue:
        return PushBool(true);
      case kNewFalse:
        return PushBool(false);
      case kBinInt1:
        status = TakeLe(1, &n);
        return status.ok() ? PushInt(static_cast<int64_t>(n)) : status;
      case kBinInt2:
        status = TakeLe(2, &n);
        return status.ok() ? PushInt(static_cast<int64_t>(n)) : status;
      case kBinInt:
        status = TakeLe(4, &n);
        return status.ok() ? PushInt(static_cast<int32_t>(n)) : status;
      case kLong1:
        status = TakeLe(1, &n);
        return status.ok() ? PushLong(n) : status;
      case kLong4: {
        size_t length;
        status = TakeLength(4, /*is_signed=*/true, &length);
        return status.ok() ? PushLong(length) : status;
      }
      case kBinFloat:
        return PushFloat();
      case kBinUnicode:
        return PushString(4, false, Body::kUtf8);
      case kShortBinUnicode:
        return PushString(1, false, Body::kUtf8);
      case kBinBytes:
        return PushString(4, false, Body::kBytes);
      case kShortBinBytes:
        return PushString(1, false, Body::kBytes);
      case kBinString:
        return PushString(4, true, Body::kAscii);
      case kShortBinString:
        return PushString(1, false, Body::kAscii);
      case kBinPut:
        status = TakeLe(1, &n);
        return status.ok() ? Memo(n) : status;
      case kLongBinPut:
        status = TakeLe(4, &n);
        return status.ok() ? Memo(n) : status;
      case kMemoize:
        return Memo(memo_.size());
      case kBinGet:
        status = TakeLe(1, &n);
        return status.ok() ? Get(n) : status;
      case kLongBinGet:
        status = TakeLe(4, &n);
        return status.ok() ? Get(n) : status;
      case kGlobal:
        return Global();
      case kStackGlobal:
        return StackGlobal();
      case kReduce:
        return Instantiate(/*reduce=*/true);
      case kNewObj:
        return Instantiate(/*reduce=*/false);
      case kBuild:
        return Build();
      default:
        return Error("unsupported opcode");
    }
  }

  // --- Pass 2: measure --------------------------------------------------

  static bool IsContainer(const Node& node) {
    return node.kind == Value::Kind::kTuple ||
           node.kind == Value::Kind::kList || node.kind == Value::Kind::kDict ||
           (node.kind == Value::Kind::kObject && !node.children.empty());
  }

  static uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
    return a > std::numeric_limits<uint64_t>::max() - b
               ? std::numeric_limits<uint64_t>::max()
               : a + b;
  }

  absl::Status DepthError() const {
    return absl::OutOfRangeError(absl::StrCat("pickle: nesting deeper than ",
                                              max_depth_, " (or a cycle)"));
  }

  // Size of the tree below `index` once shared nodes are copied out, computed
  // once per node so that a memo bomb is refused in time linear in the input.
  // `depth` = containers enclosing the node; a cycle shows up as unbounded
  // depth, so the recursion is bounded by max_depth_.
  absl::Status Measure(uint32_t index, size_t depth) {
    if (extents_[index].done) {
      return depth + extents_[index].height > max_depth_ ? DepthError()
                                                         : absl::OkStatus();
    }
    const Node& node = nodes_[index];
    const bool container = IsContainer(node);
    if (container && depth + 1 > max_depth_) return DepthError();
    Extent extent;
    extent.values = 1;
    extent.string_bytes = node.text.size() + node.name.size();
    for (uint32_t child : node.children) {
      absl::Status status = Measure(child, depth + 1);
      if (!status.ok()) return status;
      const Extent& sub = extents_[child];
      extent.values = SaturatingAdd(extent.values, sub.values);
      extent.string_bytes =
          SaturatingAdd(extent.string_bytes, sub.string_bytes);
      extent.height = std::max(extent.height, sub.height);
    }
    if (container) ++extent.height;
    extent.done = true;
    extents_[index] = extent;
    return absl::OkStatus();
  }

  absl::Status MeasureRoot(uint32_t root) {
    extents_.assign(nodes_.size(), Extent());
    absl::Status status = Measure(root, 0);
    if (!status.ok()) return status;
    const Extent& extent = extents_[root];
    if (extent.values > limits_.max_values) {
      return absl::OutOfRangeError(
          absl::StrCat("pickle: value of ", extent.values,
                       " nodes (memo copies included) exceeds the limit of ",
                       limits_.max_values));
    }
    // Without memo sharing the strings cannot exceed the input; with it they
    // could grow exponentially, so the frame limit bounds them too.
    if (extent.string_bytes > limits_.max_frame_bytes) {
      return absl::OutOfRangeError(
          absl::StrCat("pickle: strings of ", extent.string_bytes,
                       " bytes (memo copies included) exceed the limit of ",
                       limits_.max_frame_bytes));
    }
    return absl::OkStatus();
  }

  // --- Pass 3: copy out ---------------------------------------------------

  absl::Status BuildChildren(const std::vector<uint32_t>& children,
                             size_t depth, Value::Items* out) {
    out->reserve(children.size());
    for (uint32_t child : children) {
      absl::StatusOr<Value> v = Build(child, depth);
      if (!v.ok()) return v.status();
      out->push_back(*std::move(v));
    }
    return absl::OkStatus();
  }

  // Copies node `index`, enclosed by `depth` containers, out of the arena.
  // MeasureRoot has bounded the result; the depth check only guards recursion.
  absl::StatusOr<Value> Build(uint32_t index, size_t depth) {
    const Node& node = nodes_[index];
    if (IsContainer(node) && depth + 1 > max_depth_) return DepthError();
    absl::Status status;
    switch (node.kind) {
      case Value::Kind::kNone:
        return Value::None();
      case Value::Kind::kBool:
        return Value::Bool(node.flag);
      case Value::Kind::kInt:
        return Value::Int(node.int_value);
      case Value::Kind::kBigInt:
        return Value::BigInt(std::string(node.text));
      case Value::Kind::kFloat:
        return Value::Float(node.float_value);
      case Value::Kind::kBytes:
        return Value::Bytes(std::string(node.text));
      case Value::Kind::kStr:
        return Value::Str(std::string(node.text));
      case Value::Kind::kTuple:
      case Value::Kind::kList: {
        Value::Items items;
        status = BuildChildren(node.children, depth + 1, &items);
        if (!status.ok()) return status;
        return node.kind == Value::Kind::kTuple ? Value::Tuple(std::move(items))
                                                : Value::List(std::move(items));
      }
      case Value::Kind::kDict: {
        Value::Items flat;
        status = BuildChildren(node.children, depth + 1, &flat);
        if (!status.ok()) return status;
        Value::DictItems items;
        items.reserve(flat.size() / 2);
        for (size_t i = 0; i + 1 < flat.size(); i += 2) {
          items.emplace_back(std::move(flat[i]), std::move(flat[i + 1]));
        }
        return Value::Dict(std::move(items));
      }
      case Value::Kind::kObject: {
        Value::Items parts;
        status = BuildChildren(node.children, depth + 1, &parts);
        if (!status.ok()) return status;
        parts.resize(2);  // absent args/state are None
        auto make = node.flag ? &Value::ReduceObject : &Value::Object;
        return make(std::string(node.text), std::string(node.name),
                    std::move(parts[0]), std::move(parts[1]));
      }
    }
    return absl::InternalError("pickle: unknown node kind");
  }

  const absl::string_view data_;
  const DecodeLimits& limits_;
  const GlobalPolicy policy_;
  const size_t max_depth_;

  size_t pos_ = 0;
  size_t op_offset_ = 0;
  uint8_t op_ = 0;
  std::vector<Node> nodes_;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;
  absl::flat_hash_map<uint64_t, uint32_t> memo_;
  std::vector<Extent> extents_;
};

}  // namespace

std::string EncodePickle(const Value& value) {
  std::string out;
  Encoder encoder(&out);
  encoder.Begin();
  encoder.Save(value);
  encoder.End();
  return out;
}

std::string EncodePickleTuple(absl::Span<const Value* const> items) {
  std::string out;
  Encoder encoder(&out);
  encoder.Begin();
  encoder.SaveTuple(items.size(),
                    [&items](size_t i) -> const Value& { return *items[i]; });
  encoder.End();
  return out;
}

absl::StatusOr<Value> DecodePickle(absl::string_view data,
                                   const DecodeLimits& limits,
                                   GlobalPolicy policy) {
  return Decoder(data, limits, policy).Decode();
}

}  // namespace zeo
