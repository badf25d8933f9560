#include "raidcore/service/backends_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"

namespace zeoraid::raidcore {

absl::StatusOr<std::vector<v1::BackendConfig>> ReadBackendsFile(
    const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("no backends file ", path));
  std::stringstream text;
  text << in.rdbuf();
  v1::RaidcoreConfig config;
  if (!google::protobuf::TextFormat::ParseFromString(text.str(), &config)) {
    return absl::InvalidArgumentError(
        absl::StrCat("backends file ", path, " is not readable"));
  }
  std::set<std::string> names;
  for (const v1::BackendConfig& b : config.backend()) {
    if (b.name().empty() || b.address().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "backends file ", path, ": a backend without name or address"));
    }
    if (!names.insert(b.name()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "backends file ", path, ": backend ", b.name(), " listed twice"));
    }
  }
  return std::vector<v1::BackendConfig>(config.backend().begin(),
                                        config.backend().end());
}

absl::Status WriteBackendsFile(const std::string& path,
                               const std::vector<v1::BackendConfig>& backends) {
  v1::RaidcoreConfig config;
  for (const v1::BackendConfig& b : backends) *config.add_backend() = b;
  std::string text;
  google::protobuf::TextFormat::PrintToString(config, &text);
  text = absl::StrCat(
      "# raidcore's backends, rewritten by raidcore when an operator adds or\n"
      "# removes one (zeoraid-admin add/remove). Read at start-up.\n",
      text);
  const std::string tmp = absl::StrCat(path, ".tmp");
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot write ", tmp, ": ", strerror(errno)));
  }
  const char* data = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = write(fd, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = strerror(errno);
      close(fd);
      unlink(tmp.c_str());
      return absl::UnavailableError(
          absl::StrCat("cannot write ", tmp, ": ", why));
    }
    data += n;
    left -= n;
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    unlink(tmp.c_str());
    return absl::UnavailableError(
        absl::StrCat("cannot sync ", tmp, ": ", strerror(errno)));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = strerror(errno);
    unlink(tmp.c_str());
    return absl::UnavailableError(
        absl::StrCat("cannot replace ", path, ": ", why));
  }
  // The rename itself must reach the disk too.
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : path.substr(0, slash);
  int dirfd = open(dir.empty() ? "/" : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dirfd >= 0) {
    fsync(dirfd);
    close(dirfd);
  }
  return absl::OkStatus();
}

}  // namespace zeoraid::raidcore
