#include "raidcore/service/config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace zeoraid::raidcore {
namespace {

// Collects the parser's complaints as "file:line:column: message".
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  explicit ErrorCollector(std::string source) : source_(std::move(source)) {}
  void AddError(int line, int column, const std::string& message) override {
    // The parser counts from 0; editors count from 1.
    absl::StrAppend(&errors_, errors_.empty() ? "" : "; ", source_, ":",
                    line + 1, ":", column + 1, ": ", message);
  }
  const std::string& errors() const { return errors_; }

 private:
  std::string source_;
  std::string errors_;
};

absl::Status Check(const v1::RaidcoreConfig& config,
                   const std::string& source) {
  std::set<std::string> names;
  for (int i = 0; i < config.backend_size(); ++i) {
    const v1::BackendConfig& b = config.backend(i);
    std::string field = absl::StrCat(source, ": backend[", i, "]");
    if (b.name().empty() || b.address().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " needs both name and address"));
    }
    if (!names.insert(b.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".name: '", b.name(), "' is used twice"));
    }
  }
  for (const auto& [value, name] :
       {std::pair{config.connect_timeout_seconds(), "connect_timeout_seconds"},
        {config.backend_timeout_seconds(), "backend_timeout_seconds"},
        {config.lock_wait_timeout_seconds(), "lock_wait_timeout_seconds"},
        {config.commit_lock_timeout_seconds(), "commit_lock_timeout_seconds"},
        {config.startup_wait_seconds(), "startup_wait_seconds"}}) {
    if (value < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": ", name, " must not be negative"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::RaidcoreConfig> ParseConfig(const std::string& text,
                                               const std::string& source) {
  v1::RaidcoreConfig config;
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors(source);
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &config)) {
    return absl::InvalidArgumentError(errors.errors().empty()
                                          ? absl::StrCat(source, ": unreadable")
                                          : errors.errors());
  }
  absl::Status st = Check(config, source);
  if (!st.ok()) return st;
  return config;
}

absl::StatusOr<v1::RaidcoreConfig> LoadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), path);
}

}  // namespace zeoraid::raidcore
