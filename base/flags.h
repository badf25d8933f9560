// Command-line helpers shared by the binaries.
#ifndef ZEORAID_BASE_FLAGS_H_
#define ZEORAID_BASE_FLAGS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace zeoraid {

// Abseil keeps only the last occurrence of a flag. For list flags that
// operators repeat (--backend a=… --backend b=…), this folds every occurrence
// of --NAME into one comma-separated --NAME=… argument, so that the list flag
// sees all of them. Returns the rewritten argument vector (strings owned by the
// result).
std::vector<std::string> MergeRepeatedFlag(int argc, char** argv,
                                           absl::string_view name);

}  // namespace zeoraid

#endif  // ZEORAID_BASE_FLAGS_H_
