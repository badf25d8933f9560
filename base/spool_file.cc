#include "base/spool_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace zeoraid {

absl::StatusOr<std::unique_ptr<SpoolFile>> SpoolFile::Create(
    const std::string& dir) {
  std::string base = dir;
  if (base.empty()) {
    const char* tmp = getenv("TMPDIR");
    base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  }
  std::string path = absl::StrCat(base, "/zeoraid-spool-XXXXXX");
  std::vector<char> name(path.begin(), path.end());
  name.push_back('\0');
  int fd = mkstemp(name.data());
  if (fd < 0) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "cannot create a spool file in ", base, ": ", strerror(errno)));
  }
  return std::unique_ptr<SpoolFile>(new SpoolFile(fd, name.data()));
}

SpoolFile::~SpoolFile() {
  close(fd_);
  unlink(path_.c_str());
}

absl::Status SpoolFile::Append(absl::string_view data) {
  // One writer: the offset past what readers may see is its own.
  uint64_t end = size();
  while (!data.empty()) {
    ssize_t n = pwrite(fd_, data.data(), data.size(), end);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ResourceExhaustedError(absl::StrCat(
          "cannot write spool file ", path_, ": ", strerror(errno)));
    }
    end += n;
    data.remove_prefix(n);
  }
  {
    MutexLock lock(&mu_);
    size_ = end;
  }
  grown_.SignalAll();
  return absl::OkStatus();
}

void SpoolFile::Complete(absl::Status status) {
  {
    MutexLock lock(&mu_);
    complete_ = true;
    final_ = std::move(status);
  }
  grown_.SignalAll();
}

absl::StatusOr<std::string> SpoolFile::Read(uint64_t offset, size_t n) const {
  if (offset + n > size()) {
    return absl::OutOfRangeError(absl::StrCat(
        "read of ", n, " bytes at ", offset, " past the end of ", path_));
  }
  std::string out(n, '\0');
  absl::Status st = ReadAt(offset, n, out.data());
  if (!st.ok()) return st;
  return out;
}

absl::Status SpoolFile::ReadAt(uint64_t offset, size_t n, char* buffer) const {
  while (n > 0) {
    ssize_t got = pread(fd_, buffer, n, offset);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      return absl::DataLossError(
          absl::StrCat("cannot read spool file ", path_, ": ",
                       got == 0 ? "unexpected end" : strerror(errno)));
    }
    buffer += got;
    offset += got;
    n -= got;
  }
  return absl::OkStatus();
}

absl::Status SpoolFile::ForEachChunk(
    size_t chunk,
    const std::function<absl::Status(absl::string_view)>& fn) const {
  std::string buffer(chunk, '\0');
  const uint64_t total = size();
  for (uint64_t offset = 0; offset < total;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, total - offset));
    absl::Status st = ReadAt(offset, n, buffer.data());
    if (!st.ok()) return st;
    offset += n;
    st = fn(absl::string_view(buffer.data(), n));
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status SpoolFile::Follow(
    uint64_t offset, size_t chunk,
    const std::function<absl::Status(absl::string_view)>& fn) const {
  std::string buffer(chunk, '\0');
  while (true) {
    uint64_t available;
    {
      MutexLock lock(&mu_);
      while (size_ <= offset && !complete_) grown_.Wait(&mu_);
      if (size_ <= offset) {
        // Complete, and nothing more to read.
        if (!final_.ok()) return final_;
        if (size_ < offset) {
          return absl::DataLossError(absl::StrCat("spool file ", path_,
                                                  " ended at ", size_,
                                                  " bytes, before ", offset));
        }
        return absl::OkStatus();
      }
      available = size_ - offset;
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, available));
    absl::Status st = ReadAt(offset, n, buffer.data());
    if (!st.ok()) return st;
    offset += n;
    st = fn(absl::string_view(buffer.data(), n));
    if (!st.ok()) return st;
  }
}

}  // namespace zeoraid
