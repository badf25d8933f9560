#include "zeo/pickle.h"

#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace zeo {
namespace {

std::string Hex(absl::string_view s) { return absl::BytesToHexString(s); }
std::string Unhex(absl::string_view h) { return absl::HexStringToBytes(h); }

// A string literal with its embedded NULs.
template <size_t N>
std::string B(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

// Protocol header + body + STOP.
std::string P(absl::string_view body) {
  return absl::StrCat("\x80\x03", body, ".");
}
template <size_t N>
std::string P(const char (&literal)[N]) {
  return P(B(literal));
}

// Encodes `v`, checks the bytes, decodes them back and checks the value.
void ExpectBytes(const Value& v, absl::string_view expected_hex) {
  const std::string encoded = EncodePickle(v);
  EXPECT_EQ(Hex(encoded), expected_hex) << v.DebugString();
  absl::StatusOr<Value> decoded = DecodePickle(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status() << " " << v.DebugString();
  EXPECT_EQ(*decoded, v) << decoded->DebugString();
}

Value BigIntFromHex(absl::string_view le_hex) {
  return Value::BigInt(Unhex(le_hex));
}

// ---------------------------------------------------------------------------
// Encoder: byte-exact CPython output (expected bytes produced by CPython 3.11's
// pickle.Pickler(f, 3) with fast = 1).

TEST(PickleEncodeTest, Scalars) {
  ExpectBytes(Value::None(), "80034e2e");
  ExpectBytes(Value::Bool(true), "8003882e");
  ExpectBytes(Value::Bool(false), "8003892e");
  ExpectBytes(Value::Float(1.5),
              "800347"
              "3ff8000000000000"
              "2e");
  ExpectBytes(Value::Float(1e300),
              "800347"
              "7e37e43c8800759c"
              "2e");
  ExpectBytes(Value::Str("\xc3\xa9"),
              "800358"
              "02000000"
              "c3a9"
              "2e");
  ExpectBytes(Value::Str(""),
              "800358"
              "00000000"
              "2e");
  ExpectBytes(Value::Bytes("xxx"),
              "800343"
              "03"
              "787878"
              "2e");
}

TEST(PickleEncodeTest, IntsPickTheFirstFittingOpcode) {
  ExpectBytes(Value::Int(0), "80034b002e");
  ExpectBytes(Value::Int(255), "80034bff2e");
  ExpectBytes(Value::Int(256), "80034d00012e");
  ExpectBytes(Value::Int(65535), "80034dffff2e");
  ExpectBytes(Value::Int(65536), "80034a000001002e");
  ExpectBytes(Value::Int(-1), "80034affffffff2e");
  ExpectBytes(Value::Int(std::numeric_limits<int32_t>::min()),
              "80034a000000802e");
  ExpectBytes(Value::Int(std::numeric_limits<int32_t>::max()),
              "80034affffff7f2e");
  ExpectBytes(Value::Int(int64_t{1} << 31),
              "80038a05000000800"
              "02e");
  ExpectBytes(Value::Int(-(int64_t{1} << 31) - 1), "80038a05ffffff7fff2e");
  ExpectBytes(Value::Int(std::numeric_limits<int64_t>::min()),
              "80038a0800000000000000802e");
  // id(txn) from the spec: 140198608540624.
  ExpectBytes(Value::Int(140198608540624), "80038a06d0934288827f2e");
  ExpectBytes(Value::Int(int64_t{1} << 40),
              "80038a0600000000000"
              "12e");
}

TEST(PickleEncodeTest, BigInts) {
  ExpectBytes(BigIntFromHex("00000000000000"
                            "80"
                            "00"),  // 2^63
              "80038a09000000000000008000"
              "2e");
  ExpectBytes(BigIntFromHex("ffffffffffffff7fff"),  // -2^63 - 1
              "80038a09ffffffffffffff7fff2e");
  ExpectBytes(BigIntFromHex("ffffffffffffffff00"),  // 2^64 - 1
              "80038a09ffffffffffffffff002e");
  ExpectBytes(BigIntFromHex("000000000000000040"),  // 2^70
              "80038a090000000000000000402e");
  // -2^2040 needs 256 bytes: LONG4.
  const std::string minus = std::string(255, '\0') + "\xff";
  ExpectBytes(Value::BigInt(minus), "80038b00010000" + Hex(minus) + "2e");
}

TEST(PickleEncodeTest, BytesSizes) {
  const std::string b255(255, 'b'), b256(256, 'b');
  ExpectBytes(Value::Bytes(b255), "800343ff" + Hex(b255) + "2e");
  ExpectBytes(Value::Bytes(b256), "80034200010000" + Hex(b256) + "2e");
  const std::string s300(300, 's');
  ExpectBytes(Value::Str(s300), "8003582c010000" + Hex(s300) + "2e");
}

TEST(PickleEncodeTest, Tuples) {
  const Value one = Value::Int(1);
  ExpectBytes(Value::Tuple({}), "8003292e");
  ExpectBytes(Value::Tuple({one}), "80034b01852e");
  ExpectBytes(Value::Tuple({one, one}), "80034b014b01862e");
  ExpectBytes(Value::Tuple({one, one, one}), "80034b014b014b01872e");
  ExpectBytes(Value::Tuple({one, one, one, one}), "8003284b014b014b014b01742e");
}

TEST(PickleEncodeTest, ListsBatchLikeTheCPickler) {
  ExpectBytes(Value::List({}), "80035d2e");
  ExpectBytes(Value::List({Value::Int(1)}), "80035d4b01612e");
  ExpectBytes(Value::List({Value::Int(1), Value::Int(2)}),
              "80035d284b014b02652e");
  Value::Items items;
  std::string body;
  for (int i = 0; i < 1001; ++i) {
    items.push_back(Value::Int(i));
    body += Hex(EncodePickle(Value::Int(i))).substr(4, std::string::npos);
    body.resize(body.size() - 2);  // drop the STOP
    if (i == 999)
      body +=
          "65"
          "28";  // APPENDS, then a new MARK
  }
  ExpectBytes(Value::List(items), "80035d28" + body + "652e");
}

TEST(PickleEncodeTest, DictsBatchLikeTheCPickler) {
  ExpectBytes(Value::Dict({}), "80037d2e");
  ExpectBytes(Value::Dict({{Value::Int(1), Value::Int(2)}}),
              "80037d4b014b02732e");
  ExpectBytes(Value::Dict({{Value::Int(1), Value::Int(2)},
                           {Value::Str("a"), Value::None()}}),
              "80037d284b014b0258010000"
              "00614e752e");
  Value::DictItems items;
  for (int i = 0; i < 1001; ++i) items.emplace_back(Value::Int(i), Value());
  const std::string encoded = EncodePickle(Value::Dict(items));
  // CPython: ... M\xe7\x03 N u ( M\xe8\x03 N u .
  EXPECT_EQ(Hex(encoded.substr(encoded.size() - 12)),
            "4de7034e75"
            "28"
            "4de8034e75"
            "2e");
  // A dict of exactly 1000 items ends with an empty MARK SETITEMS (the C
  // pickler's batch loop runs once more after a full batch); lists do not.
  items.pop_back();
  const std::string full = EncodePickle(Value::Dict(items));
  EXPECT_EQ(Hex(full.substr(full.size() - 5)),
            "4e75"
            "2875"
            "2e");
  Value::Items list(1000, Value());
  const std::string full_list = EncodePickle(Value::List(list));
  EXPECT_EQ(Hex(full_list.substr(full_list.size() - 3)), "4e652e");
}

TEST(PickleDecodeTest, GlobalNamesWithControlCharactersAreRefused) {
  // STACK_GLOBAL with name "Prefix\nx": GLOBAL could not re-encode it.
  const std::string payload(
      "\x80\x04X\x0f\x00\x00\x00ZopeUndo.PrefixX\x08\x00\x00\x00Prefix\nx"
      "\x93.",
      37);
  absl::StatusOr<Value> v = DecodePickle(payload);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("malformed global"), std::string::npos)
      << v.status();
}

TEST(PickleDecodeTest, LoneSurrogatesPassLikePythonsSurrogatepass) {
  const std::string payload("\x80\x03X\x03\x00\x00\x00\xed\xb3\xbf.", 11);
  absl::StatusOr<Value> v = DecodePickle(payload);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(EncodePickle(*v), payload);
}

TEST(PickleEncodeTest, ZopeUndoPrefixAsCPythonWritesIt) {
  // {'user_name': Prefix('/a/b')} from CPython with the real class layout.
  const Value prefix = Value::Object(
      "ZopeUndo.Prefix", "Prefix", Value::Tuple({}),
      Value::Dict(
          {{Value::Str("length"), Value::Int(3)},
           {Value::Str("path"),
            Value::List({Value::Str(""), Value::Str("a"), Value::Str("b")})}}));
  ExpectBytes(
      Value::Dict({{Value::Str("user_name"), prefix}}),
      "80037d5809000000757365725f6e616d65635a6f7065556e646f2e5072656669780a5072"
      "656669780a29817d2858060000006c656e6774684b035804000000706174685d28580000"
      "000058010000006158010000006265756273"
      "2e");
}

TEST(PickleEncodeTest, ReduceObjectsAndBareGlobals) {
  // ValueError('x') as CPython pickles it.
  ExpectBytes(Value::ReduceObject("builtins", "ValueError",
                                  Value::Tuple({Value::Str("x")}), Value()),
              "8003636275696c74696e730a56616c75654572726f720a5801000000788552"
              "2e");
  ExpectBytes(Value::Object("builtins", "KeyError", Value(), Value()),
              "8003636275696c74696e730a4b65794572726f720a2e");
}

TEST(PickleEncodeTest, TupleHelperMatchesTuple) {
  const Value a = Value::Int(7), b = Value::Bytes(std::string(300, 'r'));
  const Value c = Value::Str(".reply"), d = Value::None();
  const Value* parts[] = {&a, &b, &c, &d};
  EXPECT_EQ(EncodePickleTuple(parts), EncodePickle(Value::Tuple({a, b, c, d})));
  const Value* two[] = {&a, &b};
  EXPECT_EQ(EncodePickleTuple(two), EncodePickle(Value::Tuple({a, b})));
}

TEST(PickleEncodeTest, HeartbeatFromTheSpec) {
  const Value hb = Value::Tuple(
      {Value::Int(-1), Value::Int(0), Value::Str(".reply"), Value::None()});
  ExpectBytes(hb, "8003284affffffff4b0058060000002e7265706c794e742e");
}

// ---------------------------------------------------------------------------
// Decoder: extra opcodes other picklers use.

TEST(PickleDecodeTest, Protocol4WithFramesMemoizeAndShortBinUnicode) {
  // pickle.dumps((1, 'abc', b'xy', [1, 2], {'k': (3,)}, 2**70, 1.5), 4)
  absl::StatusOr<Value> v = DecodePickle(Unhex(
      "8004953800000000000000284b018c036162639443027879945d94284b014b02657d94"
      "8c016b944b038594738a09000000000000000040473ff800000000000074942e"));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(
      *v, Value::Tuple(
              {Value::Int(1), Value::Str("abc"), Value::Bytes("xy"),
               Value::List({Value::Int(1), Value::Int(2)}),
               Value::Dict({{Value::Str("k"), Value::Tuple({Value::Int(3)})}}),
               BigIntFromHex("000000000000000040"), Value::Float(1.5)}));
}

TEST(PickleDecodeTest, MemoSharesMutableContainersLikePython) {
  // x = [b'abc']; pickle.dumps([x, x, {'a': x}], 3): BINPUT stores the inner
  // list before its APPENDS, BINGET must see it filled.
  absl::StatusOr<Value> v = DecodePickle(
      Unhex("80035d7100285d7101430361626371026168017d71035801000000617104680173"
            "652e"));
  ASSERT_TRUE(v.ok()) << v.status();
  const Value x = Value::List({Value::Bytes("abc")});
  EXPECT_EQ(*v, Value::List({x, x, Value::Dict({{Value::Str("a"), x}})}));
}

TEST(PickleDecodeTest, Python2StringsAreAsciiStrAndLong4IsInt) {
  // SHORT_BINSTRING 'ab', BINSTRING 'c', LONG4 of 2 bytes (-2): as ZEO's
  // Unpickler (zodbpickle, encoding="ASCII") reads them.
  absl::StatusOr<Value> v =
      DecodePickle(P(Unhex("55026162"
                           "540100000063"
                           "8b02000000feff"
                           "87")));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v,
            Value::Tuple({Value::Str("ab"), Value::Str("c"), Value::Int(-2)}));
  // Non-ASCII bytes: zodbpickle raises UnicodeDecodeError.
  EXPECT_FALSE(DecodePickle(P(Unhex("5502c3a9"))).ok());
  EXPECT_FALSE(DecodePickle(P(Unhex("540100000080"))).ok());
}

TEST(PickleDecodeTest, MemoizeAndLongBinGet) {
  // 'a' MEMOIZE (key 0), LONG_BINGET 0, TUPLE2
  absl::StatusOr<Value> v =
      DecodePickle(P(Unhex("58010000006194"
                           "6a00000000"
                           "86")));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, Value::Tuple({Value::Str("a"), Value::Str("a")}));
}

TEST(PickleDecodeTest, StackGlobalNewObjBuild) {
  // 'ZopeUndo.Prefix' 'Prefix' STACK_GLOBAL () NEWOBJ {} BUILD
  absl::StatusOr<Value> v = DecodePickle(
      P(Unhex("8c0f5a6f7065556e646f2e5072656669788c06507265666978932981"
              "7d62")));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, Value::Object("ZopeUndo.Prefix", "Prefix", Value::Tuple({}),
                              Value::Dict({})));
}

TEST(PickleDecodeTest, LongOpcodesNormalize) {
  // LONG1 with redundant sign bytes -> Int(1); LONG1 0 bytes -> Int(0).
  absl::StatusOr<Value> v =
      DecodePickle(P(Unhex("8a0301000"
                           "0"
                           "8a0086")));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, Value::Tuple({Value::Int(1), Value::Int(0)}));
}

TEST(PickleDecodeTest, DuplicateDictKeysAreKept) {
  absl::StatusOr<Value> v =
      DecodePickle(P(Unhex("7d28580100000061"
                           "4b01"
                           "5801000000614b0275")));
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->dict_items().size(), 2u);
  EXPECT_EQ(*v->Find("a"), Value::Int(2));
}

TEST(PickleDecodeTest, AnyValueAsDictKey) {
  const Value d = Value::Dict({{Value::List({Value::Int(1)}), Value::Int(2)},
                               {Value::Dict({}), Value::None()}});
  absl::StatusOr<Value> v = DecodePickle(EncodePickle(d));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, d);
}

// ---------------------------------------------------------------------------
// Decoder: malformed input.

void ExpectInvalid(absl::string_view data, absl::string_view fragment = "") {
  absl::StatusOr<Value> v = DecodePickle(data);
  ASSERT_FALSE(v.ok()) << Hex(data) << " -> " << v->DebugString();
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument)
      << v.status();
  EXPECT_NE(v.status().message().find(std::string(fragment)),
            absl::string_view::npos)
      << v.status();
}

void ExpectOutOfRange(absl::string_view data,
                      const DecodeLimits& limits = DecodeLimits()) {
  absl::StatusOr<Value> v = DecodePickle(data, limits);
  ASSERT_FALSE(v.ok()) << Hex(data);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kOutOfRange) << v.status();
}

TEST(PickleDecodeTest, RejectsMalformedInput) {
  ExpectInvalid("", "truncated");
  ExpectInvalid("\x80\x03", "truncated");
  ExpectInvalid("\x80\x03N", "truncated");
  ExpectInvalid(P("I01\n"), "unsupported opcode");  // text INT
  ExpectInvalid(P("\x8f"), "unsupported opcode");   // EMPTY_SET
  ExpectInvalid(P("N0"), "unsupported opcode");     // POP
  ExpectInvalid(P(""), "STOP with a stack");
  ExpectInvalid(P("NN"), "STOP with a stack");
  ExpectInvalid(P("(N"), "STOP with a stack");
  ExpectInvalid(P("\x85"), "stack underflow");
  ExpectInvalid(P("t"), "no MARK");
  ExpectInvalid(P("(\x85"), "stack underflow");  // TUPLE1 across a MARK
  ExpectInvalid(P("N(a"), "stack underflow");    // APPEND across a MARK
  ExpectInvalid(P("N(Ne"), "wrong target");      // APPENDS on None
  ExpectInvalid(P("(Ne"), "no container");
  ExpectInvalid(P("}(Nu"), "odd number");
  ExpectInvalid(P("]NNs"), "wrong target");  // SETITEM on a list
  ExpectInvalid(P("}Na"), "wrong target");   // APPEND on a dict
  ExpectInvalid("\x80\x03N.N", "after STOP");
  ExpectInvalid("N\x80\x03.", "PROTO not at the start");
  ExpectInvalid("\x80\x07N.", "unknown protocol");
  ExpectInvalid(P("X\x02\x00\x00\x00\xc3\x28"), "UTF-8");
  ExpectInvalid(P("X\x02\x00\x00\x00\xc0\x80"), "UTF-8");  // overlong
  ExpectInvalid(P("h\x05"), "memo key 5");
  ExpectInvalid(P("q\x00"), "stack underflow");
  ExpectInvalid(P("T\xff\xff\xff\xff"), "negative length");
  ExpectInvalid(P("\x8b\xfe\xff\xff\xff"), "negative length");
  ExpectInvalid(P(")R"), "stack underflow");
  ExpectInvalid(P("N)R"), "needs a global");
  ExpectInvalid(P("cbuiltins\nset\nN\x81"), "args tuple");
  ExpectInvalid(P("cbuiltins\nset\nNb"), "built once");  // BUILD on a global
  ExpectInvalid(P("cbuiltins\nset\n)\x81NbNb"), "built once");
  ExpectInvalid(P("cbuiltins\nset"), "truncated GLOBAL");
  ExpectInvalid(P("c\nset\n"), "malformed global");
  ExpectInvalid(P("K\x01X\x01\x00\x00\x00"
                  "a\x93"),
                "STACK_GLOBAL needs two str");
  ExpectInvalid(P("\x95\xff\x00\x00\x00\x00\x00\x00\x00N"), "bad FRAME");
}

TEST(PickleDecodeTest, HugeDeclaredLengthsFailWithoutAllocating) {
  // Just under the 64 MiB string limit declared, 3 bytes present.
  ExpectInvalid(P("B\xff\xff\xff\x03"
                  "abc"),
                "truncated");
  ExpectInvalid(P("X\xff\xff\xff\x03"
                  "abc"),
                "truncated");
  ExpectInvalid(P("\x8b\xff\xff\xff\x03"
                  "abc"),
                "truncated");
  // Beyond it (2 GiB): refused by the limit before looking for the bytes.
  ExpectOutOfRange(
      P("B\xff\xff\xff\x7f"
        "abc"));
  ExpectOutOfRange(
      P("X\xff\xff\xff\x7f"
        "abc"));
  DecodeLimits limits;
  limits.max_string_bytes = 2;
  ExpectOutOfRange(P("C\x03"
                     "abc"),
                   limits);
  ExpectOutOfRange(P("B\xff\xff\xff\xff"
                     "abc"),
                   limits);
  EXPECT_TRUE(DecodePickle(P("C\x02"
                             "ab"),
                           limits)
                  .ok());
}

TEST(PickleDecodeTest, FrameSizeLimit) {
  DecodeLimits limits;
  limits.max_frame_bytes = 5;
  ExpectOutOfRange(P("C\x02"
                     "ab"),
                   limits);
  EXPECT_TRUE(DecodePickle(P("N"), limits).ok());
}

TEST(PickleDecodeTest, ContainerLengthLimit) {
  DecodeLimits limits;
  limits.max_container_length = 3;
  const Value one = Value::Int(1);
  EXPECT_TRUE(
      DecodePickle(EncodePickle(Value::Tuple({one, one, one})), limits).ok());
  ExpectOutOfRange(EncodePickle(Value::Tuple({one, one, one, one})), limits);
  ExpectOutOfRange(EncodePickle(Value::List({one, one, one, one})), limits);
  ExpectOutOfRange(P("]NaNaNaNa"), limits);  // one APPEND at a time
  ExpectOutOfRange(P("](NNe(NNe"), limits);  // several APPENDS batches
  Value::DictItems items;
  for (int i = 0; i < 4; ++i) items.emplace_back(Value::Int(i), one);
  ExpectOutOfRange(EncodePickle(Value::Dict(items)), limits);
}

TEST(PickleDecodeTest, DepthLimit) {
  DecodeLimits limits;
  limits.max_depth = 3;
  const Value leaf = Value::Int(0);
  const Value three =
      Value::Tuple({Value::List({Value::Dict({{leaf, leaf}})})});
  EXPECT_TRUE(DecodePickle(EncodePickle(three), limits).ok());
  ExpectOutOfRange(EncodePickle(Value::Tuple({three})), limits);
  ExpectOutOfRange(EncodePickle(Value::Object("builtins", "x",
                                              Value::Tuple({three}), Value())),
                   limits);
}

TEST(PickleDecodeTest, DepthBombOfNestedLists) {
  // 100000 EMPTY_LISTs, then 99999 APPENDs nesting each into the previous.
  std::string body(100000, ']');
  body.append(99999, 'a');
  ExpectOutOfRange(P(body));
}

TEST(PickleDecodeTest, DepthBombOfMarks) {
  ExpectOutOfRange(P(std::string(100000, '(')));
  std::string tuples(100000, '(');
  tuples.append(100000, 't');
  ExpectOutOfRange(P(tuples));
}

TEST(PickleDecodeTest, DepthBombOfTuple1) {
  std::string body = ")";
  body.append(100000, '\x85');
  ExpectOutOfRange(P(body));
}

TEST(PickleDecodeTest, CyclesAreRefused) {
  // l = []; l.append(l)
  ExpectOutOfRange(
      P("]q\x00h\x00"
        "a"));
  // l = []; l.extend([l] * 1000): wide and cyclic.
  std::string wide = B("]q\x00(");
  for (int i = 0; i < 1000; ++i) wide += B("h\x00");
  ExpectOutOfRange(P(wide + "e"));
}

TEST(PickleDecodeTest, SharedSubtreesWithinLimitsAreCopied) {
  // t = (b'ab',); (t, t, t)
  absl::StatusOr<Value> v =
      DecodePickle(P("C\x02"
                     "ab\x85q\x01h\x01h\x01\x87"));
  ASSERT_TRUE(v.ok()) << v.status();
  const Value t = Value::Tuple({Value::Bytes("ab")});
  EXPECT_EQ(*v, Value::Tuple({t, t, t}));
  DecodeLimits limits;
  limits.max_values = 6;  // 1 + 3 * 2 = 7 values once copied out
  ExpectOutOfRange(P("C\x02"
                     "ab\x85q\x01h\x01h\x01\x87"),
                   limits);
}

TEST(PickleDecodeTest, MemoExpansionIsBounded) {
  // t0 = (b'x'*200,); t(n+1) = (tn, tn): 2^40 leaves from ~250 bytes.
  std::string body = "C\xc8" + std::string(200, 'x') + B("\x85q\x00");
  for (int i = 0; i < 40; ++i) {
    body += "h" + std::string(1, static_cast<char>(i)) + "\x86q" +
            std::string(1, static_cast<char>(i + 1));
  }
  absl::StatusOr<Value> bomb = DecodePickle(P(body));
  ASSERT_FALSE(bomb.ok());
  EXPECT_EQ(bomb.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(bomb.status().message().find("memo copies"),
            absl::string_view::npos)
      << bomb.status();
  // Strings alone: 64 copies of a 1 MiB string exceed max_frame_bytes in total.
  DecodeLimits limits;
  limits.max_frame_bytes = 4u << 20;
  std::string big =
      "(B" + B("\x00\x00\x10\x00") + std::string(1u << 20, 'y') + B("q\x00");
  for (int i = 0; i < 63; ++i) big += B("h\x00");
  big += "t";
  ExpectOutOfRange(P(big), limits);
}

TEST(PickleDecodeTest, ValueCountLimit) {
  DecodeLimits limits;
  limits.max_values = 10;
  std::string body = "(";
  body.append(20, 'N');
  body += "t";
  ExpectOutOfRange(P(body), limits);
}

// ---------------------------------------------------------------------------
// Globals and policies.

TEST(PickleGlobalTest, PoliciesAdmitTheirModules) {
  const std::string prefix = P("cZopeUndo.Prefix\nPrefix\n)\x81");
  EXPECT_TRUE(DecodePickle(prefix, DecodeLimits(), GlobalPolicy::kServer).ok());
  EXPECT_TRUE(DecodePickle(prefix, DecodeLimits(), GlobalPolicy::kClient).ok());
  absl::StatusOr<Value> none =
      DecodePickle(prefix, DecodeLimits(), GlobalPolicy::kNone);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("ZopeUndo.Prefix.Prefix"),
            absl::string_view::npos);

  const std::string conflict = P("cZODB.POSException\nConflictError\n)R");
  EXPECT_FALSE(
      DecodePickle(conflict, DecodeLimits(), GlobalPolicy::kServer).ok());
  EXPECT_TRUE(
      DecodePickle(conflict, DecodeLimits(), GlobalPolicy::kClient).ok());
  EXPECT_TRUE(DecodePickle(P("cBTrees.OOBTree\nOOBTree\n)R"), DecodeLimits(),
                           GlobalPolicy::kClient)
                  .ok());
  EXPECT_FALSE(DecodePickle(P("cBTreesX\nOOBTree\n)R"), DecodeLimits(),
                            GlobalPolicy::kClient)
                   .ok());
  EXPECT_TRUE(DecodePickle(P("ccopy_reg\n_reconstructor\n"), DecodeLimits(),
                           GlobalPolicy::kServer)
                  .ok());
}

TEST(PickleGlobalTest, DisallowedGlobalIsNamedInTheError) {
  for (GlobalPolicy policy :
       {GlobalPolicy::kServer, GlobalPolicy::kClient, GlobalPolicy::kNone}) {
    absl::StatusOr<Value> v = DecodePickle(
        P("cos\nsystem\nX\x02\x00\x00\x00ls\x85R"), DecodeLimits(), policy);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(v.status().message().find("os.system"), absl::string_view::npos)
        << v.status();
  }
  absl::StatusOr<Value> v = DecodePickle(P("\x8c\x02os\x8c\x06system\x93"),
                                         DecodeLimits(), GlobalPolicy::kServer);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("os.system"), absl::string_view::npos);
}

// ---------------------------------------------------------------------------
// Hostile input: truncations and random mutations of a real frame.

// ConflictError reply captured from ZEO (basic.s2c).
constexpr absl::string_view kConflictReplyHex =
    "8003284b034b0258060000002e7265706c79581f0000005a4f44422e504f53457863657074"
    "69"
    "6f6e2e436f6e666c6963744572726f727d2858070000006d65737361676558170000006461"
    "74616261736520636f6e666c696374206572726f7258030000006f69644308000000000000"
    "0001580a000000636c6173735f6e616d65582400000070657273697374656e742e6d617070"
    "696e672e50657273697374656e744d617070696e67580700000073657269616c7343080403"
    "3d8e1fa66c334308040d3d8e1cd26088867586742e";

TEST(PickleHostileTest, RealFrameRoundTrips) {
  const std::string frame = Unhex(kConflictReplyHex);
  absl::StatusOr<Value> v =
      DecodePickle(frame, DecodeLimits(), GlobalPolicy::kClient);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(EncodePickle(*v), frame);
  EXPECT_EQ(v->items()[3].items()[0],
            Value::Str("ZODB.POSException.ConflictError"));
}

TEST(PickleHostileTest, EveryTruncationFails) {
  const std::string frame = Unhex(kConflictReplyHex);
  for (size_t n = 0; n < frame.size(); ++n) {
    absl::StatusOr<Value> v = DecodePickle(frame.substr(0, n));
    EXPECT_FALSE(v.ok()) << n;
  }
}

TEST(PickleHostileTest, RandomMutationsNeverCrash) {
  const std::string frame = Unhex(kConflictReplyHex);
  std::mt19937 rng(20261124);
  DecodeLimits limits;
  limits.max_string_bytes = 1 << 16;
  int decoded = 0;
  for (int iteration = 0; iteration < 5000; ++iteration) {
    std::string mutated = frame;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) {
      const size_t at = rng() % mutated.size();
      switch (rng() % 3) {
        case 0:  // flip one bit
          mutated[at] = static_cast<char>(mutated[at] ^ (1u << (rng() % 8)));
          break;
        case 1:  // replace with a random byte
          mutated[at] = static_cast<char>(rng());
          break;
        default:  // insert a random byte
          mutated.insert(at, 1, static_cast<char>(rng()));
          break;
      }
    }
    absl::StatusOr<Value> v =
        DecodePickle(mutated, limits, GlobalPolicy::kClient);
    if (v.ok()) {
      ++decoded;
      // Whatever decodes must re-encode and decode to the same value.
      absl::StatusOr<Value> again =
          DecodePickle(EncodePickle(*v), limits, GlobalPolicy::kClient);
      ASSERT_TRUE(again.ok()) << again.status();
      EXPECT_EQ(*again, *v);
    }
  }
  std::printf("mutations that still decoded: %d of 5000\n", decoded);
}

TEST(PickleHostileTest, RandomBytesNeverCrash) {
  std::mt19937 rng(7);
  for (int iteration = 0; iteration < 3000; ++iteration) {
    std::string data = "\x80\x03";
    const size_t n = rng() % 64;
    // Bias towards opcodes so that the machine gets somewhere.
    static constexpr char kOps[] =
        "()t]ae}suNKMJXCBGq\x85\x86\x87\x88\x89hcR\x81"
        "b.";
    for (size_t i = 0; i < n; ++i) {
      data.push_back(rng() % 2 ? kOps[rng() % (sizeof(kOps) - 1)]
                               : static_cast<char>(rng() % 8));
    }
    (void)DecodePickle(data);
  }
}

// ---------------------------------------------------------------------------
// Round trips of random values.

Value RandomValue(std::mt19937& rng, int depth) {
  const int kind = static_cast<int>(rng() % (depth > 3 ? 7 : 11));
  switch (kind) {
    case 0:
      return Value::None();
    case 1:
      return Value::Bool(rng() % 2);
    case 2: {
      const int shift = static_cast<int>(rng() % 64);
      int64_t v =
          static_cast<int64_t>((uint64_t{rng()} << 32 | rng()) >> shift);
      return Value::Int(rng() % 2 ? v : -v);
    }
    case 3: {
      std::string le(9 + rng() % 20, '\0');
      for (char& c : le) c = static_cast<char>(rng());
      return Value::BigInt(le);
    }
    case 4: {
      const uint64_t bits = uint64_t{rng()} << 32 | rng();
      double d;
      std::memcpy(&d, &bits, sizeof(d));
      return Value::Float(d);
    }
    case 5: {
      std::string s(rng() % 300, '\0');
      for (char& c : s) c = static_cast<char>(rng());
      return Value::Bytes(s);
    }
    case 6: {
      std::string s(rng() % 20, 'a');
      for (char& c : s) c = static_cast<char>('a' + rng() % 26);
      return Value::Str(s + "\xe2\x82\xac");
    }
    case 7:
    case 8: {
      Value::Items items(rng() % 6);
      for (Value& item : items) item = RandomValue(rng, depth + 1);
      return kind == 7 ? Value::Tuple(items) : Value::List(items);
    }
    case 9: {
      Value::DictItems items(rng() % 4);
      for (auto& item : items) {
        item.first = RandomValue(rng, depth + 1);
        item.second = RandomValue(rng, depth + 1);
      }
      return Value::Dict(items);
    }
    default:
      return Value::Object("ZopeUndo.Prefix", "Prefix",
                           Value::Tuple({RandomValue(rng, depth + 1)}),
                           rng() % 2 ? Value() : RandomValue(rng, depth + 1));
  }
}

TEST(PickleRoundTripTest, RandomValues) {
  std::mt19937 rng(42);
  for (int i = 0; i < 2000; ++i) {
    const Value v = RandomValue(rng, 0);
    const std::string encoded = EncodePickle(v);
    absl::StatusOr<Value> decoded = DecodePickle(encoded);
    ASSERT_TRUE(decoded.ok()) << decoded.status() << " " << v.DebugString();
    ASSERT_EQ(*decoded, v) << v.DebugString();
    EXPECT_EQ(EncodePickle(*decoded), encoded);
  }
}

}  // namespace
}  // namespace zeo
