// AdminAuthorizer: who may change the RAID through the Admin API (disable or
// enable a backend, add or remove one, start or cancel a recovery, change its
// rate). Reading it (Status, Details) is open to every client that may
// connect at all.
//
// A state-changing call is allowed when any one of these holds:
//  * it comes over loopback or a Unix socket (unless loopback is not
//    trusted: a host with untrusted local users);
//  * its TLS client certificate (verified by raidcore's --tls_client_ca)
//    names one of the admin identities (common name or a DNS/IP subject
//    alternative name);
//  * it carries "authorization: Bearer <token>" with the token from
//    --admin_token_file.
#ifndef ZEORAID_RAIDCORE_SERVICE_ADMIN_AUTH_H_
#define ZEORAID_RAIDCORE_SERVICE_ADMIN_AUTH_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace grpc {
class ServerContext;
class Status;
}  // namespace grpc

namespace zeoraid::raidcore {

struct AdminAuthOptions {
  bool trust_loopback = true;
  std::set<std::string> identities;  // certificate names allowed
  std::string token;                 // empty: no token accepted
};

class AdminAuthorizer {
 public:
  explicit AdminAuthorizer(AdminAuthOptions options)
      : options_(std::move(options)) {}

  // The decision. `peer` as gRPC names it ("ipv4:127.0.0.1:5000",
  // "ipv6:[::1]:5000", "unix:/path"); `certificate_names` from the verified
  // client certificate; `authorization` the header's value ("" if none).
  // PermissionDenied says what would be accepted.
  absl::Status Check(absl::string_view peer,
                     const std::vector<std::string>& certificate_names,
                     absl::string_view authorization) const;
  // The same for a call in progress.
  grpc::Status Authorize(grpc::ServerContext* context,
                         absl::string_view method) const;

  static bool IsLoopbackPeer(absl::string_view peer);

 private:
  const AdminAuthOptions options_;
};

}  // namespace zeoraid::raidcore

#endif  // ZEORAID_RAIDCORE_SERVICE_ADMIN_AUTH_H_
