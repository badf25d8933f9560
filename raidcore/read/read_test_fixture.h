// A fixture for the read path's unit tests: two optimal fake backends, "a"
// and "b", in a BackendSet, and a ReadRouter over them.
#ifndef ZEORAID_RAIDCORE_READ_READ_TEST_FIXTURE_H_
#define ZEORAID_RAIDCORE_READ_READ_TEST_FIXTURE_H_

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raidcore/backend/backend_set.h"
#include "raidcore/backend/fake_backend.h"
#include "raidcore/commit/commit_clock.h"
#include "raidcore/read/read_router.h"
#include "zeo/tid.h"

namespace zeoraid::raidcore {

class TwoBackendsTest : public ::testing::Test {
 protected:
  TwoBackendsTest() {
    for (const char* name : {"a", "b"}) {
      auto f = std::make_shared<FakeBackend>();
      fakes_.push_back(f);
      set_.Add(name, "x", f, "");
    }
  }

  BackendSet set_;
  CommitClock clock_{std::string(zeo::kZeroTid)};
  ReadRouter router_{&set_, &clock_, absl::Seconds(1)};
  std::vector<std::shared_ptr<FakeBackend>> fakes_;
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_READ_READ_TEST_FIXTURE_H_
