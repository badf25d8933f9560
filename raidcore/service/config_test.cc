#include "raidcore/service/config.h"

#include "gtest/gtest.h"

namespace zeoraid::raidcore {
namespace {

TEST(ConfigTest, ParsesBackendsAndTimeouts) {
  absl::StatusOr<v1::RaidcoreConfig> config = ParseConfig(
      R"(storage: "main"
         backend { name: "a" address: "127.0.0.1:8101" }
         backend { name: "b" address: "/run/zeo.sock" }
         backend_timeout_seconds: 2.5)",
      "raid.conf");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->storage(), "main");
  ASSERT_EQ(config->backend_size(), 2);
  EXPECT_EQ(config->backend(1).address(), "/run/zeo.sock");
  EXPECT_EQ(config->backend_timeout_seconds(), 2.5);
}

TEST(ConfigTest, ErrorsNameFileLineAndField) {
  absl::StatusOr<v1::RaidcoreConfig> config =
      ParseConfig("storage: \"1\"\nbackend { nmae: \"a\" }\n", "raid.conf");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("raid.conf:2:"), std::string::npos)
      << config.status();
  EXPECT_NE(config.status().message().find("nmae"), std::string::npos);

  config = ParseConfig(
      "backend { name: \"a\" address: \"x:1\" }\n"
      "backend { name: \"a\" address: \"x:2\" }\n",
      "raid.conf");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("backend[1].name"),
            std::string::npos)
      << config.status();

  config = ParseConfig("backend_timeout_seconds: -1", "raid.conf");
  EXPECT_FALSE(config.ok());
  EXPECT_EQ(LoadConfig("/nonexistent/raid.conf").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace zeoraid::raidcore
