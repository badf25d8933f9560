// gRPC client credentials from the PEM files named by flags: TLS (with a
// client certificate when one is given) or plaintext. Shared by the
// translator (towards raidcore) and zeoraid-admin.
#ifndef ZEORAID_BASE_GRPC_TLS_H_
#define ZEORAID_BASE_GRPC_TLS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace zeoraid {

struct ClientTlsFiles {
  // Empty: plaintext (then certificate and key must be empty too).
  std::string ca;
  std::string certificate;
  std::string key;
  // Name expected in the server's certificate, when not the target's host.
  std::string server_name;
  // The flags' names, for error messages ("--tls_ca", ...).
  std::string ca_flag, certificate_flag, key_flag;
};

// Plaintext or TLS credentials; sets the target name override in `args`.
// InvalidArgument names the flag that is wrong.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ClientCredentials(
    const ClientTlsFiles& files, grpc::ChannelArguments* args);

}  // namespace zeoraid

#endif  // ZEORAID_BASE_GRPC_TLS_H_
