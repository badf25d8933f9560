// Reading the PEM files named on command lines (certificates, keys, CAs),
// with errors that name the flag and the file.
#ifndef ZEORAID_BASE_PEM_FILE_H_
#define ZEORAID_BASE_PEM_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace zeoraid {

// The contents of `path`; InvalidArgument (naming `flag`) when it cannot be
// read or holds no PEM block.
absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        absl::string_view flag);

// The first line of `path` with surrounding blanks removed (a bearer token);
// InvalidArgument when unreadable or empty.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path,
                                           absl::string_view flag);

}  // namespace zeoraid

#endif  // ZEORAID_BASE_PEM_FILE_H_
