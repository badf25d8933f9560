#include "base/flags.h"

#include "gtest/gtest.h"

namespace zeoraid {
namespace {

std::vector<std::string> Merge(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return MergeRepeatedFlag(static_cast<int>(argv.size()), argv.data(),
                           "backend");
}

TEST(MergeRepeatedFlagTest, FoldsEveryOccurrence) {
  EXPECT_EQ(Merge({"prog", "--backend", "a=h:1", "--listen=x",
                   "--backend=b=h:2", "-backend", "c=h:3"}),
            (std::vector<std::string>{"prog", "--backend=a=h:1,b=h:2,c=h:3",
                                      "--listen=x"}));
}

TEST(MergeRepeatedFlagTest, LeavesOtherArgumentsAlone) {
  EXPECT_EQ(Merge({"prog", "--backends_x=1", "status"}),
            (std::vector<std::string>{"prog", "--backends_x=1", "status"}));
  EXPECT_EQ(Merge({"prog", "--", "--backend", "x"}),
            (std::vector<std::string>{"prog", "--", "--backend", "x"}));
}

}  // namespace
}  // namespace zeoraid
