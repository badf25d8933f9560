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

// True when --NAME was given on the command line (or in a --flagfile), even
// if set to its default value. Only meaningful after InitMain.
bool FlagGiven(absl::string_view name);

// The start of every main(): sets the --help text, parses the command line
// (folding every occurrence of the list flag `repeated`, if given) and applies
// --log_level. Returns the positional arguments, program name first. Exits with
// status 2 on a bad --log_level, as Abseil does for any other bad flag.
std::vector<std::string> InitMain(int argc, char** argv, const char* usage,
                                  absl::string_view repeated = "");

}  // namespace zeoraid

#endif  // ZEORAID_BASE_FLAGS_H_
