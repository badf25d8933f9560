#include "translator/recent_changes.h"

#include <thread>

#include "gtest/gtest.h"

namespace zeoraid::translator {
namespace {

using Answer = RecentChanges::Answer;

TEST(RecentChangesTest, AnswersOnlyForRangesItHasSeenWhole) {
  RecentChanges changes(/*capacity=*/3);
  EXPECT_EQ(changes.ChangedBetween("a", 0, 0), Answer::kUnknown);  // no Reset
  changes.Reset(10);
  EXPECT_EQ(changes.ChangedBetween("a", 10, 10), Answer::kUnchanged);
  EXPECT_EQ(changes.ChangedBetween("a", 9, 10), Answer::kUnknown);
  changes.Add(11, {"b", "a"});
  changes.Add(12, {"c"});
  EXPECT_EQ(changes.ChangedBetween("a", 10, 12), Answer::kChanged);
  EXPECT_EQ(changes.ChangedBetween("a", 11, 12), Answer::kUnchanged);
  EXPECT_EQ(changes.ChangedBetween("c", 10, 11), Answer::kUnchanged);
  EXPECT_EQ(changes.ChangedBetween("c", 11, 12), Answer::kChanged);
  // Not reached yet (e.g. the committer's own finish reply came first).
  EXPECT_EQ(changes.ChangedBetween("z", 11, 13), Answer::kUnknown);
  // Past the capacity the oldest falls out and the floor moves up.
  changes.Add(13, {});
  changes.Add(14, {"d"});
  EXPECT_EQ(changes.ChangedBetween("z", 10, 14), Answer::kUnknown);
  EXPECT_EQ(changes.ChangedBetween("z", 11, 14), Answer::kUnchanged);
  EXPECT_EQ(changes.ChangedBetween("d", 11, 14), Answer::kChanged);
}

TEST(RecentChangesTest, ResetAndDisorderForgetEverything) {
  RecentChanges changes(10);
  changes.Reset(10);
  changes.Add(11, {"a"});
  changes.Reset(20);  // a new watch: 12..20 were never seen
  EXPECT_EQ(changes.ChangedBetween("a", 10, 20), Answer::kUnknown);
  EXPECT_EQ(changes.ChangedBetween("a", 20, 20), Answer::kUnchanged);
  changes.Add(21, {"a"});
  changes.Add(21, {"b"});  // not newer: nothing before it can be trusted
  EXPECT_EQ(changes.ChangedBetween("b", 20, 21), Answer::kUnknown);
  EXPECT_EQ(changes.ChangedBetween("b", 21, 21), Answer::kUnchanged);
}

TEST(RecentChangesTest, ConcurrentWriterAndReaders) {
  RecentChanges changes(64);
  changes.Reset(0);
  std::thread writer([&] {
    for (uint64_t t = 1; t <= 5000; ++t) {
      changes.Add(t, {std::to_string(t % 7)});
    }
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      for (uint64_t t = 1; t <= 5000; ++t) {
        // Transaction t changed oid t % 7: never "unchanged" once known.
        EXPECT_NE(changes.ChangedBetween(std::to_string(t % 7), t - 1, t),
                  Answer::kUnchanged);
      }
    });
  }
  writer.join();
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(changes.ChangedBetween("3", 4999, 5000), Answer::kUnchanged);
  EXPECT_EQ(changes.ChangedBetween("2", 4999, 5000), Answer::kChanged);
}

}  // namespace
}  // namespace zeoraid::translator
