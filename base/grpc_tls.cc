#include "base/grpc_tls.h"

#include "absl/strings/str_cat.h"
#include "base/pem_file.h"

namespace zeoraid {

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ClientCredentials(
    const ClientTlsFiles& files, grpc::ChannelArguments* args) {
  if (files.ca.empty()) {
    if (!files.certificate.empty() || !files.key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(files.certificate_flag,
                                                     "/", files.key_flag,
                                                     " need ", files.ca_flag));
    }
    return grpc::InsecureChannelCredentials();
  }
  if (files.certificate.empty() != files.key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        files.certificate_flag, " and ", files.key_flag, " go together"));
  }
  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> pem = ReadPemFile(files.ca, files.ca_flag);
  if (!pem.ok()) return pem.status();
  ssl.pem_root_certs = std::move(*pem);
  if (!files.certificate.empty()) {
    pem = ReadPemFile(files.certificate, files.certificate_flag);
    if (!pem.ok()) return pem.status();
    ssl.pem_cert_chain = std::move(*pem);
    pem = ReadPemFile(files.key, files.key_flag);
    if (!pem.ok()) return pem.status();
    ssl.pem_private_key = std::move(*pem);
  }
  if (!files.server_name.empty()) {
    args->SetSslTargetNameOverride(files.server_name);
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace zeoraid
