// zeoraid-raidcore: the RAID controller. Talks the ZEO client protocol to the
// backend ZEO servers, mirrors every commit on all optimal backends with the
// same tid, and serves zeoraid.v1.Storage (for translators) and
// zeoraid.v1.Admin (for operators).
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/flags.h"
#include "base/logging.h"
#include "base/pem_file.h"
#include "base/shutdown.h"
#include "raidcore/backend/backend_set.h"
#include "raidcore/backend/zeo_client.h"
#include "raidcore/commit/commit_clock.h"
#include "raidcore/commit/commit_coordinator.h"
#include "raidcore/commit/invalidation_hub.h"
#include "raidcore/commit/recent_transactions.h"
#include "raidcore/read/iterator_registry.h"
#include "raidcore/read/oid_allocator.h"
#include "raidcore/read/read_router.h"
#include "raidcore/recovery/recovery_manager.h"
#include "raidcore/service/admin_auth.h"
#include "raidcore/service/admin_service.h"
#include "raidcore/service/backends_file.h"
#include "raidcore/service/commit_stream.h"
#include "raidcore/service/completion_queue_thread.h"
#include "raidcore/service/config.h"
#include "raidcore/service/health_service.h"
#include "raidcore/service/load_stream.h"
#include "raidcore/service/raidcore_metrics.h"
#include "raidcore/service/storage_service.h"
#include "raidcore/service/watch_stream.h"
#include "zeo/tid.h"

ABSL_FLAG(
    std::string, config, "",
    "Configuration file (zeoraid.v1.RaidcoreConfig, protobuf text format; "
    "see proto/zeoraid/v1/config.proto). Flags given on the command line "
    "override it; --backend flags add to its backends.");
ABSL_FLAG(std::string, listen, "127.0.0.1:8200",
          "Address (HOST:PORT) of the gRPC Storage and Admin services. An "
          "address beyond loopback needs --tls_certificate (or "
          "--insecure_listen).");
ABSL_FLAG(std::string, tls_certificate, "",
          "PEM certificate (chain) of raidcore's gRPC port: translators and "
          "zeoraid-admin then connect with TLS. Empty: plaintext.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_certificate.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA: every gRPC client (translator, zeoraid-admin, grpcurl) must "
          "present a certificate it signed (mutual TLS). Empty: no client "
          "certificate asked for.");
ABSL_FLAG(bool, insecure_listen, false,
          "Allow --listen beyond loopback without TLS: anyone who reaches the "
          "port can read and write the whole database.");
ABSL_FLAG(std::string, admin_token_file, "",
          "File whose first line is a bearer token: an Admin call that "
          "changes state (disable, enable, add, remove, recover, rate) is "
          "allowed with \"authorization: Bearer TOKEN\" from anywhere.");
ABSL_FLAG(std::vector<std::string>, admin_identities, {},
          "Client certificate names (CN or subject alternative name, "
          "comma-separated) allowed to make state-changing Admin calls from "
          "anywhere (needs --tls_client_ca).");
ABSL_FLAG(bool, admin_trust_loopback, true,
          "Allow state-changing Admin calls from loopback and Unix sockets "
          "without credentials. Turn off on hosts with untrusted local "
          "users.");
ABSL_FLAG(
    std::vector<std::string>, backend, {},
    "A backend ZEO server as NAME=HOST:PORT (or NAME=/unix/socket). Repeat "
    "the flag, or separate with commas, for each mirror.");
ABSL_FLAG(std::string, storage, "1",
          "Storage name on the backends, and the name clients register with.");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(5),
          "Longest wait to connect, handshake and register with a backend.");
ABSL_FLAG(absl::Duration, startup_wait, absl::Seconds(15),
          "At start-up, how long to wait for the backends to report their "
          "last transactions before serving anyway (commits are refused "
          "until they did, unless --allow_degraded_start).");
ABSL_FLAG(
    absl::Duration, backend_timeout, absl::Seconds(10),
    "Longest wait for any one backend call; a backend that does not answer "
    "in time is degraded.");
ABSL_FLAG(absl::Duration, lock_wait_timeout, absl::Seconds(60),
          "Longest time a vote waits for the commit lock held by another "
          "transaction.");
ABSL_FLAG(
    absl::Duration, commit_lock_timeout, absl::Seconds(30),
    "Longest time a transaction may hold the commit lock between vote and "
    "finish; past it the transaction is aborted.");
ABSL_FLAG(
    int, invalidation_queue_size, 1000,
    "Recent transactions kept to answer getInvalidations for reconnecting "
    "clients.");
ABSL_FLAG(absl::Duration, finish_timeout, absl::Seconds(30),
          "Longest wait for a backend's tpc_finish (longer than "
          "--backend_timeout: it writes the transaction). A backend whose "
          "finish fails is asked afresh whether it committed before it is "
          "judged.");
ABSL_FLAG(absl::Duration, slow_read_timeout, absl::Minutes(5),
          "Longest wait for a read that may be slow on a big database "
          "(undoLog, undoInfo, iterators); a backend is not degraded for "
          "being slow at these, the heartbeat watches its liveness.");
ABSL_FLAG(bool, auto_recover, true,
          "Recover a backend degraded for a transport reason (connection "
          "lost, timeout) by itself once it answers again. Backends that "
          "disagreed or diverged always wait for an operator "
          "(zeoraid-admin recover NAME).");
ABSL_FLAG(bool, allow_degraded_start, false,
          "At start-up, accept commits once the reachable backends are "
          "reconciled, without waiting for every configured backend. Off: a "
          "missing backend may hold the newest commits, so none is accepted "
          "until every backend reported its last transaction.");
ABSL_FLAG(absl::Duration, heartbeat_interval, absl::Seconds(1),
          "How often each optimal backend is asked for its last transaction "
          "on a connection of its own, so a dead or stopped backend is "
          "noticed even with no traffic.");
ABSL_FLAG(absl::Duration, heartbeat_timeout, absl::Seconds(10),
          "A backend that does not answer a heartbeat within this is "
          "degraded. A ZEO server answers every client from one thread, so a "
          "call that keeps it busy longer (a huge undoInfo) looks like a "
          "stall: keep this above the longest such call.");
ABSL_FLAG(double, recovery_bytes_per_second, 0,
          "Recovery throttle in bytes/s (0 = unlimited); change it while "
          "running with zeoraid-admin rate.");
ABSL_FLAG(double, recovery_transactions_per_second, 0,
          "Recovery throttle in transactions/s (0 = unlimited).");
ABSL_FLAG(absl::Duration, invalidation_age, absl::ZeroDuration(),
          "ZEO's invalidation-age: a reconnecting client whose last tid is "
          "older than the invalidation queue but younger than this gets its "
          "invalidations from a backend's iterator (quick verification) "
          "instead of verifying its whole cache. 0 = off, as in ZEO.");
ABSL_FLAG(std::string, backends_file, "",
          "File that keeps the backend list across restarts when operators "
          "add or remove backends (zeoraid-admin add/remove; refused without "
          "it). When it exists it replaces --backend and the config file's "
          "backends; otherwise it is written with them at start-up.");
ABSL_FLAG(std::string, metrics_listen, "",
          "HOST:PORT to serve Prometheus metrics on (GET /metrics); empty = "
          "none. Metrics carry no data, but bind to loopback or a monitoring "
          "network.");
ABSL_FLAG(int, transaction_memory_mb, 64,
          "MiB of one transaction's records kept in memory until its vote; "
          "the rest is spooled to a file in --spool_dir (as ZEO spools a "
          "transaction's stores), so a huge transaction costs disk, not "
          "memory.");
ABSL_FLAG(absl::Duration, max_tid_ahead, absl::Hours(1),
          "Refuse (at vote, with StorageError) a transaction that asks for a "
          "tid more than this far ahead of the clock (tpc_begin with a tid, "
          "as copyTransactionsFrom sends): every later tid would have to "
          "follow it. 0 = no bound.");
ABSL_FLAG(bool, send_stores_early, true,
          "Send a big transaction's stores to the backends while its client "
          "is still sending them (the translator forwards them in messages of "
          "32 KiB), so that the commit lock covers only its vote and finish. "
          "One transaction at a time goes early; false = every transaction's "
          "calls go to the backends at its vote.");
ABSL_FLAG(std::string, spool_dir, "",
          "Where blobs on their way through raidcore are kept (a file per "
          "blob, removed after its commit or load); empty = $TMPDIR, else "
          "/tmp. Needs room for the largest transaction's blobs.");
ABSL_FLAG(int, watch_backlog, 100000,
          "Transactions a translator's invalidation watch may fall behind "
          "(the translator stopped reading) before raidcore ends the watch: "
          "the translator reconnects and its clients verify their caches, "
          "rather than raidcore queueing without bound.");
ABSL_FLAG(int, max_message_bytes, 64 << 20,
          "Largest ZEO frame or gRPC message accepted (object records travel "
          "whole).");

namespace zeoraid::raidcore {

using zeo::kZeroTid;
using zeo::TidHex;
using zeo::TidToUint64;
namespace {

// The settings in force: the config file, with the flags given on the command
// line (FlagGiven) and the defaults of those it leaves unset on top.
absl::StatusOr<v1::RaidcoreConfig> EffectiveConfig() {
  v1::RaidcoreConfig config;
  if (!absl::GetFlag(FLAGS_config).empty()) {
    absl::StatusOr<v1::RaidcoreConfig> file =
        LoadConfig(absl::GetFlag(FLAGS_config));
    if (!file.ok()) return file.status();
    config = std::move(*file);
  }
  if (FlagGiven("listen") || config.listen().empty()) {
    config.set_listen(absl::GetFlag(FLAGS_listen));
  }
  if (FlagGiven("storage") || config.storage().empty()) {
    config.set_storage(absl::GetFlag(FLAGS_storage));
  }
  auto seconds = [](absl::string_view flag, const absl::Flag<absl::Duration>& f,
                    double from_file) {
    return FlagGiven(flag) || from_file == 0
               ? absl::ToDoubleSeconds(absl::GetFlag(f))
               : from_file;
  };
  config.set_connect_timeout_seconds(seconds("connect_timeout",
                                             FLAGS_connect_timeout,
                                             config.connect_timeout_seconds()));
  config.set_startup_wait_seconds(seconds("startup_wait", FLAGS_startup_wait,
                                          config.startup_wait_seconds()));
  config.set_backend_timeout_seconds(seconds("backend_timeout",
                                             FLAGS_backend_timeout,
                                             config.backend_timeout_seconds()));
  config.set_lock_wait_timeout_seconds(
      seconds("lock_wait_timeout", FLAGS_lock_wait_timeout,
              config.lock_wait_timeout_seconds()));
  config.set_commit_lock_timeout_seconds(
      seconds("commit_lock_timeout", FLAGS_commit_lock_timeout,
              config.commit_lock_timeout_seconds()));
  config.set_finish_timeout_seconds(seconds(
      "finish_timeout", FLAGS_finish_timeout, config.finish_timeout_seconds()));
  config.set_slow_read_timeout_seconds(
      seconds("slow_read_timeout", FLAGS_slow_read_timeout,
              config.slow_read_timeout_seconds()));
  config.set_heartbeat_interval_seconds(
      seconds("heartbeat_interval", FLAGS_heartbeat_interval,
              config.heartbeat_interval_seconds()));
  config.set_heartbeat_timeout_seconds(
      seconds("heartbeat_timeout", FLAGS_heartbeat_timeout,
              config.heartbeat_timeout_seconds()));
  if (FlagGiven("auto_recover") || !config.has_auto_recover()) {
    config.set_auto_recover(absl::GetFlag(FLAGS_auto_recover));
  }
  if (FlagGiven("allow_degraded_start") || !config.has_allow_degraded_start()) {
    config.set_allow_degraded_start(absl::GetFlag(FLAGS_allow_degraded_start));
  }
  config.set_invalidation_age_seconds(
      seconds("invalidation_age", FLAGS_invalidation_age,
              config.invalidation_age_seconds()));
  if (FlagGiven("recovery_bytes_per_second")) {
    config.set_recovery_bytes_per_second(
        absl::GetFlag(FLAGS_recovery_bytes_per_second));
  }
  if (FlagGiven("recovery_transactions_per_second")) {
    config.set_recovery_transactions_per_second(
        absl::GetFlag(FLAGS_recovery_transactions_per_second));
  }
  if (FlagGiven("invalidation_queue_size") ||
      config.invalidation_queue_size() == 0) {
    config.set_invalidation_queue_size(
        absl::GetFlag(FLAGS_invalidation_queue_size));
  }
  if (FlagGiven("max_message_bytes") || config.max_message_bytes() == 0) {
    config.set_max_message_bytes(absl::GetFlag(FLAGS_max_message_bytes));
  }
  for (const std::string& v : absl::GetFlag(FLAGS_backend)) {
    std::vector<std::string> parts = absl::StrSplit(v, absl::MaxSplits('=', 1));
    if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--backend '", v, "' is not NAME=HOST:PORT"));
    }
    for (const v1::BackendConfig& b : config.backend()) {
      if (b.name() == parts[0]) {
        return absl::InvalidArgumentError(
            absl::StrCat("backend name '", parts[0], "' used twice"));
      }
    }
    v1::BackendConfig* b = config.add_backend();
    b->set_name(parts[0]);
    b->set_address(parts[1]);
  }
  if (config.backend().empty()) {
    return absl::InvalidArgumentError(
        "no backend: give --backend NAME=HOST:PORT or a config file with "
        "backend { name: … address: … }");
  }
  return config;
}

// `metrics` (may be null) counts the connection's calls.
ZeoClientOptions BackendOptions(const v1::RaidcoreConfig& cfg,
                                const v1::BackendConfig& b,
                                RaidcoreMetrics* metrics) {
  ZeoClientOptions options;
  options.address = b.address();
  options.storage = cfg.storage();
  options.connect_timeout = absl::Seconds(cfg.connect_timeout_seconds());
  options.call_timeout = absl::Seconds(cfg.backend_timeout_seconds());
  options.limits.max_frame_bytes = cfg.max_message_bytes();
  options.label = b.name();
  if (metrics != nullptr) {
    options.call_observer = [metrics, name = b.name()](
                                const std::string& method,
                                absl::Duration duration, bool failed) {
      metrics->ObserveBackendCall(name, method, duration, failed);
    };
  }
  return options;
}

// How long start-up may spend reading the backend's last transactions (one
// round trip per record, newest first); what was read by then is the queue.
constexpr absl::Duration kPrefillBudget = absl::Seconds(5);

// As a ZEO server does at start-up: clients that were up to date before a
// restart then verify their caches quickly instead of dropping them. It uses
// a connection of its own, closed afterwards, so that whatever goes wrong here
// (an undecodable extension, a timeout, iterators left open) never touches the
// connection that serves the RAID.
void PrefillInvalidations(const v1::RaidcoreConfig& cfg,
                          const v1::BackendConfig& source,
                          const std::string& last_tid, InvalidationHub* hub) {
  if (last_tid == kZeroTid || cfg.invalidation_queue_size() <= 0) return;
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<InvalidationEvent>> recent =
      absl::UnavailableError("not connected");
  absl::StatusOr<std::unique_ptr<ZeoClient>> client =
      ZeoClient::Connect(BackendOptions(cfg, source, /*metrics=*/nullptr));
  if (!client.ok()) {
    recent = client.status();
  } else {
    recent = ReadRecentTransactions(
        **client, last_tid, cfg.invalidation_queue_size(),
        absl::Seconds(cfg.backend_timeout_seconds()), start + kPrefillBudget);
    (*client)->Close();
  }
  if (!recent.ok()) {
    ZR_LOG(WARNING) << "invalidation queue starts empty (reading the last "
                    << "transactions of backend " << source.name()
                    << " failed: " << recent.status().message()
                    << "); clients behind tid " << TidHex(last_tid)
                    << " will drop their caches";
    return;
  }
  const size_t n = recent->size();
  const std::string floor = n > 0 ? recent->front().tid : last_tid;
  if (!hub->Prefill(*std::move(recent))) {
    ZR_LOG(WARNING) << "invalidation queue starts empty: backend "
                    << source.name() << " moved past " << TidHex(last_tid);
    return;
  }
  ZR_LOG(INFO) << "invalidation queue holds the last " << n
               << " transactions (since " << TidHex(floor) << ") of backend "
               << source.name() << ", read in "
               << absl::ToInt64Milliseconds(absl::Now() - start) << " ms";
}

// Adds and removes backends while running; every change is written to the
// backends file first, so a restart finds the list as the operator left it.
class Roster final : public BackendRoster {
 public:
  Roster(std::string path, const v1::RaidcoreConfig& cfg,
         std::vector<v1::BackendConfig> list, BackendSet* backends,
         ZeoClientFactory* factory, RaidcoreMetrics* metrics)
      : path_(std::move(path)),
        cfg_(cfg),
        list_(std::move(list)),
        backends_(backends),
        factory_(factory),
        metrics_(metrics) {}

  absl::Status Add(const std::string& name,
                   const std::string& address) override {
    if (name.empty() || address.empty() ||
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS"
                               "TUVWXYZ0123456789._-") != std::string::npos) {
      return absl::InvalidArgumentError(
          "a backend needs a name of letters, digits, '.', '_', '-' and an "
          "address (HOST:PORT or a socket path)");
    }
    MutexLock lock(&mu_);
    for (const v1::BackendConfig& b : list_) {
      if (b.name() == name) {
        return absl::AlreadyExistsError(
            absl::StrCat("a backend named '", name, "' exists"));
      }
    }
    v1::BackendConfig added;
    added.set_name(name);
    added.set_address(address);
    std::vector<v1::BackendConfig> next = list_;
    next.push_back(added);
    absl::Status st = WriteBackendsFile(path_, next);
    if (!st.ok()) return st;
    list_ = std::move(next);
    factory_->Set(name, BackendOptions(cfg_, added, metrics_));
    backends_->Add(name, address, nullptr,
                   "added by an operator: to be recovered before it serves");
    ZR_LOG(INFO) << "backend " << name << " (" << address << ") added";
    return absl::OkStatus();
  }

  absl::Status Remove(const std::string& name) override {
    MutexLock lock(&mu_);
    std::vector<v1::BackendConfig> next;
    for (const v1::BackendConfig& b : list_) {
      if (b.name() != name) next.push_back(b);
    }
    if (next.size() == list_.size()) {
      return absl::NotFoundError(absl::StrCat("no backend named '", name, "'"));
    }
    absl::Status st = backends_->Remove(name);
    if (!st.ok()) return st;
    factory_->Erase(name);
    st = WriteBackendsFile(path_, next);
    if (!st.ok()) {
      ZR_LOG(ERROR) << "backend " << name << " removed, but " << st.message()
                    << ": a restart will bring it back";
      return absl::UnavailableError(absl::StrCat(
          "removed while running, but not from ", path_, ": ", st.message()));
    }
    list_ = std::move(next);
    return absl::OkStatus();
  }

 private:
  const std::string path_;
  const v1::RaidcoreConfig cfg_;
  Mutex mu_;  // one change at a time; guards list_
  std::vector<v1::BackendConfig> list_ ABSL_GUARDED_BY(mu_);
  BackendSet* const backends_;
  ZeoClientFactory* const factory_;
  RaidcoreMetrics* const metrics_;
};

// Whether a listen address ("host:port", "[v6]:port", "unix:...") can only be
// reached from this host.
bool IsLoopbackListen(const std::string& address) {
  if (absl::StartsWith(address, "unix:")) return true;
  const size_t colon = address.rfind(':');
  std::string host =
      colon == std::string::npos ? address : address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') {
    host = host.substr(1, host.size() - 2);
  }
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

// TLS (and client certificates) for the gRPC port, or plaintext where that is
// allowed.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const std::string& listen) {
  const std::string cert = absl::GetFlag(FLAGS_tls_certificate);
  const std::string key = absl::GetFlag(FLAGS_tls_key);
  const std::string client_ca = absl::GetFlag(FLAGS_tls_client_ca);
  if (cert.empty()) {
    if (!key.empty() || !client_ca.empty()) {
      return absl::InvalidArgumentError(
          "--tls_key and --tls_client_ca need --tls_certificate");
    }
    if (!IsLoopbackListen(listen) && !absl::GetFlag(FLAGS_insecure_listen)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "refusing to listen on ", listen,
          " without TLS: anyone who reaches it could read and change the "
          "whole database. Give --tls_certificate and --tls_key (and "
          "--tls_client_ca for client certificates), or --insecure_listen "
          "if the network is trusted."));
    }
    return grpc::InsecureServerCredentials();
  }
  if (key.empty()) {
    return absl::InvalidArgumentError("--tls_certificate needs --tls_key");
  }
  grpc::SslServerCredentialsOptions ssl(
      client_ca.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  absl::StatusOr<std::string> pem = ReadPemFile(cert, "--tls_certificate");
  if (!pem.ok()) return pem.status();
  pair.cert_chain = std::move(*pem);
  pem = ReadPemFile(key, "--tls_key");
  if (!pem.ok()) return pem.status();
  pair.private_key = std::move(*pem);
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  if (!client_ca.empty()) {
    pem = ReadPemFile(client_ca, "--tls_client_ca");
    if (!pem.ok()) return pem.status();
    ssl.pem_root_certs = std::move(*pem);
  }
  return grpc::SslServerCredentials(ssl);
}

int Run() {
  absl::StatusOr<v1::RaidcoreConfig> settings = EffectiveConfig();
  if (!settings.ok()) {
    ZR_LOG(ERROR) << settings.status().message();
    return 2;
  }
  const v1::RaidcoreConfig& cfg = *settings;
  ZR_LOG(INFO) << "settings: " << cfg.ShortDebugString();
  const std::string storage = cfg.storage();
  const absl::Duration backend_timeout =
      absl::Seconds(cfg.backend_timeout_seconds());

  // Before any thread starts: SIGINT/SIGTERM then only reach Wait() below.
  ShutdownSignal shutdown;

  // Before everything it observes: backend calls, commits and the lock
  // report to it.
  const std::string metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  RaidcoreMetrics metrics(/*exported=*/!metrics_listen.empty());

  // The backend list: the backends file's when it exists (it holds what
  // operators added and removed), else the flags' and config file's.
  std::vector<v1::BackendConfig> backend_list(cfg.backend().begin(),
                                              cfg.backend().end());
  const std::string backends_file = absl::GetFlag(FLAGS_backends_file);
  if (!backends_file.empty()) {
    absl::StatusOr<std::vector<v1::BackendConfig>> kept =
        ReadBackendsFile(backends_file);
    if (kept.ok()) {
      if (kept->empty()) {
        ZR_LOG(ERROR) << "backends file " << backends_file
                      << " lists no backend";
        return 2;
      }
      backend_list = *std::move(kept);
      ZR_LOG(INFO) << "backends from " << backends_file << " ("
                   << backend_list.size() << ")";
    } else if (absl::IsNotFound(kept.status())) {
      absl::Status st = WriteBackendsFile(backends_file, backend_list);
      if (!st.ok()) {
        ZR_LOG(ERROR) << st.message();
        return 2;
      }
    } else {
      ZR_LOG(ERROR) << kept.status().message();
      return 2;
    }
  }
  BackendSet backends;
  std::map<std::string, ZeoClientOptions> backend_options;
  for (const v1::BackendConfig& b : backend_list) {
    backend_options[b.name()] = BackendOptions(cfg, b, &metrics);
    // Nobody is optimal before reconciliation (DESIGN.md rule 7) decides who
    // holds the newest commits.
    backends.Add(b.name(), b.address(), nullptr,
                 "start-up: not reconciled yet");
  }
  ZeoClientFactory connections(std::move(backend_options));

  CommitClock clock{std::string(kZeroTid)};
  InvalidationHub hub(
      std::string(kZeroTid), cfg.invalidation_queue_size(),
      /*max_backlog=*/std::max(1, absl::GetFlag(FLAGS_watch_backlog)));
  const absl::Duration slow_read_timeout =
      absl::Seconds(cfg.slow_read_timeout_seconds());
  ReadRouter reads(&backends, &clock, backend_timeout, slow_read_timeout);
  OidAllocator oids(&reads);
  IteratorRegistry iterators(&backends, slow_read_timeout,
                             /*max_iterators=*/10000);
  CommitOptions commit_options;
  commit_options.lock_wait_observer = [&metrics](absl::Duration wait) {
    metrics.ObserveLockWait(wait);
  };
  commit_options.backend_timeout = backend_timeout;
  commit_options.finish_timeout = absl::Seconds(cfg.finish_timeout_seconds());
  commit_options.lock_wait = absl::Seconds(cfg.lock_wait_timeout_seconds());
  CommitCoordinator commits(&backends, &clock, &hub, commit_options,
                            &connections);

  RecoveryManagerOptions recovery_options;
  recovery_options.auto_recover = cfg.auto_recover();
  recovery_options.allow_degraded_start = cfg.allow_degraded_start();
  recovery_options.heartbeat_interval =
      absl::Seconds(cfg.heartbeat_interval_seconds());
  recovery_options.heartbeat_timeout =
      absl::Seconds(cfg.heartbeat_timeout_seconds());
  recovery_options.rate.bytes_per_second = cfg.recovery_bytes_per_second();
  recovery_options.rate.transactions_per_second =
      cfg.recovery_transactions_per_second();
  recovery_options.job.call_timeout = slow_read_timeout;
  recovery_options.job.spool_dir = absl::GetFlag(FLAGS_spool_dir);
  recovery_options.job.finish_timeout =
      absl::Seconds(cfg.finish_timeout_seconds());
  recovery_options.job.lock_wait = commit_options.lock_wait;
  RecoveryManager recovery(&backends, &commits, &clock, &hub, &connections,
                           recovery_options);
  // Backends are usually started together with raidcore: give slow starters
  // --startup_wait before serving without a decision (the manager keeps
  // trying; until then no commit is accepted).
  recovery.Start(absl::Seconds(cfg.startup_wait_seconds()),
                 [&cfg, &hub, &backend_list](const std::string& last_tid,
                                             const std::string& optimal) {
                   for (const v1::BackendConfig& b : backend_list) {
                     if (b.name() == optimal) {
                       PrefillInvalidations(cfg, b, last_tid, &hub);
                     }
                   }
                 });

  StorageServiceOptions storage_options;
  storage_options.storage_name = storage;
  storage_options.invalidation_age =
      absl::Seconds(cfg.invalidation_age_seconds());
  storage_options.read_timeout = backend_timeout;
  storage_options.spool_dir = absl::GetFlag(FLAGS_spool_dir);
  storage_options.transaction_memory_bytes =
      static_cast<size_t>(
          std::max(0, absl::GetFlag(FLAGS_transaction_memory_mb)))
      << 20;
  storage_options.max_tid_ahead = absl::GetFlag(FLAGS_max_tid_ahead);
  storage_options.send_early = absl::GetFlag(FLAGS_send_stores_early);
  storage_options.commit_observer = [&metrics](absl::Duration d) {
    metrics.ObserveCommit(d);
  };
  storage_options.commit_lock_timeout =
      absl::Seconds(cfg.commit_lock_timeout_seconds());
  StorageService storage_service(storage_options, &backends, &reads, &oids,
                                 &iterators, &commits, &clock, &hub);
  AdminService admin_service(storage, &backends, &clock, &commits, &recovery,
                             &hub);
  admin_service.set_call_counts([&metrics](const std::string& name) {
    RaidcoreMetrics::CallCounts c = metrics.BackendCallCounts(name);
    return std::make_pair(c.calls, c.errors);
  });
  std::unique_ptr<Roster> roster;
  if (!backends_file.empty()) {
    roster = std::make_unique<Roster>(backends_file, cfg, backend_list,
                                      &backends, &connections, &metrics);
    admin_service.set_roster(roster.get());
  }
  HealthService health_service(&backends);

  AdminAuthOptions admin_auth;
  admin_auth.trust_loopback = absl::GetFlag(FLAGS_admin_trust_loopback);
  for (const std::string& name : absl::GetFlag(FLAGS_admin_identities)) {
    if (!name.empty()) admin_auth.identities.insert(name);
  }
  if (!absl::GetFlag(FLAGS_admin_token_file).empty()) {
    absl::StatusOr<std::string> token = ReadSecretFile(
        absl::GetFlag(FLAGS_admin_token_file), "--admin_token_file");
    if (!token.ok()) {
      ZR_LOG(ERROR) << token.status().message();
      return 1;
    }
    admin_auth.token = std::move(*token);
  }
  AdminAuthorizer admin_authorizer(admin_auth);
  admin_service.set_authorizer(&admin_authorizer);

  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentials(cfg.listen());
  if (!credentials.ok()) {
    ZR_LOG(ERROR) << credentials.status().message();
    return 1;
  }
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(cfg.listen(), *credentials, &port);
  builder.SetMaxReceiveMessageSize(cfg.max_message_bytes());
  builder.SetMaxSendMessageSize(cfg.max_message_bytes());
  // Translators ping every 10 s to notice dead connections; accept that.
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // No bandwidth-delay probing: its PING after every burst of data costs a
  // wake-up and a round trip on each side per call, and the translators'
  // links are low-latency.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  if (!metrics_listen.empty()) {
    // Per-RPC counting only when someone can scrape it: an interceptor is
    // created for every call.
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(metrics.RpcInterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
  }
  builder.RegisterService(&storage_service);
  builder.RegisterService(&admin_service);
  builder.RegisterService(&health_service);
  // The asynchronous streams share one completion-queue thread (see
  // completion_queue_thread.h). It is declared last so that it is destroyed
  // first: the streams are deleted once the queue is drained.
  std::unique_ptr<grpc::ServerCompletionQueue> cq =
      builder.AddCompletionQueue();
  LoadStreamServer load_streams(&storage_service, cq.get());
  CommitStreamServer commit_streams(&storage_service, cq.get());
  WatchStreamServer watch_streams(&storage_service, &hub, cq.get());
  CompletionQueueThread cq_thread(std::move(cq));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    ZR_LOG(ERROR) << "cannot listen on " << cfg.listen();
    return 1;
  }
  cq_thread.Start();
  load_streams.Start();
  commit_streams.Start();
  watch_streams.Start();
  if (!metrics_listen.empty()) {
    absl::Status st = metrics.Serve(
        metrics_listen,
        {&backends, &storage_service, &recovery, &clock, &commits});
    if (!st.ok()) {
      ZR_LOG(ERROR) << st;
      return 1;
    }
    ZR_LOG(INFO) << "metrics on http://" << metrics_listen << "/metrics";
  }
  ZR_LOG(INFO) << "raidcore serving storage '" << storage << "' on "
               << cfg.listen() << " with " << backend_list.size()
               << " backend(s); RAID " << RaidStateName(backends.raid_state())
               << ", last tid " << TidHex(clock.last_tid());

  int signal_number = shutdown.Wait();
  ZR_LOG(INFO) << "signal " << signal_number << ": shutting down";
  recovery.Stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  // After every stream has ended: nothing starts on the queue any more.
  load_streams.StopStarting();
  commit_streams.StopStarting();
  watch_streams.StopStarting();
  cq_thread.Stop();
  metrics.Stop();  // a scrape reads what is destroyed next
  return 0;
}

}  // namespace
}  // namespace zeoraid::raidcore

int main(int argc, char** argv) {
  // gRPC's "poll" engine, unless the environment chooses. With the default
  // (epoll1) any thread waiting in gRPC may poll every connection and hand
  // what it read to the thread that waits for it: per streamed load raidcore
  // switched threads 6.3 times and spent 180 us of CPU, with poll 3.5 times
  // and 145 us (tests/bench/cost_per_call.py, docs/performance.md). raidcore
  // has a few connections per translator, so poll() costs nothing over epoll.
  setenv("GRPC_POLL_STRATEGY", "poll", /*overwrite=*/0);
  zeoraid::InitMain(
      argc, argv,
      "RAID-1 controller for ZEO servers.\n\n"
      "  zeoraid-raidcore --listen 127.0.0.1:8200 \\\n"
      "      --backend a=127.0.0.1:8101 --backend b=127.0.0.1:8102\n\n"
      "Every commit is mirrored on all optimal backends with the same tid; a\n"
      "backend that fails is degraded and the clients never notice.",
      "backend");
  return zeoraid::raidcore::Run();
}
