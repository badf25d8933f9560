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
  while (!data.empty()) {
    ssize_t n = pwrite(fd_, data.data(), data.size(), size_);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ResourceExhaustedError(absl::StrCat(
          "cannot write spool file ", path_, ": ", strerror(errno)));
    }
    size_ += n;
    data.remove_prefix(n);
  }
  return absl::OkStatus();
}

absl::Status SpoolFile::ForEachChunk(
    size_t chunk,
    const std::function<absl::Status(absl::string_view)>& fn) const {
  std::string buffer(chunk, '\0');
  uint64_t offset = 0;
  while (offset < size_) {
    size_t want =
        static_cast<size_t>(std::min<uint64_t>(chunk, size_ - offset));
    ssize_t n = pread(fd_, buffer.data(), want, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::DataLossError(
          absl::StrCat("cannot read spool file ", path_, ": ",
                       n == 0 ? "unexpected end" : strerror(errno)));
    }
    offset += n;
    absl::Status st = fn(absl::string_view(buffer.data(), n));
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

}  // namespace zeoraid
