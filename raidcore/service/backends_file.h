// The backends file (--backends_file): raidcore's backend list as protobuf
// text (zeoraid.v1.RaidcoreConfig with only `backend { name address }`
// entries), rewritten atomically whenever an operator adds or removes a
// backend, so that the change survives a restart.
#ifndef ZEORAID_RAIDCORE_SERVICE_BACKENDS_FILE_H_
#define ZEORAID_RAIDCORE_SERVICE_BACKENDS_FILE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "zeoraid/v1/config.pb.h"

namespace zeoraid::raidcore {

// NotFound when there is no such file; InvalidArgument (naming the file)
// when it cannot be parsed or lists a name twice or an empty name or address.
absl::StatusOr<std::vector<v1::BackendConfig>> ReadBackendsFile(
    const std::string& path);

// Writes `backends` to a temporary file next to `path`, syncs it and renames
// it over `path`: a crash leaves the old list or the new one, never half.
absl::Status WriteBackendsFile(const std::string& path,
                               const std::vector<v1::BackendConfig>& backends);

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_SERVICE_BACKENDS_FILE_H_
