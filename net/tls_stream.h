// TLS on a client connection the translator accepted (ZEO's `ssl` server
// option; ClientStorage(ssl=...) connects to it).
//
// OpenSSL runs on memory buffers, never on the socket: ciphertext is read
// from the socket by the connection's reading thread, and what TLS writes
// goes into the connection's WriteQueue like any other output. So writes
// still never block, and the SSL object, which one thread at a time may use,
// is guarded by one mutex shared by the reader and the writers.
#ifndef ZEORAID_NET_TLS_STREAM_H_
#define ZEORAID_NET_TLS_STREAM_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "net/frame_reader.h"
#include "net/socket.h"
#include "net/write_queue.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace zeoraid::net {

struct TlsServerOptions {
  std::string certificate_file;  // PEM, the server's certificate chain
  std::string key_file;          // PEM, its private key
  std::string key_password;      // of an encrypted key ("" for none)
  // A CA file or directory (ZEO's `authenticate`): clients must present a
  // certificate it signed. Empty: no client certificate is asked for.
  std::string client_ca;
};

// The server's certificate, key and trust; shared by all connections.
class TlsServerContext {
 public:
  static absl::StatusOr<std::shared_ptr<TlsServerContext>> Create(
      const TlsServerOptions& options);
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  SSL_CTX* ctx() const { return ctx_; }
  bool requires_client_certificate() const { return require_client_; }

 private:
  TlsServerContext(SSL_CTX* ctx, bool require_client)
      : ctx_(ctx), require_client_(require_client) {}
  SSL_CTX* const ctx_;
  const bool require_client_;
};

class TlsStream final : public ByteSource {
 public:
  // `socket` and `out` (the connection's queue for ciphertext) must outlive
  // the stream.
  TlsStream(const TlsServerContext& context, const Socket* socket,
            WriteQueue* out);
  ~TlsStream() override;
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // The server side of the handshake; fails (with OpenSSL's reason) for a
  // client that is not speaking TLS or presents no acceptable certificate.
  absl::Status Handshake(absl::Time deadline);
  // The client certificate's subject ("" without one), for logs.
  std::string PeerSubject();

  // ByteSource: decrypted bytes.
  absl::StatusOr<size_t> Read(char* out, size_t n,
                              absl::Time deadline) override;
  bool HasPendingInput() override;

  // Encrypts and queues a ZEO frame (length prefix and payload).
  absl::Status WriteFrame(absl::string_view payload);

 private:
  // Moves what OpenSSL wrote into the connection's queue.
  absl::Status FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads ciphertext from the socket into OpenSSL (without holding mu_).
  absl::Status Feed(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);

  WriteQueue* const out_;
  SocketSource raw_;
  Mutex mu_;
  SSL* ssl_ ABSL_GUARDED_BY(mu_) = nullptr;
  BIO* in_ ABSL_GUARDED_BY(mu_) = nullptr;       // ciphertext from the peer
  BIO* out_bio_ ABSL_GUARDED_BY(mu_) = nullptr;  // ciphertext for the peer
};

}  // namespace zeoraid::net

#endif  // ZEORAID_NET_TLS_STREAM_H_
