#include "raidcore/service/admin_auth.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/auth_context.h>
#include <openssl/crypto.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/logging.h"

namespace zeoraid::raidcore {
namespace {

// Compares without leaking, through timing, how much of a guess was right.
bool SameSecret(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() &&
         CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

bool AdminAuthorizer::IsLoopbackPeer(absl::string_view peer) {
  return absl::StartsWith(peer, "ipv4:127.") ||
         absl::StartsWith(peer, "ipv6:[::1]:") ||
         absl::StartsWith(peer, "ipv6:[::ffff:127.") ||
         absl::StartsWith(peer, "unix:");
}

absl::Status AdminAuthorizer::Check(
    absl::string_view peer, const std::vector<std::string>& certificate_names,
    absl::string_view authorization) const {
  if (options_.trust_loopback && IsLoopbackPeer(peer)) {
    return absl::OkStatus();
  }
  for (const std::string& name : certificate_names) {
    if (options_.identities.count(name) != 0) return absl::OkStatus();
  }
  constexpr absl::string_view kBearer = "Bearer ";
  if (!options_.token.empty() && absl::StartsWith(authorization, kBearer) &&
      SameSecret(authorization.substr(kBearer.size()), options_.token)) {
    return absl::OkStatus();
  }
  std::vector<std::string> ways;
  if (options_.trust_loopback) ways.push_back("from loopback");
  if (!options_.identities.empty()) {
    ways.push_back("with an admin client certificate (--admin_identities)");
  }
  if (!options_.token.empty()) {
    ways.push_back("with the bearer token of --admin_token_file");
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "state-changing Admin calls are allowed only ",
      ways.empty() ? "to nobody (no way configured)"
                   : absl::StrJoin(ways, ", or "),
      "; this call came from ", peer,
      certificate_names.empty()
          ? " without a client certificate"
          : absl::StrCat(" as ", absl::StrJoin(certificate_names, "/")),
      authorization.empty() ? "" : " with a token that is not accepted"));
}

grpc::Status AdminAuthorizer::Authorize(grpc::ServerContext* context,
                                        absl::string_view method) const {
  std::vector<std::string> names;
  std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const char* property :
         {GRPC_X509_CN_PROPERTY_NAME, GRPC_X509_SAN_PROPERTY_NAME}) {
      for (const grpc::string_ref& v : auth->FindPropertyValues(property)) {
        names.emplace_back(v.data(), v.size());
      }
    }
  }
  std::string authorization;
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it != metadata.end()) {
    authorization.assign(it->second.data(), it->second.size());
  }
  absl::Status st = Check(context->peer(), names, authorization);
  if (st.ok()) return grpc::Status::OK;
  ZR_LOG(WARNING) << "refused Admin." << method << ": " << st.message();
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      std::string(st.message()));
}

}  // namespace zeoraid::raidcore
