#include "base/flags.h"

#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/flags/internal/parse.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "base/logging.h"

ABSL_FLAG(std::string, log_level, "info",
          "Least severe log lines written to stderr: debug, info, warning or "
          "error.");

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

bool FlagGiven(absl::string_view name) {
  // The public CommandLineFlag::IsSpecifiedOnCommandLine is private in the
  // Abseil we build with (20220623); the parser's own record is the same.
  return absl::flags_internal::WasPresentOnCommandLine(name);
}

std::vector<std::string> InitMain(int argc, char** argv, const char* usage,
                                  absl::string_view repeated) {
  // Debian builds Abseil without NDEBUG, which turns on absl::Mutex's
  // deadlock detection: a lock-order graph updated on every lock that gRPC
  // takes (measurable per call, docs/performance.md). Our own locks are
  // checked by -Wthread-safety and TSan instead.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::SetProgramUsageMessage(usage);
  // --help lists the project's own flags (Abseil's default only looks for a
  // source file named after the program).
  absl::FlagsUsageConfig config;
  config.contains_help_flags = [](absl::string_view file) {
    return !absl::StrContains(file, "absl/");
  };
  config.contains_helpshort_flags = config.contains_help_flags;
  absl::SetFlagsUsageConfig(config);
  std::vector<std::string> args;
  if (repeated.empty()) {
    args.assign(argv, argv + argc);
  } else {
    args = MergeRepeatedFlag(argc, argv, repeated);
  }
  std::vector<char*> arg_ptrs;
  for (std::string& a : args) arg_ptrs.push_back(a.data());
  std::vector<char*> positional = absl::ParseCommandLine(
      static_cast<int>(arg_ptrs.size()), arg_ptrs.data());
  absl::Status level = SetLogLevelFromName(absl::GetFlag(FLAGS_log_level));
  if (!level.ok()) {
    ZR_LOG(ERROR) << level.message();
    std::exit(2);
  }
  return std::vector<std::string>(positional.begin(), positional.end());
}

}  // namespace zeoraid
