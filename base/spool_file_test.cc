#include "base/spool_file.h"

#include <sys/stat.h>

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace zeoraid {
namespace {

TEST(SpoolFileTest, KeepsWhatWasAppendedAndRemovesItsFile) {
  std::string path;
  {
    absl::StatusOr<std::unique_ptr<SpoolFile>> spool = SpoolFile::Create("");
    ASSERT_TRUE(spool.ok()) << spool.status();
    path = (*spool)->path();
    std::string expected;
    for (int i = 0; i < 1000; ++i) {
      std::string piece(i % 97 + 1, static_cast<char>('a' + i % 26));
      ASSERT_TRUE((*spool)->Append(piece).ok());
      expected += piece;
    }
    EXPECT_EQ((*spool)->size(), expected.size());
    // Several readers at once, with a chunk size that does not divide it.
    std::vector<std::thread> readers;
    std::vector<std::string> got(4);
    std::vector<size_t> chunks(4, 0);
    for (int r = 0; r < 4; ++r) {
      readers.emplace_back([&, r] {
        ASSERT_TRUE((*spool)
                        ->ForEachChunk(4093,
                                       [&](absl::string_view c) {
                                         EXPECT_LE(c.size(), 4093u);
                                         got[r].append(c.data(), c.size());
                                         ++chunks[r];
                                         return absl::OkStatus();
                                       })
                        .ok());
      });
    }
    for (auto& t : readers) t.join();
    for (int r = 0; r < 4; ++r) {
      EXPECT_EQ(got[r], expected);
      EXPECT_EQ(chunks[r], (expected.size() + 4092) / 4093);
    }
    struct stat st;
    EXPECT_EQ(stat(path.c_str(), &st), 0);
  }
  struct stat st;
  EXPECT_NE(stat(path.c_str(), &st), 0) << path << " left behind";
}

TEST(SpoolFileTest, StopsAtTheFirstError) {
  absl::StatusOr<std::unique_ptr<SpoolFile>> spool = SpoolFile::Create("");
  ASSERT_TRUE(spool.ok());
  ASSERT_TRUE((*spool)->Append(std::string(10000, 'x')).ok());
  int calls = 0;
  absl::Status st = (*spool)->ForEachChunk(1000, [&](absl::string_view) {
    return ++calls == 3 ? absl::CancelledError("enough") : absl::OkStatus();
  });
  EXPECT_TRUE(absl::IsCancelled(st));
  EXPECT_EQ(calls, 3);
}

TEST(SpoolFileTest, EmptyFileHasNoChunksAndABadDirectoryIsAnError) {
  absl::StatusOr<std::unique_ptr<SpoolFile>> spool = SpoolFile::Create("");
  ASSERT_TRUE(spool.ok());
  int calls = 0;
  EXPECT_TRUE((*spool)
                  ->ForEachChunk(10,
                                 [&](absl::string_view) {
                                   ++calls;
                                   return absl::OkStatus();
                                 })
                  .ok());
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(SpoolFile::Create("/nonexistent/zeoraid").ok());
}

}  // namespace
}  // namespace zeoraid
