#include "base/flags.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace zeoraid {

std::vector<std::string> MergeRepeatedFlag(int argc, char** argv,
                                           absl::string_view name) {
  std::vector<std::string> out;
  std::vector<std::string> values;
  const std::string single = absl::StrCat("-", name);
  const std::string dashed = absl::StrCat("--", name);
  for (int i = 0; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (i > 0 && arg == "--") {  // everything after it is positional
      for (; i < argc; ++i) out.emplace_back(argv[i]);
      break;
    }
    if (i > 0 && (arg == dashed || arg == single) && i + 1 < argc) {
      values.emplace_back(argv[++i]);
      continue;
    }
    bool matched = false;
    for (const std::string& prefix : {dashed + "=", single + "="}) {
      if (i > 0 && absl::StartsWith(arg, prefix)) {
        values.emplace_back(arg.substr(prefix.size()));
        matched = true;
        break;
      }
    }
    if (!matched) out.emplace_back(arg);
  }
  if (!values.empty()) {
    out.insert(out.begin() + 1,
               absl::StrCat(dashed, "=", absl::StrJoin(values, ",")));
  }
  return out;
}

}  // namespace zeoraid
