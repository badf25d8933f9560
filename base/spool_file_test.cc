#include "base/spool_file.h"

#include <sys/stat.h>

#include <chrono>
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

TEST(SpoolFileTest, FollowersSeeEachPieceAsItIsWrittenUntilComplete) {
  absl::StatusOr<std::unique_ptr<SpoolFile>> spool = SpoolFile::Create("");
  ASSERT_TRUE(spool.ok());
  SpoolFile* file = spool->get();
  std::string expected;
  for (int i = 0; i < 300; ++i) expected += std::string(i + 1, 'a' + i % 26);
  // Readers start before anything is written; one from an offset.
  std::string from_start, from_offset;
  absl::Status start_status, offset_status;
  std::thread a([&] {
    start_status = file->Follow(0, 1000, [&](absl::string_view c) {
      from_start.append(c.data(), c.size());
      return absl::OkStatus();
    });
  });
  std::thread b([&] {
    offset_status = file->Follow(5000, 777, [&](absl::string_view c) {
      from_offset.append(c.data(), c.size());
      return absl::OkStatus();
    });
  });
  size_t pos = 0;
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(file->Append(expected.substr(pos, i + 1)).ok());
    pos += i + 1;
    if (i % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  file->Complete(absl::OkStatus());
  a.join();
  b.join();
  EXPECT_TRUE(start_status.ok()) << start_status;
  EXPECT_TRUE(offset_status.ok()) << offset_status;
  EXPECT_EQ(from_start, expected);
  EXPECT_EQ(from_offset, expected.substr(5000));
}

TEST(SpoolFileTest, FollowReportsTheWritersFailureAndAShortFile) {
  absl::StatusOr<std::unique_ptr<SpoolFile>> spool = SpoolFile::Create("");
  ASSERT_TRUE(spool.ok());
  ASSERT_TRUE((*spool)->Append("abc").ok());
  (*spool)->Complete(absl::UnavailableError("backend went away"));
  std::string got;
  absl::Status st = (*spool)->Follow(0, 2, [&](absl::string_view c) {
    got.append(c.data(), c.size());
    return absl::OkStatus();
  });
  EXPECT_TRUE(absl::IsUnavailable(st)) << st;
  EXPECT_EQ(got, "abc");  // what there was, then the failure

  absl::StatusOr<std::unique_ptr<SpoolFile>> short_file = SpoolFile::Create("");
  ASSERT_TRUE(short_file.ok());
  ASSERT_TRUE((*short_file)->Append("abc").ok());
  (*short_file)->Complete(absl::OkStatus());
  EXPECT_TRUE(
      absl::IsDataLoss((*short_file)->Follow(10, 2, [](absl::string_view) {
        return absl::OkStatus();
      })));
}

}  // namespace
}  // namespace zeoraid
