// SpoolFile: bytes kept on disk instead of in memory (a blob on its way
// through raidcore), in a temporary file that is removed when the SpoolFile
// is destroyed. (A process that dies leaves it behind in the spool
// directory: zeoraid-spool-*.)
//
// Appends come from one thread at a time; any number of threads may read it
// at once (pread, no shared offset), also while it is being written: Follow
// reads each piece as soon as it is appended, until the writer calls
// Complete, so a blob can be passed on before the whole of it has arrived.
#ifndef ZEORAID_BASE_SPOOL_FILE_H_
#define ZEORAID_BASE_SPOOL_FILE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/mutex.h"

namespace zeoraid {

class SpoolFile {
 public:
  // A new empty file in `dir` ("" = $TMPDIR, else /tmp), named
  // zeoraid-spool-XXXXXX.
  static absl::StatusOr<std::unique_ptr<SpoolFile>> Create(
      const std::string& dir);
  ~SpoolFile();
  SpoolFile(const SpoolFile&) = delete;
  SpoolFile& operator=(const SpoolFile&) = delete;

  absl::Status Append(absl::string_view data);
  // Calls `fn` with the contents in order, in pieces of at most `chunk`
  // bytes (none for an empty file); stops at the first non-OK status.
  absl::Status ForEachChunk(
      size_t chunk,
      const std::function<absl::Status(absl::string_view)>& fn) const;

  // The writer is done: OK when the contents are complete, else why not.
  void Complete(absl::Status status);
  // Calls `fn` with the contents from `offset` on, in pieces of at most
  // `chunk` bytes, as they are appended, until the writer called Complete.
  // Returns the first non-OK status of `fn`, else the writer's status
  // (DataLoss if the file ended before `offset`).
  absl::Status Follow(
      uint64_t offset, size_t chunk,
      const std::function<absl::Status(absl::string_view)>& fn) const;

  // The `n` bytes at `offset` (OutOfRange past the end).
  absl::StatusOr<std::string> Read(uint64_t offset, size_t n) const;

  uint64_t size() const {
    MutexLock lock(&mu_);
    return size_;
  }
  const std::string& path() const { return path_; }

 private:
  SpoolFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  // Reads [offset, offset + n) into `buffer`.
  absl::Status ReadAt(uint64_t offset, size_t n, char* buffer) const;

  const int fd_;
  const std::string path_;
  mutable Mutex mu_;
  mutable CondVar grown_;  // size_ grew, or complete_ was set
  uint64_t size_ ABSL_GUARDED_BY(mu_) = 0;
  bool complete_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status final_ ABSL_GUARDED_BY(mu_);
};

}  // namespace zeoraid

#endif  // ZEORAID_BASE_SPOOL_FILE_H_
