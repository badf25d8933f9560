#include "net/tls_stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace zeoraid::net {
namespace {

// OpenSSL's error queue, as one line (and cleared).
std::string OpenSslErrors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown TLS error" : out;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

absl::StatusOr<std::shared_ptr<TlsServerContext>> TlsServerContext::Create(
    const TlsServerOptions& options) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return absl::InternalError(OpenSslErrors());
  auto fail = [ctx](absl::string_view what) {
    std::string why = absl::StrCat(what, ": ", OpenSslErrors());
    SSL_CTX_free(ctx);
    return absl::InvalidArgumentError(why);
  };
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(
          ctx, options.certificate_file.c_str()) != 1) {
    return fail(absl::StrCat("certificate ", options.certificate_file));
  }
  // OpenSSL's default password callback reads the password from here; it is
  // needed only while the key is loaded.
  std::string password = options.key_password;
  SSL_CTX_set_default_passwd_cb_userdata(
      ctx, password.empty() ? nullptr : password.data());
  const bool key_loaded =
      SSL_CTX_use_PrivateKey_file(ctx, options.key_file.c_str(),
                                  SSL_FILETYPE_PEM) == 1;
  SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
  if (!key_loaded) {
    return fail(absl::StrCat(
        "key ", options.key_file,
        password.empty() ? " (encrypted? give its password)" : ""));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return fail("the key does not match the certificate");
  }
  const bool require_client = !options.client_ca.empty();
  if (require_client) {
    const bool dir = IsDirectory(options.client_ca);
    if (SSL_CTX_load_verify_locations(
            ctx, dir ? nullptr : options.client_ca.c_str(),
            dir ? options.client_ca.c_str() : nullptr) != 1) {
      return fail(absl::StrCat("client CA ", options.client_ca));
    }
    // As ZEO's server with `authenticate`: no certificate, no connection.
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       nullptr);
  }
  return std::shared_ptr<TlsServerContext>(
      new TlsServerContext(ctx, require_client));
}

TlsServerContext::~TlsServerContext() { SSL_CTX_free(ctx_); }

TlsStream::TlsStream(const TlsServerContext& context, const Socket* socket,
                     WriteQueue* out)
    : out_(out), raw_(socket) {
  MutexLock lock(&mu_);
  ssl_ = SSL_new(context.ctx());
  in_ = BIO_new(BIO_s_mem());
  out_bio_ = BIO_new(BIO_s_mem());
  // Reading an empty memory BIO means "wait for more", not end of file.
  BIO_set_mem_eof_return(in_, -1);
  SSL_set_bio(ssl_, in_, out_bio_);  // ssl_ owns both now
  SSL_set_accept_state(ssl_);
}

TlsStream::~TlsStream() {
  MutexLock lock(&mu_);
  SSL_free(ssl_);
}

absl::Status TlsStream::FlushLocked() {
  char buf[16384];
  while (BIO_ctrl_pending(out_bio_) > 0) {
    int n = BIO_read(out_bio_, buf, sizeof(buf));
    if (n <= 0) break;
    absl::Status st = out_->Write(absl::string_view(buf, n));
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status TlsStream::Feed(absl::Time deadline) {
  char buf[16384];
  absl::StatusOr<size_t> n = raw_.Read(buf, sizeof(buf), deadline);
  if (!n.ok()) return n.status();
  MutexLock lock(&mu_);
  if (BIO_write(in_, buf, static_cast<int>(*n)) != static_cast<int>(*n)) {
    return absl::InternalError("TLS input buffer");
  }
  return absl::OkStatus();
}

absl::Status TlsStream::Handshake(absl::Time deadline) {
  while (true) {
    int err;
    {
      MutexLock lock(&mu_);
      ERR_clear_error();
      int r = SSL_do_handshake(ssl_);
      absl::Status flushed = FlushLocked();  // our side of the exchange
      if (!flushed.ok()) return flushed;
      if (r == 1) return absl::OkStatus();
      err = SSL_get_error(ssl_, r);
      if (err != SSL_ERROR_WANT_READ) {
        return absl::UnauthenticatedError(
            absl::StrCat("TLS handshake failed: ", OpenSslErrors()));
      }
    }
    absl::Status st = Feed(deadline);
    if (!st.ok()) {
      return st.code() == absl::StatusCode::kDeadlineExceeded
                 ? absl::DeadlineExceededError("TLS handshake timed out")
                 : absl::UnavailableError(absl::StrCat(
                       "closed during the TLS handshake: ", st.message()));
    }
  }
}

std::string TlsStream::PeerSubject() {
  MutexLock lock(&mu_);
  X509* cert = SSL_get1_peer_certificate(ssl_);
  if (cert == nullptr) return "";
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
  X509_free(cert);
  return buf;
}

absl::StatusOr<size_t> TlsStream::Read(char* out, size_t n,
                                       absl::Time deadline) {
  while (true) {
    {
      MutexLock lock(&mu_);
      ERR_clear_error();
      int r = SSL_read(ssl_, out,
                       static_cast<int>(std::min<size_t>(
                           n, std::numeric_limits<int>::max())));
      // A read may make TLS answer (a key update): send it.
      absl::Status flushed = FlushLocked();
      if (r > 0) return static_cast<size_t>(r);
      int err = SSL_get_error(ssl_, r);
      if (err == SSL_ERROR_ZERO_RETURN) {
        // The peer's close_notify: answer it at once (a closing client waits
        // for it), then end the stream.
        SSL_shutdown(ssl_);
        FlushLocked().IgnoreError();
        return absl::UnavailableError("connection closed by peer (TLS)");
      }
      if (err != SSL_ERROR_WANT_READ) {
        return absl::UnavailableError(absl::StrCat("TLS: ", OpenSslErrors()));
      }
      if (!flushed.ok()) return flushed;
    }
    absl::Status st = Feed(deadline);
    if (!st.ok()) return st;
  }
}

bool TlsStream::HasPendingInput() {
  {
    MutexLock lock(&mu_);
    if (SSL_pending(ssl_) > 0 || BIO_ctrl_pending(in_) > 0) return true;
  }
  return raw_.HasPendingInput();
}

absl::Status TlsStream::WriteFrame(absl::string_view payload) {
  if (payload.size() > 0xffffffffu) {
    return absl::OutOfRangeError("frame larger than 4 GiB");
  }
  const std::array<char, 4> prefix =
      EncodeFrameLength(static_cast<uint32_t>(payload.size()));
  MutexLock lock(&mu_);
  ERR_clear_error();
  // Memory BIOs take everything: SSL_write never waits here. The prefix
  // rides in the first record with the start of the payload.
  std::string first(prefix.data(), 4);
  const size_t head = std::min<size_t>(payload.size(), 16384 - 4);
  first.append(payload.data(), head);
  if (SSL_write(ssl_, first.data(), static_cast<int>(first.size())) !=
      static_cast<int>(first.size())) {
    return absl::UnavailableError(absl::StrCat("TLS: ", OpenSslErrors()));
  }
  size_t done = head;
  while (done < payload.size()) {
    const int chunk =
        static_cast<int>(std::min<size_t>(payload.size() - done, 1 << 20));
    if (SSL_write(ssl_, payload.data() + done, chunk) != chunk) {
      return absl::UnavailableError(absl::StrCat("TLS: ", OpenSslErrors()));
    }
    done += chunk;
    // Pass large frames on as they are encrypted.
    absl::Status st = FlushLocked();
    if (!st.ok()) return st;
  }
  return FlushLocked();
}

}  // namespace zeoraid::net
