#include "raidcore/service/admin_auth.h"

#include "gtest/gtest.h"

namespace zeoraid::raidcore {
namespace {

TEST(AdminAuthTest, LoopbackPeers) {
  EXPECT_TRUE(AdminAuthorizer::IsLoopbackPeer("ipv4:127.0.0.1:5000"));
  EXPECT_TRUE(AdminAuthorizer::IsLoopbackPeer("ipv4:127.8.9.10:1"));
  EXPECT_TRUE(AdminAuthorizer::IsLoopbackPeer("ipv6:[::1]:5000"));
  EXPECT_TRUE(AdminAuthorizer::IsLoopbackPeer("ipv6:[::ffff:127.0.0.1]:5"));
  EXPECT_TRUE(AdminAuthorizer::IsLoopbackPeer("unix:/tmp/raidcore.sock"));
  EXPECT_FALSE(AdminAuthorizer::IsLoopbackPeer("ipv4:10.0.0.7:5000"));
  EXPECT_FALSE(AdminAuthorizer::IsLoopbackPeer("ipv4:1.127.0.0:5000"));
  EXPECT_FALSE(AdminAuthorizer::IsLoopbackPeer("ipv6:[fe80::1]:5000"));
  EXPECT_FALSE(AdminAuthorizer::IsLoopbackPeer("ipv6:[::1234]:5000"));
}

TEST(AdminAuthTest, NonLoopbackNeedsCredentials) {
  AdminAuthorizer auth({/*trust_loopback=*/true, {"admin"}, "s3cret"});
  const char* remote = "ipv4:10.1.2.3:4000";
  EXPECT_TRUE(auth.Check("ipv4:127.0.0.1:1", {}, "").ok());
  absl::Status refused = auth.Check(remote, {}, "");
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(refused.message().find("10.1.2.3"), absl::string_view::npos);
  EXPECT_TRUE(auth.Check(remote, {"admin"}, "").ok());
  EXPECT_FALSE(auth.Check(remote, {"translator"}, "").ok());
  EXPECT_TRUE(auth.Check(remote, {}, "Bearer s3cret").ok());
  EXPECT_FALSE(auth.Check(remote, {}, "Bearer s3cre").ok());
  EXPECT_FALSE(auth.Check(remote, {}, "Bearer s3cretX").ok());
  EXPECT_FALSE(auth.Check(remote, {}, "s3cret").ok());
  EXPECT_FALSE(auth.Check(remote, {}, "Basic s3cret").ok());
}

TEST(AdminAuthTest, UntrustedLoopbackAndNoTokenConfigured) {
  AdminAuthorizer auth({/*trust_loopback=*/false, {}, ""});
  EXPECT_FALSE(auth.Check("ipv4:127.0.0.1:1", {}, "").ok());
  // No token configured: an empty bearer token is not "the" token.
  EXPECT_FALSE(auth.Check("ipv4:127.0.0.1:1", {}, "Bearer ").ok());
  EXPECT_FALSE(auth.Check("unix:/x", {"admin"}, "").ok());
}

}  // namespace
}  // namespace zeoraid::raidcore
