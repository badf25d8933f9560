// zeoraid-admin: the operator's command line over raidcore's Admin API.
//
//   zeoraid-admin [--raidcore HOST:PORT] [--json] status
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/flags.h"
#include "zeoraid/v1/admin.grpc.pb.h"

ABSL_FLAG(std::string, raidcore, "127.0.0.1:8200",
          "Address of raidcore's gRPC Admin service.");
ABSL_FLAG(bool, json, false, "Print JSON instead of a table (for scripts).");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10),
          "Deadline of the call to raidcore.");

namespace zeoraid::admin {
namespace {

// RAID_OPTIMAL → "optimal", BACKEND_DEGRADED → "degraded".
std::string StateText(const std::string& enum_name) {
  return absl::AsciiStrToLower(enum_name.substr(enum_name.rfind('_') + 1));
}
std::string RaidStateText(v1::RaidState s) {
  return StateText(v1::RaidState_Name(s));
}
std::string BackendStateText(v1::BackendState s) {
  return StateText(v1::BackendState_Name(s));
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

void PrintJson(const v1::StatusResponse& r) {
  std::string out =
      absl::StrCat("{\"state\": ", JsonString(RaidStateText(r.state())),
                   ", \"storage_name\": ", JsonString(r.storage_name()),
                   ", \"last_tid\": ", JsonString(r.last_tid()),
                   ", \"commits\": ", r.commits(), ", \"backends\": [");
  for (int i = 0; i < r.backends_size(); ++i) {
    const v1::BackendStatus& b = r.backends(i);
    absl::StrAppend(&out, i ? ", " : "", "{\"name\": ", JsonString(b.name()),
                    ", \"address\": ", JsonString(b.address()),
                    ", \"state\": ", JsonString(BackendStateText(b.state())),
                    ", \"last_tid\": ", JsonString(b.last_tid()),
                    ", \"reason\": ", JsonString(b.reason()), "}");
  }
  absl::StrAppend(&out, "]}\n");
  std::fputs(out.c_str(), stdout);
}

void PrintTable(const v1::StatusResponse& r) {
  std::printf("RAID %s  storage '%s'  last tid %s  commits %llu\n\n",
              RaidStateText(r.state()).c_str(), r.storage_name().c_str(),
              r.last_tid().c_str(),
              static_cast<unsigned long long>(r.commits()));
  std::printf("%-12s %-24s %-11s %-17s %s\n", "BACKEND", "ADDRESS", "STATE",
              "LAST TID", "REASON");
  for (const v1::BackendStatus& b : r.backends()) {
    std::printf("%-12s %-24s %-11s %-17s %s\n", b.name().c_str(),
                b.address().c_str(), BackendStateText(b.state()).c_str(),
                b.last_tid().c_str(), b.reason().c_str());
  }
}

int Status(v1::Admin::Stub* stub) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_timeout)));
  v1::StatusResponse response;
  grpc::Status status = stub->Status(&context, v1::StatusRequest(), &response);
  if (!status.ok()) {
    std::fprintf(stderr, "zeoraid-admin: cannot reach raidcore at %s: %s\n",
                 absl::GetFlag(FLAGS_raidcore).c_str(),
                 status.error_message().c_str());
    return 1;
  }
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(response);
  } else {
    PrintTable(response);
  }
  return 0;
}

}  // namespace
}  // namespace zeoraid::admin

int main(int argc, char** argv) {
  std::vector<std::string> rest = zeoraid::InitMain(
      argc, argv,
      "Operator command line for ZEORaid.\n\n"
      "  zeoraid-admin [--raidcore HOST:PORT] [--json] status\n\n"
      "Commands:\n"
      "  status   RAID state, last tid, and each backend's state and reason.");
  if (rest.size() != 2) {
    std::fprintf(stderr, "usage: zeoraid-admin [flags] status (see --help)\n");
    return 2;
  }
  std::string command = rest[1];
  auto stub = zeoraid::v1::Admin::NewStub(grpc::CreateChannel(
      absl::GetFlag(FLAGS_raidcore), grpc::InsecureChannelCredentials()));
  if (command == "status") return zeoraid::admin::Status(stub.get());
  std::fprintf(stderr, "zeoraid-admin: unknown command '%s' (see --help)\n",
               command.c_str());
  return 2;
}
