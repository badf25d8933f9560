// SpoolFile: bytes kept on disk instead of in memory (a blob on its way
// through raidcore), in a temporary file that is removed when the SpoolFile
// is destroyed. (A process that dies leaves it behind in the spool
// directory: zeoraid-spool-*.)
//
// Appends come from one thread at a time; once complete, any number of
// threads may read it at once (pread, no shared offset).
#ifndef ZEORAID_BASE_SPOOL_FILE_H_
#define ZEORAID_BASE_SPOOL_FILE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

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

  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  SpoolFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  const int fd_;
  const std::string path_;
  uint64_t size_ = 0;
};

}  // namespace zeoraid

#endif  // ZEORAID_BASE_SPOOL_FILE_H_
