// zeoraid-admin: the operator's command line over raidcore's Admin API.
//
//   zeoraid-admin [--raidcore HOST:PORT] [--json] COMMAND [ARGS]
//
// COMMAND is status, recover NAME, cancel, rate or help; kCommands and Usage()
// below are the reference (they are what --help prints).
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver.h>
#include <google/protobuf/util/type_resolver_util.h>
#include <grpcpp/grpcpp.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/internal/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "base/flags.h"
#include "base/grpc_tls.h"
#include "base/pem_file.h"
#include "zeoraid/v1/admin.grpc.pb.h"

ABSL_FLAG(std::string, raidcore, "127.0.0.1:8200",
          "Address of raidcore's gRPC Admin service.");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA that signed raidcore's certificate: connect with TLS "
          "(raidcore's --tls_certificate).");
ABSL_FLAG(std::string, tls_certificate, "",
          "PEM client certificate for raidcore's --tls_client_ca (and, if "
          "its name is in raidcore's --admin_identities, for changes).");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_certificate.");
ABSL_FLAG(std::string, tls_server_name, "",
          "Name to expect in raidcore's certificate, when it is not the host "
          "part of --raidcore.");
ABSL_FLAG(std::string, token_file, "",
          "File whose first line is the bearer token of raidcore's "
          "--admin_token_file (for changes from beyond loopback).");
ABSL_FLAG(bool, json, false, "Print JSON instead of a table (for scripts).");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10),
          "Deadline of each call to raidcore.");
ABSL_FLAG(std::string, reason, "",
          "disable: why the backend is taken out (shown in status and "
          "details).");
ABSL_FLAG(double, bytes_per_second, 0,
          "rate: the recovery's byte limit per second (0 = unlimited).");
ABSL_FLAG(double, transactions_per_second, 0,
          "rate: the recovery's transaction limit per second (0 = unlimited).");

namespace zeoraid::admin {
namespace {

namespace pb = google::protobuf;

// Exit codes. `status` follows the monitoring convention (Nagios plugins,
// mdadm --detail --test) so that a check can run it as is; the other commands
// keep 1 for "raidcore said no" and 3 for "could not ask", so a script can
// tell a refusal it should act on from a transient failure it may retry.
constexpr int kExitOk = 0;
constexpr int kExitWarning = 1;   // status: degraded or recovering
constexpr int kExitCritical = 2;  // status: failed
constexpr int kExitUnknown = 3;   // status: unreachable or unknown state
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;

struct Command {
  const char* name;
  const char* args;
  const char* help;
};

constexpr Command kCommands[] = {
    {"status", "",
     "The RAID's state, storage name, last tid and commits; each backend's\n"
     "address, state, last tid and why it left optimal; the progress of a\n"
     "running recovery under its target backend; the last recovery job; the\n"
     "recovery rate; what a starting RAID still waits for.\n"
     "Exit code, for monitoring (as a Nagios plugin):\n"
     "  0  optimal\n"
     "  1  degraded, a backend recovering, or waiting for backends (WARNING)\n"
     "  2  failed: no backend serves, every call fails (CRITICAL)\n"
     "  3  raidcore unreachable, or its state unknown (UNKNOWN)\n"},
    {"recover", "NAME",
     "Starts recovering the degraded backend NAME from an optimal one:\n"
     "incremental from NAME's last transaction, or full when its storage is\n"
     "empty. Returns at once; `status` shows the progress. Refused while\n"
     "another recovery runs, when NAME is not degraded, or when no backend\n"
     "is optimal.\n"},
    {"cancel", "", "Stops the running recovery; its target stays degraded.\n"},
    {"details", "",
     "Per backend: state, the protocol of raidcore's connection (Z5 pickle,\n"
     "M5 msgpack), whether that connection is up, whether its storage\n"
     "keeps blobs, how often it left optimal, the calls raidcore made to\n"
     "it and how many got no answer, its address, and its last\n"
     "state changes with times (UTC) and reasons.\n"},
    {"disable", "NAME [--reason TEXT]",
     "Takes backend NAME out: it serves nothing and is not recovered until\n"
     "`enable`. Refused for the last optimal backend and for one being\n"
     "recovered (`cancel` first). Not kept across a raidcore restart.\n"},
    {"add", "NAME ADDRESS",
     "Adds a backend (ADDRESS: HOST:PORT or a socket path of a ZEO server\n"
     "with the RAID's storage): it joins degraded and is recovered, in full\n"
     "when its storage is empty. Kept in raidcore's --backends_file, so it\n"
     "survives a restart; refused when raidcore runs without one.\n"},
    {"remove", "NAME",
     "Forgets backend NAME (also in --backends_file). Refused for the last\n"
     "optimal backend and for one being recovered.\n"},
    {"enable", "NAME",
     "Re-admits the disabled backend NAME through recovery: started at once\n"
     "when no other recovery runs, else by automatic recovery later.\n"},
    {"rate", "[--bytes_per_second N] [--transactions_per_second N]",
     "Without numbers prints the recovery throttle. With them sets it, also\n"
     "for the running recovery; 0 = unlimited, and a number not given keeps\n"
     "its current value.\n"},
    {"help", "[COMMAND]", "Prints this text, or one command's part of it.\n"},
};

// The --help text: every command, then the exit codes.
std::string Usage() {
  std::string out =
      "Operator command line for ZEORaid: shows and steers raidcore's RAID.\n\n"
      "  zeoraid-admin [--raidcore HOST:PORT] [--json] [--timeout D] COMMAND "
      "[ARGS]\n\nCommands:\n";
  for (const Command& c : kCommands) {
    std::string help;
    for (absl::string_view line : absl::StrSplit(c.help, '\n')) {
      if (!line.empty()) absl::StrAppend(&help, "      ", line, "\n");
    }
    absl::StrAppend(&out, "  ", c.name, *c.args ? " " : "", c.args, "\n", help);
  }
  absl::StrAppend(
      &out,
      "\nExit code of the other commands:\n"
      "  0  done\n"
      "  1  raidcore refused; its message is on stderr after "
      "\"zeoraid-admin: \"\n"
      "  2  usage error: unknown command or flag, missing or extra argument\n"
      "  3  raidcore unreachable, or no answer within --timeout\n\n"
      "--json prints raidcore's answer in protobuf's JSON mapping with the\n"
      "proto's snake_case field names, every field (also 0 and \"\"; an\n"
      "object such as \"recovery\" only when there is one), states as\n"
      "lowercase words (\"optimal\", \"degraded\", \"failed\",\n"
      "\"recovering\", \"disabled\") and 64-bit counters as numbers.");
  return out;
}

const Command* FindCommand(absl::string_view name) {
  for (const Command& c : kCommands) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

int UsageError(absl::string_view message) {
  std::fprintf(stderr, "zeoraid-admin: %s (see --help)\n",
               std::string(message).c_str());
  return kExitUsage;
}

// Abseil ends the process with std::exit(1) on a bad flag and after --help,
// but 1 means WARNING (status) or "refused" here. Installed with atexit and
// armed only while the command line is parsed, this turns those exits into
// ours: 0 after a help or version request, 2 (usage error) otherwise.
bool g_parsing_flags = false;

// A help or version request (--help, --helpfull, --version, ...). Abseil
// keeps it in internal state only; base/flags.cc reads the parser's state the
// same way.
bool UsageFlagRequested() {
  return absl::flags_internal::GetFlagsHelpMode() !=
         absl::flags_internal::HelpMode::kNone;
}

void ExitFromFlagParsing() {
  if (!g_parsing_flags) return;
  std::cout.flush();
  std::fflush(nullptr);
  std::_Exit(UsageFlagRequested() ? kExitOk : kExitUsage);
}

// RAID_OPTIMAL → "optimal", BACKEND_DEGRADED → "degraded": the words
// operators and scripts have always seen (every value of these enums is
// PREFIX_WORD).
std::string StateWord(absl::string_view enum_name) {
  if (enum_name.empty()) return "unknown";  // a value newer than this binary
  return absl::AsciiStrToLower(enum_name.substr(enum_name.rfind('_') + 1));
}
std::string RaidStateText(v1::RaidState s) {
  return StateWord(v1::RaidState_Name(s));
}
std::string BackendStateText(v1::BackendState s) {
  return StateWord(v1::BackendState_Name(s));
}

// --- Human-readable numbers.

std::string Bytes(double n) {
  if (n < 1000) return absl::StrFormat("%.0f B", n);
  if (n < 1e6) return absl::StrFormat("%.1f kB", n / 1e3);
  if (n < 1e9) return absl::StrFormat("%.1f MB", n / 1e6);
  if (n < 1e12) return absl::StrFormat("%.1f GB", n / 1e9);
  return absl::StrFormat("%.1f TB", n / 1e12);
}

// 50 → "50", 1.25 → "1.2", 1234.5 → "1234".
std::string Number(double n) {
  if (n >= 100 || n == std::floor(n)) return absl::StrFormat("%.0f", n);
  return absl::StrFormat("%.1f", n);
}

// 0.0123 → "12.3ms", 4 → "4s", 125 → "2m05s", 7300 → "2h01m".
std::string Duration(double seconds) {
  if (seconds < 1) return absl::StrFormat("%.3gms", seconds * 1000);
  if (seconds < 60) return absl::StrFormat("%.3gs", seconds);
  auto s = static_cast<int64_t>(seconds + 0.5);
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%dh%02dm", s / 3600, s % 3600 / 60);
}

std::string RateText(const v1::RecoveryRate& rate) {
  std::vector<std::string> limits;
  if (rate.bytes_per_second() > 0) {
    limits.push_back(absl::StrCat(Bytes(rate.bytes_per_second()), "/s"));
  }
  if (rate.transactions_per_second() > 0) {
    limits.push_back(
        absl::StrCat(Number(rate.transactions_per_second()), " txn/s"));
  }
  if (limits.empty()) return "unlimited";
  return absl::StrCat("at most ", absl::StrJoin(limits, " and "));
}

// "120/300 txns": transactions_estimated counts those still to copy, so the
// total is copied + estimated; without an estimate only the count is known.
std::string TransactionsText(const v1::RecoveryProgress& p) {
  if (p.transactions_estimated() == 0) {
    return absl::StrCat(p.transactions_copied(), " txns");
  }
  return absl::StrCat(p.transactions_copied(), "/",
                      p.transactions_copied() + p.transactions_estimated(),
                      " txns");
}

// The line under a backend being recovered:
//   recovering from backend1 (incremental, copying): 120/300 txns, 1.2 MB,
//   50 txn/s, ETA 4s
std::string ProgressLine(const v1::RecoveryProgress& p) {
  std::string out = absl::StrCat(
      "recovering from ", p.source(), " (", p.mode(),
      p.phase().empty() ? "" : ", ", p.phase(), "): ", TransactionsText(p),
      ", ", Bytes(static_cast<double>(p.bytes_copied())), ", ",
      Number(p.transactions_per_second()), " txn/s");
  if (p.eta_seconds() > 0) {
    absl::StrAppend(&out, ", ETA ", Duration(p.eta_seconds()));
  }
  if (!p.message().empty()) absl::StrAppend(&out, "; ", p.message());
  return out;
}

// The RAID-level summary of the running or last recovery job:
//   backend2 from backend1 (incremental), done: 300 txns, 4.5 MB in 12s,
//   commit lock held 8.1ms at most
std::string JobLine(const v1::RecoveryProgress& p) {
  std::string out = absl::StrCat(
      p.backend(), " from ", p.source(), " (", p.mode(), "), ", p.phase(), ": ",
      TransactionsText(p), ", ", Bytes(static_cast<double>(p.bytes_copied())),
      " in ", Duration(p.elapsed_seconds()));
  if (p.longest_lock_hold_seconds() > 0) {
    absl::StrAppend(&out, ", commit lock held ",
                    Duration(p.longest_lock_hold_seconds()), " at most");
  }
  if (!p.message().empty()) absl::StrAppend(&out, "; ", p.message());
  return out;
}

void PrintTable(const v1::StatusResponse& r) {
  std::printf("RAID %s  storage '%s'  last tid %s  commits %llu\n",
              RaidStateText(r.state()).c_str(), r.storage_name().c_str(),
              r.last_tid().c_str(),
              static_cast<unsigned long long>(r.commits()));
  if (!r.waiting_for().empty()) {
    std::printf("waiting for %s\n", r.waiting_for().c_str());
  }
  std::printf("\n%-12s %-24s %-11s %-17s %s\n", "BACKEND", "ADDRESS", "STATE",
              "LAST TID", "REASON");
  for (const v1::BackendStatus& b : r.backends()) {
    std::string reason = b.reason();
    if (b.auto_recover()) {
      absl::StrAppend(&reason, reason.empty() ? "" : " ",
                      "(recovers by itself once it answers)");
    }
    if (b.lag_transactions() != 0 || b.lag_seconds() > 0) {
      absl::StrAppend(&reason, reason.empty() ? "" : " ", "(",
                      b.lag_transactions() < 0
                          ? std::string("many transactions")
                          : absl::StrCat(b.lag_transactions(), " transactions"),
                      ", ", Duration(b.lag_seconds()), " behind)");
    }
    std::printf("%-12s %-24s %-11s %-17s %s\n", b.name().c_str(),
                b.address().c_str(), BackendStateText(b.state()).c_str(),
                b.last_tid().c_str(), reason.c_str());
    if (!b.last_error().empty() && b.state() == v1::BACKEND_OPTIMAL) {
      std::printf("  last left optimal %s: %s\n", b.last_error_at().c_str(),
                  b.last_error().c_str());
    }
    if (b.has_recovery()) {
      std::printf("  %s\n", ProgressLine(b.recovery()).c_str());
    }
  }
  std::printf("\n");
  if (r.has_recovery()) {
    std::printf("recovery: %s\n", JobLine(r.recovery()).c_str());
  }
  std::printf("recovery rate: %s\n", RateText(r.recovery_rate()).c_str());
}

// --- JSON.

void AdjustJson(const pb::Descriptor& type, pb::Struct* object);

// See PrintJson; `value` holds one element of `field`.
void AdjustJsonValue(const pb::FieldDescriptor& field, pb::Value* value) {
  switch (field.cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_ENUM:
      if (value->kind_case() == pb::Value::kStringValue) {
        value->set_string_value(StateWord(value->string_value()));
      }
      break;
    case pb::FieldDescriptor::CPPTYPE_INT64: {
      int64_t n;
      if (value->kind_case() == pb::Value::kStringValue &&
          absl::SimpleAtoi(value->string_value(), &n)) {
        value->set_number_value(static_cast<double>(n));
      }
      break;
    }
    case pb::FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t n;
      if (value->kind_case() == pb::Value::kStringValue &&
          absl::SimpleAtoi(value->string_value(), &n)) {
        value->set_number_value(static_cast<double>(n));
      }
      break;
    }
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      if (value->has_struct_value()) {
        AdjustJson(*field.message_type(), value->mutable_struct_value());
      }
      break;
    default:
      break;
  }
}

// Walks `object` (the JSON of a message of `type`) along the descriptor.
void AdjustJson(const pb::Descriptor& type, pb::Struct* object) {
  for (int i = 0; i < type.field_count(); ++i) {
    const pb::FieldDescriptor& field = *type.field(i);
    if (field.is_map()) continue;  // none in the Admin API
    auto it = object->mutable_fields()->find(field.name());
    if (it == object->mutable_fields()->end()) continue;
    pb::Value* value = &it->second;
    if (!field.is_repeated()) {
      AdjustJsonValue(field, value);
    } else if (value->has_list_value()) {
      for (pb::Value& element :
           *value->mutable_list_value()->mutable_values()) {
        AdjustJsonValue(field, &element);
      }
    }
  }
}

// MessageToJsonString(value) with the object keys in sorted order: a Struct
// is a map, which the printer writes in wire order, and only deterministic
// serialization fixes that order (its process-wide switch is private).
pb::util::Status ValueToJson(const pb::Value& value,
                             const pb::util::JsonPrintOptions& options,
                             std::string* json) {
  std::string binary;
  {
    pb::io::StringOutputStream stream(&binary);
    pb::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    value.SerializeToCodedStream(&coded);
  }
  constexpr char kUrlPrefix[] = "type.googleapis.com";
  std::unique_ptr<pb::util::TypeResolver> resolver(
      pb::util::NewTypeResolverForDescriptorPool(
          kUrlPrefix, pb::DescriptorPool::generated_pool()));
  return pb::util::BinaryToJsonString(
      resolver.get(),
      absl::StrCat(kUrlPrefix, "/", value.GetDescriptor()->full_name()), binary,
      json, options);
}

// Prints `message` as one line of JSON in protobuf's mapping, with two
// departures that keep the output scripts (and tests/system) already read:
// enum values as lowercase words ("optimal", not "RAID_OPTIMAL"), and 64-bit
// integers as JSON numbers (the mapping quotes them; `commits >= 3` should
// not need a cast). Both are applied to a google.protobuf.Value parsed back
// from the printer's output, so the printer still does all quoting.
bool PrintJson(const pb::Message& message) {
  pb::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string json;
  pb::Value value;
  auto status = pb::util::MessageToJsonString(message, &json, options);
  if (status.ok()) status = pb::util::JsonStringToMessage(json, &value);
  if (status.ok() && value.has_struct_value()) {
    AdjustJson(*message.GetDescriptor(), value.mutable_struct_value());
    json.clear();
    status = ValueToJson(value, options, &json);
  }
  if (!status.ok()) {
    std::fprintf(stderr, "zeoraid-admin: cannot print JSON: %s\n",
                 status.ToString().c_str());
    return false;
  }
  std::printf("%s\n", json.c_str());
  return true;
}

// --- Calls.

// The bearer token of --token_file, read once ("" without one).
std::string g_token;

// Every call's deadline, and the operator's token.
void PrepareCall(grpc::ClientContext* context) {
  context->set_deadline(
      std::chrono::system_clock::now() +
      absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_timeout)));
  if (!g_token.empty()) {
    context->AddMetadata("authorization", "Bearer " + g_token);
  }
}

// TLS towards raidcore (with this operator's client certificate) when
// --tls_ca is given, else plaintext.
absl::StatusOr<std::shared_ptr<grpc::Channel>> RaidcoreChannel() {
  ClientTlsFiles files;
  files.ca = absl::GetFlag(FLAGS_tls_ca);
  files.certificate = absl::GetFlag(FLAGS_tls_certificate);
  files.key = absl::GetFlag(FLAGS_tls_key);
  files.server_name = absl::GetFlag(FLAGS_tls_server_name);
  files.ca_flag = "--tls_ca";
  files.certificate_flag = "--tls_certificate";
  files.key_flag = "--tls_key";
  grpc::ChannelArguments args;
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      ClientCredentials(files, &args);
  if (!credentials.ok()) return credentials.status();
  return grpc::CreateCustomChannel(absl::GetFlag(FLAGS_raidcore), *credentials,
                                   args);
}

// Reports a failed call on stderr and returns the exit code of a command
// other than status. A deadline counts as unreachable: whether raidcore
// acted is unknown, as when it cannot be reached.
int CallFailed(const grpc::Status& status) {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    std::fprintf(stderr, "zeoraid-admin: cannot reach raidcore at %s: %s\n",
                 absl::GetFlag(FLAGS_raidcore).c_str(),
                 status.error_message().c_str());
    return kExitUnreachable;
  }
  std::fprintf(stderr, "zeoraid-admin: %s\n", status.error_message().c_str());
  return kExitRefused;
}

grpc::Status GetStatus(v1::Admin::Stub* stub, v1::StatusResponse* response) {
  grpc::ClientContext context;
  PrepareCall(&context);
  return stub->Status(&context, v1::StatusRequest(), response);
}

// The monitoring verdict of a status answer (see kCommands).
int StatusExitCode(const v1::StatusResponse& r) {
  switch (r.state()) {
    case v1::RAID_FAILED:
      return kExitCritical;
    case v1::RAID_DEGRADED:
      return kExitWarning;
    case v1::RAID_OPTIMAL:
      break;
    default:
      return kExitUnknown;
  }
  // Optimal should mean every backend optimal and commits accepted; do not
  // report OK on raidcore's word alone if a backend or start-up says else.
  if (!r.waiting_for().empty()) return kExitWarning;
  for (const v1::BackendStatus& b : r.backends()) {
    if (b.state() != v1::BACKEND_OPTIMAL || b.has_recovery()) {
      return kExitWarning;
    }
  }
  return kExitOk;
}

int Status(v1::Admin::Stub* stub) {
  v1::StatusResponse response;
  grpc::Status status = GetStatus(stub, &response);
  if (!status.ok()) {
    CallFailed(status);
    return kExitUnknown;  // whatever the reason, the state is unknown
  }
  if (absl::GetFlag(FLAGS_json)) {
    // Present even when raidcore leaves it unset (= unlimited), so scripts
    // always find it.
    response.mutable_recovery_rate();
    if (!PrintJson(response)) return kExitUnknown;
  } else {
    PrintTable(response);
  }
  return StatusExitCode(response);
}

// Prints the message of a Recover or CancelRecovery answer.
int PrintMessage(const pb::Message& response, const std::string& message,
                 const std::string& fallback) {
  if (absl::GetFlag(FLAGS_json)) {
    return PrintJson(response) ? kExitOk : kExitUnknown;
  }
  std::printf("%s\n", message.empty() ? fallback.c_str() : message.c_str());
  return kExitOk;
}

int Recover(v1::Admin::Stub* stub, const std::string& backend) {
  grpc::ClientContext context;
  PrepareCall(&context);
  v1::RecoverRequest request;
  request.set_backend(backend);
  v1::RecoverResponse response;
  grpc::Status status = stub->Recover(&context, request, &response);
  if (!status.ok()) return CallFailed(status);
  return PrintMessage(response, response.message(),
                      absl::StrCat("recovery of ", backend, " started"));
}

int Cancel(v1::Admin::Stub* stub) {
  grpc::ClientContext context;
  PrepareCall(&context);
  v1::CancelRecoveryResponse response;
  grpc::Status status =
      stub->CancelRecovery(&context, v1::CancelRecoveryRequest(), &response);
  if (!status.ok()) return CallFailed(status);
  return PrintMessage(response, response.message(), "recovery cancelled");
}

int Details(v1::Admin::Stub* stub) {
  grpc::ClientContext context;
  PrepareCall(&context);
  v1::DetailsResponse response;
  grpc::Status status =
      stub->Details(&context, v1::DetailsRequest(), &response);
  if (!status.ok()) return CallFailed(status);
  if (absl::GetFlag(FLAGS_json)) return PrintJson(response) ? kExitOk : 1;
  std::cout << "RAID " << RaidStateText(response.state()) << "\n\n";
  std::cout << absl::StrFormat("%-12s %-11s %-5s %-4s %-5s %-5s %-9s %-6s %s\n",
                               "BACKEND", "STATE", "PROTO", "UP", "BLOBS",
                               "DEGR", "CALLS", "ERRORS", "ADDRESS");
  for (const v1::BackendDetails& b : response.backends()) {
    std::cout << absl::StrFormat(
        "%-12s %-11s %-5s %-4s %-5s %-5d %-9d %-6d %s\n", b.name(),
        BackendStateText(b.state()), b.protocol().empty() ? "-" : b.protocol(),
        b.connected() ? "yes" : "no", b.blobs() ? "yes" : "no",
        b.degradations(), b.calls(), b.call_errors(), b.address());
  }
  for (const v1::BackendDetails& b : response.backends()) {
    std::cout << "\n" << b.name() << ":\n";
    for (const v1::StateChange& h : b.history()) {
      std::cout << "  " << h.at() << "  " << BackendStateText(h.from())
                << " -> " << BackendStateText(h.to())
                << (h.reason().empty() ? "" : "  ") << h.reason() << "\n";
    }
  }
  return kExitOk;
}

int Disable(v1::Admin::Stub* stub, const std::string& backend) {
  grpc::ClientContext context;
  PrepareCall(&context);
  v1::DisableRequest request;
  request.set_backend(backend);
  request.set_reason(absl::GetFlag(FLAGS_reason));
  v1::DisableResponse response;
  grpc::Status status = stub->Disable(&context, request, &response);
  if (!status.ok()) return CallFailed(status);
  return PrintMessage(response, response.message(),
                      absl::StrCat("backend ", backend, " disabled"));
}

int Enable(v1::Admin::Stub* stub, const std::string& backend) {
  grpc::ClientContext context;
  PrepareCall(&context);
  v1::EnableRequest request;
  request.set_backend(backend);
  v1::EnableResponse response;
  grpc::Status status = stub->Enable(&context, request, &response);
  if (!status.ok()) return CallFailed(status);
  return PrintMessage(response, response.message(),
                      absl::StrCat("backend ", backend, " enabled"));
}

int AddBackend(v1::Admin::Stub* stub, const std::string& name,
               const std::string& address) {
  grpc::ClientContext context;
  PrepareCall(&context);
  v1::AddBackendRequest request;
  request.set_name(name);
  request.set_address(address);
  v1::AddBackendResponse response;
  grpc::Status status = stub->AddBackend(&context, request, &response);
  if (!status.ok()) return CallFailed(status);
  return PrintMessage(response, response.message(),
                      absl::StrCat("backend ", name, " added"));
}

int RemoveBackend(v1::Admin::Stub* stub, const std::string& name) {
  grpc::ClientContext context;
  PrepareCall(&context);
  v1::RemoveBackendRequest request;
  request.set_name(name);
  v1::RemoveBackendResponse response;
  grpc::Status status = stub->RemoveBackend(&context, request, &response);
  if (!status.ok()) return CallFailed(status);
  return PrintMessage(response, response.message(),
                      absl::StrCat("backend ", name, " removed"));
}

int PrintRate(const v1::RecoveryRate& rate) {
  if (absl::GetFlag(FLAGS_json)) {
    return PrintJson(rate) ? kExitOk : kExitUnknown;
  }
  std::printf("recovery rate: %s\n", RateText(rate).c_str());
  return kExitOk;
}

int Rate(v1::Admin::Stub* stub) {
  const bool bytes_given = FlagGiven("bytes_per_second");
  const bool transactions_given = FlagGiven("transactions_per_second");
  // SetRecoveryRate replaces both limits, so the one not given is read first.
  // (Another operator changing it in between would be overwritten; an
  // operator's throttle is not worth a compare-and-set API.)
  v1::RecoveryRate rate;
  if (!bytes_given || !transactions_given) {
    v1::StatusResponse current;
    grpc::Status status = GetStatus(stub, &current);
    if (!status.ok()) return CallFailed(status);
    if (!bytes_given && !transactions_given) {
      return PrintRate(current.recovery_rate());
    }
    rate = current.recovery_rate();
  }
  if (bytes_given) {
    rate.set_bytes_per_second(absl::GetFlag(FLAGS_bytes_per_second));
  }
  if (transactions_given) {
    rate.set_transactions_per_second(
        absl::GetFlag(FLAGS_transactions_per_second));
  }
  grpc::ClientContext context;
  PrepareCall(&context);
  v1::SetRecoveryRateRequest request;
  *request.mutable_rate() = rate;
  v1::SetRecoveryRateResponse response;
  grpc::Status status = stub->SetRecoveryRate(&context, request, &response);
  if (!status.ok()) return CallFailed(status);
  return PrintRate(response.rate());
}

int Help(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::printf("%s\n", Usage().c_str());
    return kExitOk;
  }
  if (args.size() > 1) return UsageError("help takes at most one command");
  const Command* c = FindCommand(args[0]);
  if (c == nullptr) {
    return UsageError(absl::StrCat("unknown command '", args[0], "'"));
  }
  std::printf(
      "usage: zeoraid-admin [--raidcore HOST:PORT] [--json] %s%s%s\n\n%s",
      c->name, *c->args ? " " : "", c->args, c->help);
  return kExitOk;
}

int Run(const std::vector<std::string>& positional) {
  if (positional.size() < 2) return UsageError("no command given");
  const std::string& command = positional[1];
  const std::vector<std::string> args(positional.begin() + 2, positional.end());
  if (FindCommand(command) == nullptr) {
    return UsageError(absl::StrCat("unknown command '", command, "'"));
  }
  if (command == "help") return Help(args);

  // Check everything before the first call, so that a usage error never
  // leaves half of a command done.
  const bool rate_flags =
      FlagGiven("bytes_per_second") || FlagGiven("transactions_per_second");
  if (rate_flags && command != "rate") {
    return UsageError(absl::StrCat(
        "--bytes_per_second and --transactions_per_second belong to 'rate', "
        "not '",
        command, "'"));
  }
  for (double limit : {absl::GetFlag(FLAGS_bytes_per_second),
                       absl::GetFlag(FLAGS_transactions_per_second)}) {
    if (!std::isfinite(limit) || limit < 0) {
      return UsageError("a rate is a number >= 0 (0 = unlimited)");
    }
  }
  if (FlagGiven("reason") && command != "disable") {
    return UsageError(
        absl::StrCat("--reason belongs to 'disable', not '", command, "'"));
  }
  const bool takes_name = command == "recover" || command == "disable" ||
                          command == "enable" || command == "remove" ||
                          command == "add";
  const size_t wanted = command == "add" ? 2 : takes_name ? 1 : 0;
  if (args.size() != wanted) {
    return UsageError(
        wanted == 2 ? absl::StrCat("'", command,
                                   "' takes a backend name and an address")
        : wanted    ? absl::StrCat("'", command, "' takes one backend name")
                    : absl::StrCat("'", command, "' takes no arguments, got '",
                                   args[0], "'"));
  }
  if (takes_name && args[0].empty()) {
    return UsageError("empty backend name");
  }

  if (!absl::GetFlag(FLAGS_token_file).empty()) {
    absl::StatusOr<std::string> token =
        ReadSecretFile(absl::GetFlag(FLAGS_token_file), "--token_file");
    if (!token.ok()) return UsageError(std::string(token.status().message()));
    g_token = std::move(*token);
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = RaidcoreChannel();
  if (!channel.ok()) {
    return UsageError(std::string(channel.status().message()));
  }
  auto stub = v1::Admin::NewStub(*channel);
  if (command == "status") return Status(stub.get());
  if (command == "recover") return Recover(stub.get(), args[0]);
  if (command == "cancel") return Cancel(stub.get());
  if (command == "details") return Details(stub.get());
  if (command == "disable") return Disable(stub.get(), args[0]);
  if (command == "enable") return Enable(stub.get(), args[0]);
  if (command == "add") return AddBackend(stub.get(), args[0], args[1]);
  if (command == "remove") return RemoveBackend(stub.get(), args[0]);
  return Rate(stub.get());
}

}  // namespace
}  // namespace zeoraid::admin

int main(int argc, char** argv) {
  namespace admin = zeoraid::admin;
  const std::string usage = admin::Usage();
  std::atexit(admin::ExitFromFlagParsing);
  admin::g_parsing_flags = true;
  std::vector<std::string> positional =
      zeoraid::InitMain(argc, argv, usage.c_str());
  admin::g_parsing_flags = false;
  return admin::Run(positional);
}
