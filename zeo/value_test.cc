#include "zeo/value.h"

#include <cmath>
#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace zeo {
namespace {

TEST(ValueTest, DefaultIsNone) {
  Value v;
  EXPECT_TRUE(v.is_none());
  EXPECT_EQ(v, Value::None());
  EXPECT_EQ(v.DebugString(), "None");
}

TEST(ValueTest, AccessorsOfTheWrongKindReturnZero) {
  const Value s = Value::Str("x");
  EXPECT_EQ(s.int_value(), 0);
  EXPECT_FALSE(s.bool_value());
  EXPECT_EQ(s.float_value(), 0.0);
  EXPECT_TRUE(s.items().empty());
  EXPECT_TRUE(s.dict_items().empty());
  EXPECT_EQ(Value::Int(5).string_value(), "");
}

TEST(ValueTest, TruthyFollowsPython) {
  EXPECT_FALSE(Value::None().Truthy());
  EXPECT_FALSE(Value::Bool(false).Truthy());
  EXPECT_TRUE(Value::Bool(true).Truthy());
  EXPECT_FALSE(Value::Int(0).Truthy());
  EXPECT_TRUE(Value::Int(2).Truthy());
  EXPECT_TRUE(Value::Int(-1).Truthy());
  EXPECT_FALSE(Value::Float(0.0).Truthy());
  EXPECT_FALSE(Value::Float(-0.0).Truthy());
  EXPECT_TRUE(Value::Float(0.5).Truthy());
  EXPECT_TRUE(Value::Float(std::nan("")).Truthy());
  EXPECT_FALSE(Value::Bytes("").Truthy());
  EXPECT_TRUE(Value::Bytes(std::string(1, '\0')).Truthy());
  EXPECT_FALSE(Value::Str("").Truthy());
  EXPECT_TRUE(Value::Str(" ").Truthy());
  EXPECT_FALSE(Value::Tuple({}).Truthy());
  EXPECT_TRUE(Value::Tuple({Value::None()}).Truthy());
  EXPECT_FALSE(Value::List({}).Truthy());
  EXPECT_TRUE(Value::List({Value::Int(0)}).Truthy());
  EXPECT_FALSE(Value::Dict({}).Truthy());
  EXPECT_TRUE(Value::Dict({{Value::Int(0), Value::Int(0)}}).Truthy());
  EXPECT_TRUE(Value::BigInt(std::string(9, '\0') + "\x01").Truthy());
  EXPECT_TRUE(
      Value::Object("ZopeUndo.Prefix", "Prefix", Value::Tuple({}), Value())
          .Truthy());
}

TEST(ValueTest, FindUsesStrKeysAndTheLastDuplicate) {
  const Value d = Value::Dict({
      {Value::Bytes("a"), Value::Int(1)},
      {Value::Str("a"), Value::Int(2)},
      {Value::Str("b"), Value::Int(3)},
      {Value::Str("a"), Value::Int(4)},
  });
  ASSERT_NE(d.Find("a"), nullptr);
  EXPECT_EQ(*d.Find("a"), Value::Int(4));
  EXPECT_EQ(*d.Find("b"), Value::Int(3));
  EXPECT_EQ(d.Find("c"), nullptr);
  EXPECT_EQ(Value::List({Value::Str("a")}).Find("a"), nullptr);
}

TEST(ValueTest, EqualityIsStructural) {
  EXPECT_NE(Value::Tuple({}), Value::List({}));
  EXPECT_NE(Value::Int(1), Value::Bool(true));
  EXPECT_NE(Value::Int(0), Value::Float(0.0));
  EXPECT_NE(Value::Bytes("a"), Value::Str("a"));
  EXPECT_EQ(Value::Tuple({Value::Int(1), Value::List({Value::Str("x")})}),
            Value::Tuple({Value::Int(1), Value::List({Value::Str("x")})}));
  EXPECT_NE(Value::Tuple({Value::Int(1)}), Value::Tuple({Value::Int(2)}));
  EXPECT_NE(Value::Dict({{Value::Str("a"), Value::Int(1)},
                         {Value::Str("b"), Value::Int(2)}}),
            Value::Dict({{Value::Str("b"), Value::Int(2)},
                         {Value::Str("a"), Value::Int(1)}}));
  // Floats by bit pattern.
  EXPECT_EQ(Value::Float(std::nan("")), Value::Float(std::nan("")));
  EXPECT_NE(Value::Float(0.0), Value::Float(-0.0));
  // Objects: module, name, construction and parts.
  const Value args = Value::Tuple({});
  EXPECT_EQ(Value::Object("m", "n", args, Value()),
            Value::Object("m", "n", args, Value()));
  EXPECT_NE(Value::Object("m", "n", args, Value()),
            Value::ReduceObject("m", "n", args, Value()));
  EXPECT_NE(Value::Object("m", "n", args, Value()),
            Value::Object("m", "o", args, Value()));
  EXPECT_NE(Value::Object("m", "n", args, Value()),
            Value::Object("m", "n", args, Value::Dict({})));
}

TEST(ValueTest, BigIntNormalizes) {
  // 2^63 needs nine bytes; anything that fits int64 becomes an Int.
  const Value big = Value::BigInt(std::string("\0\0\0\0\0\0\0\x80\0", 9));
  EXPECT_TRUE(big.is_big_int());
  EXPECT_EQ(big.string_value().size(), 9u);
  EXPECT_EQ(Value::BigInt(std::string("\x05\0\0\0\0\0\0\0\0\0\0", 11)),
            Value::Int(5));
  EXPECT_EQ(Value::BigInt(std::string("\xff\xff\xff", 3)), Value::Int(-1));
  EXPECT_EQ(Value::BigInt(""), Value::Int(0));
  EXPECT_EQ(Value::BigInt(std::string("\0\0\0\0\0\0\0\x80\xff", 9)),
            Value::Int(std::numeric_limits<int64_t>::min()));
  // Redundant sign bytes are trimmed.
  EXPECT_EQ(Value::BigInt(std::string("\0\0\0\0\0\0\0\x80\0\0\0", 11)), big);
}

TEST(ValueTest, DebugStringScalars) {
  EXPECT_EQ(Value::Bool(true).DebugString(), "True");
  EXPECT_EQ(Value::Bool(false).DebugString(), "False");
  EXPECT_EQ(Value::Int(-20).DebugString(), "-20");
  EXPECT_EQ(Value::BigInt(std::string("\0\0\0\0\0\0\0\x80\0", 9)).DebugString(),
            "9223372036854775808");
  // -2^64
  EXPECT_EQ(Value::BigInt(std::string("\0\0\0\0\0\0\0\0\xff", 9)).DebugString(),
            "-18446744073709551616");
}

TEST(ValueTest, DebugStringOfStrIsAlwaysUtf8) {
  EXPECT_EQ(Value::Str("caf\xc3\xa9 \xf0\x9f\x98\x80").DebugString(),
            "'caf\xc3\xa9 \xf0\x9f\x98\x80'");
  // Lone surrogates as Python's repr writes them; stray bytes escaped.
  EXPECT_EQ(Value::Str("a\xed\xb3\xbf"
                       "b")
                .DebugString(),
            "'a\\udcffb'");
  EXPECT_EQ(Value::Str("\xff\xc3").DebugString(), "'\\xff\\xc3'");
  EXPECT_EQ(Value::Bytes("\xc3\xa9").DebugString(), "b'\\xc3\\xa9'");
}

TEST(ValueTest, DebugStringFloatsLikePythonRepr) {
  EXPECT_EQ(Value::Float(1.0).DebugString(), "1.0");
  EXPECT_EQ(Value::Float(-2.5).DebugString(), "-2.5");
  EXPECT_EQ(Value::Float(0.1).DebugString(), "0.1");
  EXPECT_EQ(Value::Float(1795561815.6984649).DebugString(),
            "1795561815.6984649");
  EXPECT_EQ(Value::Float(1e16).DebugString(), "1e+16");
  EXPECT_EQ(Value::Float(123456789012345.0).DebugString(), "123456789012345.0");
  EXPECT_EQ(Value::Float(1.5e-5).DebugString(), "1.5e-05");
  EXPECT_EQ(Value::Float(0.0001).DebugString(), "0.0001");
  EXPECT_EQ(Value::Float(1e300).DebugString(), "1e+300");
  EXPECT_EQ(Value::Float(0.0).DebugString(), "0.0");
  EXPECT_EQ(Value::Float(-0.0).DebugString(), "-0.0");
  EXPECT_EQ(Value::Float(std::numeric_limits<double>::infinity()).DebugString(),
            "inf");
  EXPECT_EQ(Value::Float(std::nan("")).DebugString(), "nan");
}

TEST(ValueTest, DebugStringStrings) {
  EXPECT_EQ(Value::Bytes(std::string("\0\x01"
                                     "a'\\\n\xff",
                                     7))
                .DebugString(),
            "b\"\\x00\\x01a'\\\\\\n\\xff\"");
  EXPECT_EQ(Value::Bytes("it's \"x\"").DebugString(), "b'it\\'s \"x\"'");
  EXPECT_EQ(Value::Str(".reply").DebugString(), "'.reply'");
  EXPECT_EQ(Value::Str("\xc3\xa9\t").DebugString(), "'\xc3\xa9\\t'");
}

TEST(ValueTest, DebugStringContainers) {
  EXPECT_EQ(Value::Tuple({}).DebugString(), "()");
  EXPECT_EQ(Value::Tuple({Value::Int(1)}).DebugString(), "(1,)");
  EXPECT_EQ(Value::Tuple({Value::Int(1), Value::None()}).DebugString(),
            "(1, None)");
  EXPECT_EQ(Value::List({Value::Bytes("a"), Value::List({})}).DebugString(),
            "[b'a', []]");
  EXPECT_EQ(Value::Dict({{Value::Str("k"), Value::Bool(true)},
                         {Value::Int(2), Value::Tuple({})}})
                .DebugString(),
            "{'k': True, 2: ()}");
  EXPECT_EQ(Value::Object("ZopeUndo.Prefix", "Prefix", Value::Tuple({}),
                          Value::Dict({{Value::Str("length"), Value::Int(1)}}))
                .DebugString(),
            "<object ZopeUndo.Prefix.Prefix args=() state={'length': 1}>");
  EXPECT_EQ(
      Value::Object("builtins", "ValueError", Value(), Value()).DebugString(),
      "<global builtins.ValueError>");
  EXPECT_EQ(Value::ReduceObject("builtins", "ValueError",
                                Value::Tuple({Value::Str("x")}), Value())
                .DebugString(),
            "<call builtins.ValueError args=('x',)>");
}

TEST(ValueTest, ObjectParts) {
  const Value o =
      Value::ReduceObject("m", "n", Value::Tuple({}), Value::Int(1));
  EXPECT_TRUE(o.is_object());
  EXPECT_TRUE(o.object_reduce());
  EXPECT_EQ(o.object_module(), "m");
  EXPECT_EQ(o.object_name(), "n");
  ASSERT_EQ(o.items().size(), 2u);
  EXPECT_EQ(o.items()[0], Value::Tuple({}));
  EXPECT_EQ(o.items()[1], Value::Int(1));
  EXPECT_FALSE(Value::Object("m", "n", Value(), Value()).object_reduce());
}

}  // namespace
}  // namespace zeo
