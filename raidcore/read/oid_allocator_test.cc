#include "raidcore/read/oid_allocator.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raidcore/backend/fake_backend.h"
#include "raidcore/read/read_test_fixture.h"

namespace zeoraid::raidcore {
namespace {

using zeo::Value;

class OidAllocatorTest : public TwoBackendsTest {
 protected:
  // The oids of a NewOids answer, as numbers.
  std::vector<uint64_t> Take(int count) {
    absl::StatusOr<ZeoReply> reply = oids_.NewOids(count);
    EXPECT_TRUE(reply.ok()) << reply.status();
    std::vector<uint64_t> out;
    if (!reply.ok()) return out;
    EXPECT_FALSE(reply->is_error);
    for (const Value& oid : reply->value.items()) {
      out.push_back(zeo::TidToUint64(oid.string_value()));
    }
    return out;
  }
  static int Count(const FakeBackend& f, const std::string& method) {
    int n = 0;
    for (const std::string& m : f.methods()) n += m == method;
    return n;
  }

  OidAllocator oids_{&router_};
};

TEST_F(OidAllocatorTest, HandsOutUpToAThousandAscendingOidsInOneCall) {
  std::vector<uint64_t> first = Take(1000);
  ASSERT_EQ(first.size(), 1000u);
  for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(first[i], i + 1);
  std::vector<uint64_t> next = Take(250);
  ASSERT_EQ(next.size(), 250u);
  EXPECT_EQ(next.front(), 1001u);
  EXPECT_EQ(next.back(), 1250u);
  // Clamped like ZEO's own count.
  EXPECT_EQ(Take(5000).size(), 1000u);
  EXPECT_EQ(Take(0).size(), 1u);
}

TEST_F(OidAllocatorTest, KeepsAskingTheSameBackend) {
  // In turn, every other backend call would hand out oids its peer already
  // handed out, to be thrown away.
  for (int i = 0; i < 10; ++i) ASSERT_EQ(Take(100).size(), 100u);
  EXPECT_EQ(Count(*fakes_[0], "new_oids"), 10);
  EXPECT_EQ(Count(*fakes_[1], "new_oids"), 0);
}

TEST_F(OidAllocatorTest, AfterAFailoverSkipsWhatWasHandedOut) {
  std::vector<uint64_t> before = Take(300);
  ASSERT_EQ(before.back(), 300u);
  fakes_[0]->SetFailure("new_oids", absl::UnavailableError("reset"));
  // Backend b counts from 1: its first 300 are stale.
  std::vector<uint64_t> after = Take(200);
  ASSERT_EQ(after.size(), 200u);
  EXPECT_EQ(after.front(), 301u);
  EXPECT_EQ(set_.Status()[0].state, BackendState::kDegraded);
}

TEST_F(OidAllocatorTest, SkipsAGapOfManyHandedOutOidsAfterAFailover) {
  // Oids handed out on backend a and never stored: b knows none of them.
  for (int i = 0; i < 30; ++i) ASSERT_EQ(Take(1000).size(), 1000u);
  fakes_[0]->SetFailure("new_oids", absl::UnavailableError("reset"));
  std::vector<uint64_t> after = Take(100);
  ASSERT_EQ(after.size(), 100u);
  EXPECT_EQ(after.front(), 30001u);
}

TEST_F(OidAllocatorTest, AnApplicationErrorIsTheAnswer) {
  for (auto& f : fakes_) {
    f->SetReply("new_oids", ZeoReply::Error("ZODB.POSException.ReadOnlyError",
                                            Value::Tuple({})));
  }
  absl::StatusOr<ZeoReply> reply = oids_.NewOids(100);
  ASSERT_TRUE(reply.ok());
  EXPECT_TRUE(reply->is_error);
  EXPECT_EQ(set_.raid_state(), RaidState::kOptimal);
}

}  // namespace
}  // namespace zeoraid::raidcore
