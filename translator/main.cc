// zeoraid-translator: a ZEO server front end. Unmodified ZEO ClientStorage
// clients connect to it; every call is forwarded to raidcore over gRPC, and
// raidcore's invalidations are passed on to the clients.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "base/flags.h"
#include "base/grpc_tls.h"
#include "base/logging.h"
#include "base/pem_file.h"
#include "base/shutdown.h"
#include "net/tls_stream.h"
#include "translator/invalidation_fanout.h"
#include "translator/translator_metrics.h"
#include "translator/zeo_server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:8100",
          "Where ZEO clients connect: HOST:PORT, or a Unix socket path.");
ABSL_FLAG(std::string, raidcore, "127.0.0.1:8200",
          "Address of raidcore's gRPC Storage service.");
ABSL_FLAG(std::string, name, "translator",
          "Name of this translator in raidcore's logs.");
ABSL_FLAG(
    absl::Duration, rpc_timeout, absl::Seconds(90),
    "Deadline of each call to raidcore (longer than raidcore's lock wait).");
ABSL_FLAG(absl::Duration, ordering_timeout, absl::Seconds(30),
          "Longest a reply waits for the invalidations it must follow; past it "
          "the client is disconnected and re-verifies its cache.");
ABSL_FLAG(
    bool, msgpack, false,
    "Announce the msgpack encoding (M5) to clients instead of pickle (Z5), "
    "like ZEO's `msgpack true`.");
ABSL_FLAG(bool, read_only, false,
          "Serve read-only, like ZEO's `read-only true`: a client registering "
          "read-write gets ReadOnlyError (a ClientStorage with "
          "read_only_fallback then registers read-only).");
ABSL_FLAG(absl::Duration, client_write_timeout, absl::Seconds(30),
          "Longest a client may go without reading while bytes wait for it; "
          "then it is disconnected. Writes to clients never block: each has "
          "its own queue, so a client that stops reading delays nobody else.");
ABSL_FLAG(int, client_queue_mb, 128,
          "MiB that may wait to be sent to one client; a client whose queue "
          "would grow past it is disconnected.");
ABSL_FLAG(int, max_connections, 1024,
          "Concurrent ZEO client connections; beyond it new connections are "
          "closed at once (logged, and counted in metrics). 0: no cap.");
ABSL_FLAG(absl::Duration, handshake_timeout, absl::Seconds(30),
          "Time a new connection has to complete the ZEO handshake and "
          "register. (After that, clients may stay idle indefinitely.)");
ABSL_FLAG(absl::Duration, client_read_timeout, absl::Seconds(60),
          "A client that stops sending in the middle of a frame for this "
          "long is disconnected.");
ABSL_FLAG(int, frame_budget_mb, 256,
          "MiB of client frames being received or handled, all connections "
          "together (each frame's first 64 KiB aside); a frame that cannot "
          "get its share within --client_read_timeout closes its "
          "connection.");
ABSL_FLAG(int, max_message_bytes, 64 << 20,
          "Largest ZEO frame or gRPC message accepted.");
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT to serve Prometheus metrics on (GET /metrics); empty = "
          "none.");
ABSL_FLAG(int, cache_mb, 128,
          "Size in MiB of the record cache shared by this translator's "
          "clients (loadBefore answered without asking raidcore; kept exact "
          "by the invalidations); 0 turns it off.");
ABSL_FLAG(int, new_oids_reserve, 1000,
          "New oids this translator holds for its clients, so that a "
          "client's new_oids is answered at once (a commit adding 1,000 "
          "objects asks for 100 ten times in a row). When fewer are held it "
          "is topped up to twice this, from raidcore after the reply, with "
          "one call for up to 1,000, as a ZEO client prefetches its own; 0: "
          "every new_oids asks raidcore. Dropped when raidcore restarts.");
ABSL_FLAG(bool, raidcore_load_stream, true,
          "Send loadBefore calls to raidcore on one shared stream, answered "
          "as they complete (false: a unary gRPC call each, which costs both "
          "sides about twice the CPU; for comparison).");
ABSL_FLAG(int, idle_commit_streams, 8,
          "Commit streams to raidcore kept open between transactions, for "
          "the next one (opening a stream per transaction costs a call's "
          "setup on both sides and a thread in raidcore); 0 opens one per "
          "transaction. Each open stream holds a thread in raidcore.");
ABSL_FLAG(absl::Duration, park_idle_after, absl::Seconds(2),
          "A registered client that sends no call for this long gives up "
          "its connection's thread: one shared thread watches every idle "
          "connection, and the next call gets a thread again (ZEO clients "
          "stay connected, idle, for hours). 0: each connection keeps its "
          "thread. (TLS connections and open transactions keep theirs.)");
ABSL_FLAG(int, worker_threads, 16,
          "Threads answering clients' pipelined loads (calls a client sends "
          "without waiting, e.g. prefetch) and closing finished transactions; "
          "0 does all of it on each connection's own thread.");

ABSL_FLAG(std::string, zeo_tls_certificate, "",
          "PEM certificate (chain) for TLS on ZEO client connections, like "
          "the `certificate` of ZEO's <ssl> section; clients then connect "
          "with ClientStorage(..., ssl=context). Empty: plain TCP.");
ABSL_FLAG(std::string, zeo_tls_key, "",
          "PEM private key of --zeo_tls_certificate (ZEO's `key`).");
ABSL_FLAG(std::string, zeo_tls_key_password_file, "",
          "File whose first line is the password of an encrypted "
          "--zeo_tls_key (ZEO's `password-function` returns it).");
ABSL_FLAG(std::string, zeo_tls_authenticate, "",
          "CA file or directory, like ZEO's `authenticate`: ZEO clients must "
          "present a certificate it signed. Empty: no client certificate "
          "asked for.");
ABSL_FLAG(std::string, raidcore_tls_ca, "",
          "PEM CA that signed raidcore's certificate: talk to raidcore over "
          "TLS (raidcore's --tls_certificate). Empty: plaintext gRPC.");
ABSL_FLAG(std::string, raidcore_tls_certificate, "",
          "PEM client certificate presented to raidcore (required when "
          "raidcore has --tls_client_ca).");
ABSL_FLAG(std::string, raidcore_tls_key, "",
          "PEM private key of --raidcore_tls_certificate.");
ABSL_FLAG(std::string, raidcore_tls_server_name, "",
          "Name to expect in raidcore's certificate, when it is not the "
          "host part of --raidcore.");

namespace zeoraid::translator {
namespace {

// TLS (and a client certificate) towards raidcore, or plaintext.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> RaidcoreCredentials(
    grpc::ChannelArguments* args) {
  ClientTlsFiles files;
  files.ca = absl::GetFlag(FLAGS_raidcore_tls_ca);
  files.certificate = absl::GetFlag(FLAGS_raidcore_tls_certificate);
  files.key = absl::GetFlag(FLAGS_raidcore_tls_key);
  files.server_name = absl::GetFlag(FLAGS_raidcore_tls_server_name);
  files.ca_flag = "--raidcore_tls_ca";
  files.certificate_flag = "--raidcore_tls_certificate";
  files.key_flag = "--raidcore_tls_key";
  return ClientCredentials(files, args);
}

// The ZEO listener's TLS, or null.
absl::StatusOr<std::shared_ptr<net::TlsServerContext>> ZeoTls() {
  net::TlsServerOptions o;
  o.certificate_file = absl::GetFlag(FLAGS_zeo_tls_certificate);
  o.key_file = absl::GetFlag(FLAGS_zeo_tls_key);
  o.client_ca = absl::GetFlag(FLAGS_zeo_tls_authenticate);
  if (o.certificate_file.empty()) {
    if (!o.key_file.empty() || !o.client_ca.empty()) {
      return absl::InvalidArgumentError(
          "--zeo_tls_key/--zeo_tls_authenticate need --zeo_tls_certificate");
    }
    return std::shared_ptr<net::TlsServerContext>();
  }
  if (o.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--zeo_tls_certificate needs --zeo_tls_key");
  }
  const std::string password_file =
      absl::GetFlag(FLAGS_zeo_tls_key_password_file);
  if (!password_file.empty()) {
    absl::StatusOr<std::string> password =
        ReadSecretFile(password_file, "--zeo_tls_key_password_file");
    if (!password.ok()) return password.status();
    o.key_password = std::move(*password);
  }
  return net::TlsServerContext::Create(o);
}

int Run() {
  // Before any thread starts: SIGINT/SIGTERM then only reach Wait() below.
  ShutdownSignal shutdown;

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(absl::GetFlag(FLAGS_max_message_bytes));
  args.SetMaxSendMessageSize(absl::GetFlag(FLAGS_max_message_bytes));
  // A half-open connection to raidcore (a host gone silently) is noticed in
  // seconds, not after TCP's retransmission timeout: streams in flight (a
  // transaction's vote) then fail instead of hanging.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // No bandwidth-delay probing: a PING after every response costs a wake-up
  // on both sides per call (see docs/performance.md).
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  // Nothing is retried transparently: every call's outcome is decided here
  // (a lost raidcore disconnects the client, which reconnects), and the
  // retry machinery buffers every message of every call.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      RaidcoreCredentials(&args);
  if (!credentials.ok()) {
    ZR_LOG(ERROR) << credentials.status().message();
    return 1;
  }
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      absl::GetFlag(FLAGS_raidcore), *credentials, args);
  std::unique_ptr<v1::Storage::Stub> stub = v1::Storage::NewStub(channel);

  // Unique per process, so raidcore's invalidations can name their origin.
  std::string id = absl::StrCat(absl::GetFlag(FLAGS_name), "/", getpid(), "/",
                                std::random_device()());
  // The long-lived streams (invalidations, loads) each get a connection of
  // their own: with gRPC's poll engine a thread blocked reading one stream
  // polls its connection, and would read the other calls' answers off a
  // shared socket and hand each over (2 more thread switches per commit, as
  // many per load).
  auto stub_on_own_connection = [&] {
    grpc::ChannelArguments own = args;
    own.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return v1::Storage::NewStub(grpc::CreateCustomChannel(
        absl::GetFlag(FLAGS_raidcore), *credentials, own));
  };
  std::unique_ptr<v1::Storage::Stub> watch_stub = stub_on_own_connection();
  // Outlives the sessions and the fan-out that report to it.
  TranslatorMetrics metrics;
  InvalidationFanout fanout(
      watch_stub.get(), id,
      static_cast<uint64_t>(std::max(0, absl::GetFlag(FLAGS_cache_mb))) << 20,
      static_cast<size_t>(std::max(0, absl::GetFlag(FLAGS_new_oids_reserve))));
  fanout.Start();
  // Outlives the sessions and the pool jobs that send loads on it.
  std::unique_ptr<v1::Storage::Stub> load_stub;
  std::unique_ptr<LoadStreamClient> load_stream;
  if (absl::GetFlag(FLAGS_raidcore_load_stream)) {
    load_stub = stub_on_own_connection();
    load_stream = std::make_unique<LoadStreamClient>(load_stub.get());
  }

  // Outlives the sessions and the pool jobs that close transactions.
  std::unique_ptr<CommitStreamPool> commit_streams;
  if (absl::GetFlag(FLAGS_idle_commit_streams) > 0) {
    commit_streams = std::make_unique<CommitStreamPool>(
        static_cast<size_t>(absl::GetFlag(FLAGS_idle_commit_streams)));
  }

  // Destroyed (after running what is queued) before the fan-out and the stub
  // its jobs use.
  std::unique_ptr<WorkerPool> pool;
  if (absl::GetFlag(FLAGS_worker_threads) > 0) {
    pool = std::make_unique<WorkerPool>(absl::GetFlag(FLAGS_worker_threads));
  }

  SessionOptions options;
  options.load_stream = load_stream.get();
  options.commit_streams = commit_streams.get();
  options.limits.max_frame_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.limits.max_string_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.rpc_timeout = absl::GetFlag(FLAGS_rpc_timeout);
  options.msgpack = absl::GetFlag(FLAGS_msgpack);
  options.read_only = absl::GetFlag(FLAGS_read_only);
  options.write_timeout = absl::GetFlag(FLAGS_client_write_timeout);
  options.client_queue_bytes =
      static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_client_queue_mb)))
      << 20;
  options.handshake_timeout = absl::GetFlag(FLAGS_handshake_timeout);
  options.read_stall_timeout = absl::GetFlag(FLAGS_client_read_timeout);
  absl::StatusOr<std::shared_ptr<net::TlsServerContext>> zeo_tls = ZeoTls();
  if (!zeo_tls.ok()) {
    ZR_LOG(ERROR) << "ZEO TLS: " << zeo_tls.status().message();
    return 1;
  }
  options.tls = *zeo_tls;
  options.ordering_timeout = absl::GetFlag(FLAGS_ordering_timeout);
  options.pool = pool.get();
  const std::string metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  if (!metrics_listen.empty()) {
    // Sessions count calls and bytes only when someone can scrape them.
    options.metrics = &metrics;
    absl::Status st = metrics.Serve(metrics_listen, &fanout);
    if (!st.ok()) {
      ZR_LOG(ERROR) << st;
      return 1;
    }
    ZR_LOG(INFO) << "metrics on http://" << metrics_listen << "/metrics";
  }
  ServerLimits limits;
  limits.max_connections = std::max(0, absl::GetFlag(FLAGS_max_connections));
  limits.frame_budget_bytes =
      static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_frame_budget_mb)))
      << 20;
  limits.park_idle_after =
      std::max(absl::ZeroDuration(), absl::GetFlag(FLAGS_park_idle_after));
  ZeoServer server(stub.get(), &fanout, options, limits);
  absl::Status listening = server.Listen(absl::GetFlag(FLAGS_listen));
  if (!listening.ok()) {
    ZR_LOG(ERROR) << "cannot listen on " << absl::GetFlag(FLAGS_listen) << ": "
                  << listening.message();
    return 1;
  }
  ZR_LOG(INFO) << "translator '" << absl::GetFlag(FLAGS_name)
               << "' serving ZEO on " << absl::GetFlag(FLAGS_listen)
               << ", raidcore at " << absl::GetFlag(FLAGS_raidcore);
  std::thread accept_thread([&server] { server.Run(); });

  int signal_number = shutdown.Wait();
  ZR_LOG(INFO) << "signal " << signal_number << ": shutting down";
  server.Stop();
  accept_thread.join();
  if (!server.DrainSessions(absl::Seconds(5))) {
    // A session stuck in a call to raidcore still uses the stub and the
    // fan-out: leave without destroying them.
    ZR_LOG(WARNING) << "client sessions still busy after 5s; exiting anyway";
    std::_Exit(0);
  }
  metrics.Stop();  // a scrape reads the fan-out
  fanout.Stop();
  return 0;
}

}  // namespace
}  // namespace zeoraid::translator

int main(int argc, char** argv) {
  // gRPC's "poll" engine, unless the environment chooses: each thread waiting
  // on a call polls that call's connection itself. With the default (epoll1)
  // one thread polls every connection of the process, here the one blocked on
  // the invalidation stream, and hands every load answer to the session that
  // waits for it: 2.5 more thread switches and ~40% more CPU per load
  // (docs/performance.md). The translator has two gRPC connections, so
  // poll() costs nothing over epoll.
  setenv("GRPC_POLL_STRATEGY", "poll", /*overwrite=*/0);
  zeoraid::InitMain(
      argc, argv,
      "ZEO server front end of ZEORaid.\n\n"
      "  zeoraid-translator --listen 127.0.0.1:8100 --raidcore "
      "127.0.0.1:8200\n\n"
      "ZODB applications connect with ClientStorage(('127.0.0.1', 8100)) and\n"
      "change nothing else.");
  return zeoraid::translator::Run();
}
