#include "net/tls_stream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "net/socket_pair_for_test.h"

namespace zeoraid::net {
namespace {

std::string TestData(const std::string& name) {
  return "net/testdata/tls/" + name;
}

TlsServerOptions ServerOptions(bool require_client) {
  TlsServerOptions o;
  o.certificate_file = TestData("server.pem");
  o.key_file = TestData("server.key");
  if (require_client) o.client_ca = TestData("ca.pem");
  return o;
}

// A blocking OpenSSL client on one end of a socket pair.
class Client {
 public:
  Client(int fd, const std::string& cert) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, TestData("ca.pem").c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (!cert.empty()) {
      SSL_CTX_use_certificate_chain_file(ctx_, TestData(cert + ".pem").c_str());
      SSL_CTX_use_PrivateKey_file(ctx_, TestData(cert + ".key").c_str(),
                                  SSL_FILETYPE_PEM);
    }
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd);
    SSL_set1_host(ssl_, "localhost");
  }
  ~Client() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  bool Connect() { return SSL_connect(ssl_) == 1; }
  void Send(const std::string& bytes) {
    ASSERT_EQ(SSL_write(ssl_, bytes.data(), bytes.size()),
              static_cast<int>(bytes.size()));
  }
  std::string ReadFrame() {
    auto exactly = [&](size_t n) {
      std::string out(n, '\0');
      size_t got = 0;
      while (got < n) {
        int r = SSL_read(ssl_, out.data() + got, n - got);
        if (r <= 0) return std::string();
        got += r;
      }
      return out;
    };
    std::string h = exactly(4);
    if (h.size() != 4) return "<closed>";
    size_t n = (size_t{static_cast<unsigned char>(h[0])} << 24) |
               (size_t{static_cast<unsigned char>(h[1])} << 16) |
               (size_t{static_cast<unsigned char>(h[2])} << 8) |
               static_cast<unsigned char>(h[3]);
    return exactly(n);
  }

 private:
  SSL_CTX* ctx_;
  SSL* ssl_;
};

std::string Framed(const std::string& payload) {
  uint32_t n = payload.size();
  return std::string{static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                     static_cast<char>(n >> 8), static_cast<char>(n)} +
         payload;
}

// server = the TLS side, client = the OpenSSL client's.
struct Pair {
  SocketPair pair;
  Socket& server = pair.ours;
  Socket& client = pair.peer;
};

TEST(TlsStreamTest, FramesBothWaysWithAClientCertificate) {
  auto context = TlsServerContext::Create(ServerOptions(true));
  ASSERT_TRUE(context.ok()) << context.status();
  OutputFlusher flusher;
  Pair p;
  WriteQueue out(p.server.fd(), {}, &flusher, nullptr);
  TlsStream tls(**context, &p.server, &out);
  std::string big(200000, 'z');
  std::string got_small, got_big;
  std::thread client_thread([&] {
    Client c(p.client.fd(), "translator");
    ASSERT_TRUE(c.Connect());
    c.Send(Framed("Z5") + Framed(big));
    got_small = c.ReadFrame();
    got_big = c.ReadFrame();
  });
  ASSERT_TRUE(tls.Handshake(absl::Now() + absl::Seconds(10)).ok());
  EXPECT_NE(tls.PeerSubject().find("CN=translator"), std::string::npos);
  FrameReader reader(&tls, {});
  EXPECT_EQ(reader.Next(absl::Seconds(10))->payload, "Z5");
  EXPECT_EQ(reader.Next(absl::Seconds(10))->payload, big);
  ASSERT_TRUE(tls.WriteFrame("hello").ok());
  ASSERT_TRUE(tls.WriteFrame(big).ok());
  client_thread.join();
  EXPECT_EQ(got_small, "hello");
  EXPECT_EQ(got_big, big);
}

// A client with `cert` ("" for none) against a server that requires one:
// the server's handshake fails.
void ExpectRefused(const std::string& cert) {
  auto context = TlsServerContext::Create(ServerOptions(true));
  ASSERT_TRUE(context.ok()) << context.status();
  OutputFlusher flusher;
  Pair p;
  WriteQueue out(p.server.fd(), {}, &flusher, nullptr);
  TlsStream tls(**context, &p.server, &out);
  std::thread client_thread([&] {
    Client c(p.client.fd(), cert);
    c.Connect();  // TLS 1.3: the refusal may come after the client's finish
    c.ReadFrame();
  });
  absl::Status st = tls.Handshake(absl::Now() + absl::Seconds(10));
  EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated) << st;
  out.Drain(absl::Now() + absl::Seconds(5)).IgnoreError();
  p.server.Shutdown();
  client_thread.join();
}

TEST(TlsStreamTest, ClientWithoutCertificateIsRefused) { ExpectRefused(""); }

TEST(TlsStreamTest, ClientFromAnotherCaIsRefused) { ExpectRefused("rogue"); }

TEST(TlsStreamTest, PlainTextClientFailsTheHandshake) {
  auto context = TlsServerContext::Create(ServerOptions(false));
  ASSERT_TRUE(context.ok());
  OutputFlusher flusher;
  Pair p;
  WriteQueue out(p.server.fd(), {}, &flusher, nullptr);
  TlsStream tls(**context, &p.server, &out);
  std::string hello = Framed("Z5");
  ASSERT_EQ(::send(p.client.fd(), hello.data(), hello.size(), 0),
            static_cast<ssize_t>(hello.size()));
  absl::Status st = tls.Handshake(absl::Now() + absl::Seconds(5));
  EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated) << st;
}

TEST(TlsStreamTest, BadKeyFilesAreReported) {
  TlsServerOptions o = ServerOptions(false);
  o.key_file = TestData("admin.key");  // not the server certificate's key
  auto context = TlsServerContext::Create(o);
  EXPECT_EQ(context.status().code(), absl::StatusCode::kInvalidArgument);
  o.certificate_file = "/nonexistent.pem";
  EXPECT_FALSE(TlsServerContext::Create(o).ok());
}

}  // namespace
}  // namespace zeoraid::net
