// Levelled, line-oriented logging to stderr: one event per line, with time and
// level.
//
//   ZR_LOG(INFO) << "backend " << name << " degraded: " << reason;
//
// The level threshold is process-wide (SetLogLevel, usually from a --log_level
// flag).
#ifndef ZEORAID_BASE_LOGGING_H_
#define ZEORAID_BASE_LOGGING_H_

#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace zeoraid {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Accepts debug|info|warning|error (case-insensitive).
absl::Status SetLogLevelFromName(absl::string_view name);

// Collects one log line and writes it atomically when destroyed.
class LogLine {
 public:
  LogLine(LogLevel level, const char* file, int line);
  ~LogLine();
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

}  // namespace zeoraid

#define ZR_LOG_LEVEL_DEBUG ::zeoraid::LogLevel::kDebug
#define ZR_LOG_LEVEL_INFO ::zeoraid::LogLevel::kInfo
#define ZR_LOG_LEVEL_WARNING ::zeoraid::LogLevel::kWarning
#define ZR_LOG_LEVEL_ERROR ::zeoraid::LogLevel::kError

#define ZR_LOG(severity)                                    \
  if (ZR_LOG_LEVEL_##severity < ::zeoraid::GetLogLevel()) { \
  } else                                                    \
    ::zeoraid::LogLine(ZR_LOG_LEVEL_##severity, __FILE__, __LINE__).stream()

#endif  // ZEORAID_BASE_LOGGING_H_
