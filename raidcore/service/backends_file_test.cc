#include "raidcore/service/backends_file.h"

#include <stdlib.h>

#include <fstream>

#include "gtest/gtest.h"

namespace zeoraid::raidcore {
namespace {

std::string TempPath(const char* name) {
  const char* dir = getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

v1::BackendConfig Backend(const std::string& name, const std::string& address) {
  v1::BackendConfig b;
  b.set_name(name);
  b.set_address(address);
  return b;
}

TEST(BackendsFileTest, WritesAndReadsBackTheList) {
  const std::string path = TempPath("backends.conf");
  ASSERT_TRUE(WriteBackendsFile(path, {Backend("a", "127.0.0.1:1"),
                                       Backend("b", "/run/zeo.sock")})
                  .ok());
  absl::StatusOr<std::vector<v1::BackendConfig>> read = ReadBackendsFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[1].name(), "b");
  EXPECT_EQ((*read)[1].address(), "/run/zeo.sock");
  // Rewritten: the new list replaces the old one.
  ASSERT_TRUE(WriteBackendsFile(path, {Backend("c", "h:3")}).ok());
  read = ReadBackendsFile(path);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ((*read)[0].name(), "c");
  std::ifstream tmp(path + ".tmp");
  EXPECT_FALSE(tmp.good()) << "temporary file left behind";
}

TEST(BackendsFileTest, MissingAndBadFilesAreErrors) {
  EXPECT_TRUE(
      absl::IsNotFound(ReadBackendsFile(TempPath("no-such-file")).status()));
  const std::string path = TempPath("bad.conf");
  std::ofstream(path) << "backend { name: \"a\" address: \"x\" }\n"
                      << "backend { name: \"a\" address: \"y\" }\n";
  absl::Status st = ReadBackendsFile(path).status();
  EXPECT_TRUE(absl::IsInvalidArgument(st));
  EXPECT_NE(st.message().find("listed twice"), std::string::npos) << st;
  std::ofstream(path) << "backend { name: ";
  EXPECT_TRUE(absl::IsInvalidArgument(ReadBackendsFile(path).status()));
  EXPECT_FALSE(WriteBackendsFile("/nonexistent/dir/backends.conf", {}).ok());
}

}  // namespace
}  // namespace zeoraid::raidcore
