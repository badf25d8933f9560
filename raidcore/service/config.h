// raidcore's configuration file (zeoraid.v1.RaidcoreConfig in protobuf text
// format).
#ifndef ZEORAID_RAIDCORE_SERVICE_CONFIG_H_
#define ZEORAID_RAIDCORE_SERVICE_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "zeoraid/v1/config.pb.h"

namespace zeoraid::raidcore {

// Reads and checks the file. Errors name the file, line and column (for syntax
// errors and unknown fields) or the field (for bad values).
absl::StatusOr<v1::RaidcoreConfig> LoadConfig(const std::string& path);

// Parses config text; `source` names it in error messages.
absl::StatusOr<v1::RaidcoreConfig> ParseConfig(const std::string& text,
                                               const std::string& source);

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_SERVICE_CONFIG_H_
